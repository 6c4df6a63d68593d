package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

var ctx = context.Background()

// createKV makes a scratch table that works on both dialects.
func createKV(t *testing.T, s *store.Store) {
	t.Helper()
	err := s.Write(ctx, func(q *store.Q) error {
		_, err := q.Exec(ctx, `CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT NOT NULL)`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func put(q *store.Q, k, v string) error {
	_, err := q.Exec(ctx, `INSERT INTO kv (k, v) VALUES ($1, $2)`, k, v)
	return err
}

func has(t *testing.T, s *store.Store, k string) bool {
	t.Helper()
	var v string
	err := s.Read().QueryRow(ctx, `SELECT v FROM kv WHERE k = $1`, k).Scan(&v)
	if errors.Is(err, store.ErrNotFound) {
		return false
	}
	if err != nil {
		t.Fatalf("reading %q: %v", k, err)
	}
	return true
}

func TestOpenSQLiteDSNForms(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	abs := filepath.Join(dir, "abs", "nested.db")
	cases := []struct {
		dsn, file string
	}{
		{"sqlite://./rel.db?_fk=true&mode=rwc", "rel.db"},
		{"sqlite://" + abs + "?_fk=true", abs},
		{"sqlite:plain.db", "plain.db"},
		{"sqlite3://legacy.db", "legacy.db"},
		{"file:viafile.db?cache=shared", "viafile.db"},
		{"sqlite://./with%20space.db", "with space.db"},
	}
	for _, c := range cases {
		t.Run(c.dsn, func(t *testing.T) {
			s, err := store.Open(ctx, c.dsn)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			if s.Dialect() != store.SQLite {
				t.Errorf("Dialect = %q", s.Dialect())
			}
			if _, err := s.Migrate(ctx); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			want := c.file
			if !filepath.IsAbs(want) {
				want = filepath.Join(dir, want)
			}
			if _, err := os.Stat(want); err != nil {
				t.Errorf("database file: %v", err)
			}
			if !strings.Contains(s.String(), want) {
				t.Errorf("String() = %q, want it to name %q", s.String(), want)
			}
			if err := s.Ping(ctx); err != nil {
				t.Errorf("Ping: %v", err)
			}
		})
	}
}

func TestOpenMemory(t *testing.T) {
	for _, dsn := range []string{"memory", "sqlite://:memory:", "sqlite://file.db?mode=memory", "sqlite://"} {
		t.Run(dsn, func(t *testing.T) {
			t.Chdir(t.TempDir())
			s, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.String() != "sqlite (in memory)" {
				t.Errorf("String() = %q", s.String())
			}
			createKV(t, s)
			if err := s.Write(ctx, func(q *store.Q) error { return put(q, "a", "1") }); err != nil {
				t.Fatal(err)
			}
			// The read pool must see what the writer wrote.
			if !has(t, s, "a") {
				t.Error("the reader does not see the writer's row")
			}
			if entries, _ := os.ReadDir("."); len(entries) != 0 {
				t.Errorf("an in-memory database created files: %v", entries)
			}
		})
	}
	// Two in-memory stores are two databases.
	a, err := store.Open(ctx, "memory")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := store.Open(ctx, "memory")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	createKV(t, a)
	createKV(t, b) // would fail if b shared a's database
}

func TestOpenRejectsUnknownSchemes(t *testing.T) {
	for _, dsn := range []string{"", "mysql://u:p@tcp(db:3306)/x", "sqlserver://x", "postgres", "/var/lib/db.sqlite"} {
		s, err := store.Open(ctx, dsn)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", dsn)
			continue
		}
		if !strings.Contains(err.Error(), "dsn") {
			t.Errorf("Open(%q) = %v; want an error about the dsn", dsn, err)
		}
	}
}

func TestOpenPostgresHidesCredentials(t *testing.T) {
	dsn := storetest.DSN(t, store.Postgres)
	s, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Dialect() != store.Postgres {
		t.Errorf("Dialect = %q", s.Dialect())
	}
	if strings.Contains(s.String(), "@") || strings.Contains(s.String(), "sslmode") || !strings.HasPrefix(s.String(), "postgres://") {
		t.Errorf("String() = %q; want host and database only", s.String())
	}
}

func TestMigrate(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			s := storetest.OpenEmpty(t, d)
			pending, err := s.Pending(ctx)
			if err != nil || !pending {
				t.Fatalf("Pending on an empty database = %v, %v; want true", pending, err)
			}
			status, err := s.MigrationStatus(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(status) == 0 {
				t.Fatal("no migrations known")
			}
			for _, m := range status {
				if m.Applied {
					t.Errorf("%s applied before Migrate", m.Version)
				}
			}
			applied, err := s.Migrate(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(applied) != len(status) {
				t.Errorf("Migrate applied %v; want all of %v", applied, status)
			}
			for k := 1; k < len(applied); k++ {
				if applied[k-1] >= applied[k] {
					t.Errorf("migrations applied out of order: %v", applied)
				}
			}
			again, err := s.Migrate(ctx)
			if err != nil || len(again) != 0 {
				t.Errorf("second Migrate = %v, %v; want a no-op", again, err)
			}
			if pending, err := s.Pending(ctx); err != nil || pending {
				t.Errorf("Pending after Migrate = %v, %v", pending, err)
			}
			status, err = s.MigrationStatus(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for k, m := range status {
				if !m.Applied || m.Version != applied[k] {
					t.Errorf("status[%d] = %+v; want %s applied", k, m, applied[k])
				}
			}
		})
	}
}

// Servers started together race to migrate; the loser must find nothing
// left to do rather than fail.
func TestMigrateConcurrently(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			dsn := storetest.DSN(t, d)
			var wg sync.WaitGroup
			errs := make([]error, 4)
			total := make([]int, 4)
			for k := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s, err := store.Open(ctx, dsn)
					if err != nil {
						errs[k] = err
						return
					}
					defer s.Close()
					applied, err := s.Migrate(ctx)
					errs[k], total[k] = err, len(applied)
				}()
			}
			wg.Wait()
			sum := 0
			for k, err := range errs {
				if err != nil {
					t.Errorf("migrator %d: %v", k, err)
				}
				sum += total[k]
			}
			s, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			status, _ := s.MigrationStatus(ctx)
			if sum != len(status) {
				t.Errorf("migrations applied %d times in all; want each once (%d)", sum, len(status))
			}
		})
	}
}

func TestWrite(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		createKV(t, s)

		if err := s.Write(ctx, func(q *store.Q) error { return put(q, "committed", "1") }); err != nil {
			t.Fatal(err)
		}
		if !has(t, s, "committed") {
			t.Error("a nil return did not commit")
		}

		boom := errors.New("boom")
		err := s.Write(ctx, func(q *store.Q) error {
			if err := put(q, "rolled-back", "1"); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Errorf("Write = %v; want fn's error", err)
		}
		if has(t, s, "rolled-back") {
			t.Error("an error return did not roll back")
		}

		func() {
			defer func() {
				if p := recover(); p != "panic in tx" {
					t.Errorf("recovered %v; want the panic to propagate", p)
				}
			}()
			_ = s.Write(ctx, func(q *store.Q) error {
				_ = put(q, "panicked", "1")
				panic("panic in tx")
			})
		}()
		if has(t, s, "panicked") {
			t.Error("a panic did not roll back")
		}
		// The writer is usable again after a panic (SQLite has one writer).
		if err := s.Write(ctx, func(q *store.Q) error { return put(q, "after-panic", "1") }); err != nil {
			t.Fatalf("Write after a panic: %v", err)
		}
	})
}

func TestSavepoint(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		createKV(t, s)
		failed := errors.New("inner failure")
		err := s.Write(ctx, func(q *store.Q) error {
			if err := put(q, "outer-before", "1"); err != nil {
				return err
			}
			if err := q.Savepoint(ctx, "sp1", func() error {
				if err := put(q, "inner-undone", "1"); err != nil {
					return err
				}
				return failed
			}); !errors.Is(err, failed) {
				t.Errorf("Savepoint = %v; want fn's error", err)
			}
			// A failed statement (a unique violation) inside a savepoint
			// must not doom the transaction, which PostgreSQL would do
			// without the rollback to the savepoint.
			err := q.Savepoint(ctx, "sp2", func() error { return put(q, "outer-before", "dup") })
			if !store.IsUniqueViolation(err) {
				t.Errorf("Savepoint with a duplicate = %v; want a unique violation", err)
			}
			if err := q.Savepoint(ctx, "sp3", func() error { return put(q, "inner-kept", "1") }); err != nil {
				return err
			}
			return put(q, "outer-after", "1")
		})
		if err != nil {
			t.Fatalf("Write: %v", err)
		}
		for k, want := range map[string]bool{"outer-before": true, "inner-undone": false, "inner-kept": true, "outer-after": true} {
			if got := has(t, s, k); got != want {
				t.Errorf("row %q present = %v; want %v", k, got, want)
			}
		}
		var v string
		if err := s.Read().QueryRow(ctx, `SELECT v FROM kv WHERE k = $1`, "outer-before").Scan(&v); err != nil || v != "1" {
			t.Errorf("outer-before = %q, %v; want the original value", v, err)
		}

		if err := s.Read().Savepoint(ctx, "nope", func() error { return nil }); err == nil {
			t.Error("Savepoint outside a transaction succeeded")
		}
	})
}

func TestUniqueViolation(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		createKV(t, s)
		if err := s.Write(ctx, func(q *store.Q) error { return put(q, "k", "1") }); err != nil {
			t.Fatal(err)
		}
		err := s.Write(ctx, func(q *store.Q) error { return put(q, "k", "2") })
		if !store.IsUniqueViolation(err) || !errors.Is(err, store.ErrUniqueViolation) {
			t.Errorf("duplicate primary key: %v; want a unique violation", err)
		}
		// A UNIQUE constraint that is not the primary key.
		err = s.Write(ctx, func(q *store.Q) error {
			if _, err := q.Exec(ctx, `CREATE TABLE u (id INTEGER PRIMARY KEY, email TEXT UNIQUE)`); err != nil {
				return err
			}
			if _, err := q.Exec(ctx, `INSERT INTO u (id, email) VALUES (1, $1)`, "a@example.org"); err != nil {
				return err
			}
			_, err := q.Exec(ctx, `INSERT INTO u (id, email) VALUES (2, $1)`, "a@example.org")
			return err
		})
		if !store.IsUniqueViolation(err) {
			t.Errorf("duplicate unique column: %v; want a unique violation", err)
		}
		// Other constraint failures are not unique violations.
		err = s.Write(ctx, func(q *store.Q) error {
			_, err := q.Exec(ctx, `INSERT INTO kv (k, v) VALUES ($1, NULL)`, "null")
			return err
		})
		if err == nil || store.IsUniqueViolation(err) {
			t.Errorf("NOT NULL failure: %v; want an error that is not a unique violation", err)
		}
		if store.IsUniqueViolation(nil) || store.IsUniqueViolation(errors.New("x")) {
			t.Error("IsUniqueViolation is true for an unrelated error")
		}
	})
}

func TestQueryRowNotFound(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		createKV(t, s)
		var v string
		err := s.Read().QueryRow(ctx, `SELECT v FROM kv WHERE k = $1`, "missing").Scan(&v)
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Scan of no rows = %v; want ErrNotFound", err)
		}
	})
}

// timeTable makes a table with a timestamp column in each dialect's type.
func timeTable(t *testing.T, s *store.Store) {
	t.Helper()
	typ := "TEXT"
	if s.Dialect() == store.Postgres {
		typ = "TIMESTAMPTZ"
	}
	err := s.Write(ctx, func(q *store.Q) error {
		_, err := q.Exec(ctx, `CREATE TABLE times (id INTEGER PRIMARY KEY, at `+typ+` NOT NULL, maybe `+typ+`)`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestTimeRoundTrip(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		timeTable(t, s)
		berlin := time.FixedZone("CEST", 2*3600)
		times := []time.Time{
			time.Date(2024, 2, 29, 23, 59, 59, 123456000, time.UTC),
			time.Date(1999, 12, 31, 22, 0, 0, 1000, berlin), // a microsecond, not UTC
			time.Date(2038, 1, 19, 3, 14, 8, 0, time.UTC),
			store.Now(),
		}
		err := s.Write(ctx, func(q *store.Q) error {
			for k, at := range times {
				var maybe *time.Time
				if k%2 == 0 {
					maybe = &times[k]
				}
				if _, err := q.Exec(ctx, `INSERT INTO times (id, at, maybe) VALUES ($1, $2, $3)`, k, at, maybe); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for k, want := range times {
			var at store.Time
			var maybe store.NullTime
			if err := s.Read().QueryRow(ctx, `SELECT at, maybe FROM times WHERE id = $1`, k).Scan(&at, &maybe); err != nil {
				t.Fatal(err)
			}
			if !at.Equal(want) || at.Location() != time.UTC {
				t.Errorf("time %d: got %v; want %v in UTC", k, at.Time, want)
			}
			if k%2 == 0 {
				if !maybe.Valid || !maybe.Time.Equal(want) || maybe.Ptr() == nil || !maybe.Ptr().Equal(want) {
					t.Errorf("null time %d: got %+v; want %v", k, maybe, want)
				}
			} else if maybe.Valid || maybe.Ptr() != nil {
				t.Errorf("null time %d: got %+v; want NULL", k, maybe)
			}
		}
	})
}

// Times compare in SQL the same way on both dialects: SQLite stores them as
// fixed-width text, which only works if every argument is formatted alike.
func TestTimeComparisonInSQL(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		timeTable(t, s)
		base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		err := s.Write(ctx, func(q *store.Q) error {
			for k := 0; k < 10; k++ {
				// Crossing a second boundary with and without fractions is
				// what breaks variable-width text.
				at := base.Add(time.Duration(k) * 500 * time.Millisecond)
				if _, err := q.Exec(ctx, `INSERT INTO times (id, at) VALUES ($1, $2)`, k, at); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		cut := base.Add(2 * time.Second).In(time.FixedZone("X", -5*3600))
		var n int
		if err := s.Read().QueryRow(ctx, `SELECT count(*) FROM times WHERE at < $1`, cut).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 4 {
			t.Errorf("rows before %v = %d; want 4", cut, n)
		}
		if err := s.Read().QueryRow(ctx, `SELECT count(*) FROM times WHERE at >= $1`, &cut).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 6 {
			t.Errorf("rows from %v (pointer argument) = %d; want 6", cut, n)
		}
		rows, err := s.Read().Query(ctx, `SELECT id FROM times ORDER BY at DESC`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		want := 9
		for rows.Next() {
			var id int
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			if id != want {
				t.Errorf("ORDER BY at: got id %d; want %d", id, want)
			}
			want--
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestTimeScan(t *testing.T) {
	want := time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)
	for _, src := range []any{
		want,
		want.In(time.FixedZone("X", 3600)),
		store.FormatTime(want),
		[]byte(store.FormatTime(want)),
		"2024-05-06T09:08:09.123456+02:00",
	} {
		var got store.Time
		if err := got.Scan(src); err != nil {
			t.Errorf("Scan(%#v): %v", src, err)
			continue
		}
		if !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("Scan(%#v) = %v; want %v in UTC", src, got.Time, want)
		}
	}
	for _, src := range []any{42, "yesterday", []byte("2024-13-01T00:00:00Z"), nil} {
		var got store.Time
		if err := got.Scan(src); err == nil {
			t.Errorf("Scan(%#v) succeeded", src)
		}
	}
	var n store.NullTime
	if err := n.Scan(42); err == nil {
		t.Error("NullTime.Scan(42) succeeded")
	}
	n = store.NullTime{Time: want, Valid: true}
	if err := n.Scan(nil); err != nil || n.Valid || !n.Time.IsZero() {
		t.Errorf("NullTime.Scan(nil) = %+v, %v; want reset to NULL", n, err)
	}
}

func TestFormatTime(t *testing.T) {
	got := store.FormatTime(time.Date(2024, 1, 2, 4, 4, 5, 0, time.FixedZone("X", 3600)))
	if got != "2024-01-02T03:04:05.000000Z" {
		t.Errorf("FormatTime = %q; want fixed width UTC", got)
	}
	if n := store.Now(); n.Nanosecond()%1000 != 0 || n.Location() != time.UTC {
		t.Errorf("Now() = %v; want UTC at microsecond precision", n)
	}
}

// Writes on SQLite queue on one connection instead of failing with
// SQLITE_BUSY ("database is locked"), even while readers are busy.
func TestSQLiteConcurrentWrites(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	createKV(t, s)
	const writers, perWriter = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*perWriter*2)
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for r := 0; r < 4; r++ {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var n int
				if err := s.Read().QueryRow(ctx, `SELECT count(*) FROM kv`).Scan(&n); err != nil {
					errs <- fmt.Errorf("reader: %w", err)
					return
				}
			}
		}()
	}
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < perWriter; k++ {
				err := s.Write(ctx, func(q *store.Q) error {
					var n int
					if err := q.QueryRow(ctx, `SELECT count(*) FROM kv`).Scan(&n); err != nil {
						return err
					}
					return put(q, fmt.Sprintf("w%d-%d", w, k), fmt.Sprint(n))
				})
				if err != nil {
					errs <- fmt.Errorf("writer %d: %w", w, err)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var n int
	if err := s.Read().QueryRow(ctx, `SELECT count(*) FROM kv`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != writers*perWriter {
		t.Errorf("%d rows; want %d", n, writers*perWriter)
	}
}

// The read pool of a file database refuses writes: a write through Read()
// would bypass the single writer and could hit SQLITE_BUSY.
func TestSQLiteReadIsReadOnly(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	createKV(t, s)
	if _, err := s.Read().Exec(ctx, `INSERT INTO kv (k, v) VALUES ('a', 'b')`); err == nil {
		t.Error("a write through Read() succeeded")
	}
}
