package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The writer leaves the WAL to the checkpointer, which copies it back into
// the database file while the store is open; a clean close leaves it empty.
func TestCheckpointerCopiesTheWAL(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.sqlite")
	s, err := Open(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	var every int
	if err := s.writer.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&every); err != nil || every != walRestartPages {
		t.Fatalf("writer's wal_autocheckpoint = %d, %v; want %d", every, err, walRestartPages)
	}
	if err := s.Write(ctx, func(q *Q) error {
		if _, err := q.Exec(ctx, `CREATE TABLE t (v TEXT)`); err != nil {
			return err
		}
		_, err := q.Exec(ctx, `WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 5000)
			INSERT INTO t SELECT hex(randomblob(200)) FROM n`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// The rows are in the database file, not only in the WAL, within a
	// few of the checkpointer's ticks (waited for, not timed).
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(checkpointEvery) {
		if fi, err := os.Stat(path); err == nil && fi.Size() > 2<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the WAL was not copied into the database file")
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() != 0 {
		t.Errorf("a clean close left %d bytes of WAL", fi.Size())
	}

	// In-memory databases and other journals have no checkpointer.
	for _, dsn := range []string{"memory", "sqlite://" + path + "?_journal_mode=DELETE"} {
		r, err := Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		if r.checkpoints != nil {
			t.Errorf("%s: a checkpointer was started", dsn)
		}
		r.Close()
	}
}

// A writer that never pauses still gets its WAL restarted: the checkpointer
// alone never found every frame copied at the start of a transaction, and
// the WAL grew by all that was written (74 GB in an import of a million).
func TestCheckpointerKeepsABusyWALShort(t *testing.T) {
	pages, limit := walRestartPages, walSizeLimit
	walRestartPages, walSizeLimit = 16, 256<<10
	t.Cleanup(func() { walRestartPages, walSizeLimit = pages, limit })

	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "busy.sqlite")
	s, err := Open(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Write(ctx, func(q *Q) error {
		_, err := q.Exec(ctx, `CREATE TABLE t (v TEXT)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// 8 MB in 80 transactions back to back, 32 times the size limit.
	var largest int64
	for range 80 {
		if err := s.Write(ctx, func(q *Q) error {
			_, err := q.Exec(ctx, `WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 250)
				INSERT INTO t SELECT hex(randomblob(200)) FROM n`)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(path + "-wal"); err == nil {
			largest = max(largest, fi.Size())
		}
	}
	// The limit, plus what one transaction adds past the restart length.
	if largest > 2<<20 {
		t.Errorf("the WAL grew to %d bytes under back-to-back writes; want it restarted near %d", largest, walSizeLimit)
	}
}
