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
	if err := s.writer.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&every); err != nil || every != 0 {
		t.Fatalf("writer's wal_autocheckpoint = %d, %v; want 0 (the checkpointer's)", every, err)
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
