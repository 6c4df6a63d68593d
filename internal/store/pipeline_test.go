package store_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

func deferPut(q *store.Q, k, v string) error {
	return q.Defer(ctx, `INSERT INTO kv (k, v) VALUES ($1, $2)`, k, v)
}

var errNothingChanged = errors.New("nothing changed")

func requireSet(q *store.Q, k, v string) error {
	return q.Require(ctx, errNothingChanged, `UPDATE kv SET v = $2 WHERE k = $1`, k, v)
}

func value(t *testing.T, s *store.Store, k string) string {
	t.Helper()
	var v string
	if err := s.Read().QueryRow(ctx, `SELECT v FROM kv WHERE k = $1`, k).Scan(&v); err != nil {
		t.Fatalf("reading %q: %v", k, err)
	}
	return v
}

// TestWritePipelined checks that deferred and required statements mean on
// both stores what they mean one by one: committed together, rolled back
// together, a required statement that changes nothing failing the whole
// transaction with its caller's error, a unique violation still one.
func TestWritePipelined(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		createKV(t, s)
		if err := s.WritePipelined(ctx, func(q *store.Q) error {
			if err := deferPut(q, "a", "1"); err != nil {
				return err
			}
			if err := requireSet(q, "a", "2"); err != nil {
				return err
			}
			return deferPut(q, "b", "1")
		}); err != nil {
			t.Fatalf("WritePipelined: %v", err)
		}
		if got := value(t, s, "a"); got != "2" {
			t.Errorf("a = %q, want 2: the statements ran out of order", got)
		}

		// A read in between sees what was deferred before it.
		if err := s.WritePipelined(ctx, func(q *store.Q) error {
			if err := deferPut(q, "c", "1"); err != nil {
				return err
			}
			var v string
			if err := q.QueryRow(ctx, `SELECT v FROM kv WHERE k = $1`, "c").Scan(&v); err != nil {
				return err
			}
			return requireSet(q, "c", v+"+")
		}); err != nil {
			t.Fatalf("WritePipelined with a read: %v", err)
		}
		if got := value(t, s, "c"); got != "1+" {
			t.Errorf("c = %q, want 1+", got)
		}

		err := s.WritePipelined(ctx, func(q *store.Q) error {
			if err := deferPut(q, "undone", "1"); err != nil {
				return err
			}
			if err := requireSet(q, "missing", "1"); err != nil {
				return err
			}
			return deferPut(q, "undone-too", "1")
		})
		if !errors.Is(err, errNothingChanged) {
			t.Errorf("a required statement that changed nothing: %v, want its error", err)
		}
		if has(t, s, "undone") || has(t, s, "undone-too") {
			t.Error("a failed required statement did not roll the transaction back")
		}

		err = s.WritePipelined(ctx, func(q *store.Q) error {
			if err := deferPut(q, "undone", "1"); err != nil {
				return err
			}
			return deferPut(q, "a", "dup")
		})
		if !store.IsUniqueViolation(err) {
			t.Errorf("a deferred duplicate: %v, want a unique violation", err)
		}
		if has(t, s, "undone") {
			t.Error("a deferred duplicate did not roll the transaction back")
		}

		boom := errors.New("boom")
		if err := s.WritePipelined(ctx, func(q *store.Q) error {
			if err := deferPut(q, "undone", "1"); err != nil {
				return err
			}
			if _, err := q.Exec(ctx, `INSERT INTO kv (k, v) VALUES ($1, $2)`, "undone-sent", "1"); err != nil {
				return err
			}
			return boom
		}); !errors.Is(err, boom) {
			t.Errorf("WritePipelined = %v, want fn's error", err)
		}
		if has(t, s, "undone") || has(t, s, "undone-sent") {
			t.Error("fn's error did not roll back what was sent")
		}

		// A savepoint keeps its deferred failure to itself.
		if err := s.WritePipelined(ctx, func(q *store.Q) error {
			err := q.Savepoint(ctx, "sp", func() error { return deferPut(q, "a", "dup") })
			if !store.IsUniqueViolation(err) {
				t.Errorf("Savepoint with a deferred duplicate = %v, want a unique violation", err)
			}
			return deferPut(q, "after-savepoint", "1")
		}); err != nil {
			t.Fatalf("WritePipelined after a failed savepoint: %v", err)
		}
		if !has(t, s, "after-savepoint") {
			t.Error("the transaction did not go on after its savepoint failed")
		}

		// Outside a pipelined transaction the statements run at once.
		err = s.Write(ctx, func(q *store.Q) error {
			if err := requireSet(q, "missing", "1"); !errors.Is(err, errNothingChanged) {
				t.Errorf("Require in Write = %v, want its error at once", err)
			}
			if err := deferPut(q, "a", "dup"); !store.IsUniqueViolation(err) {
				t.Errorf("Defer in Write = %v, want the unique violation at once", err)
			}
			return nil
		})
		if err == nil && s.Dialect() == store.Postgres {
			t.Error("a transaction whose statement failed committed on PostgreSQL")
		}

		// The pool is healthy after all of that.
		if err := s.WritePipelined(ctx, func(q *store.Q) error { return deferPut(q, "last", "1") }); err != nil {
			t.Fatalf("WritePipelined at the end: %v", err)
		}
	})
}

// TestWritePipelinedRace checks that of two transactions requiring the same
// row's state, exactly one wins, as flows' claims rely on.
func TestWritePipelinedRace(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		createKV(t, s)
		if err := s.Write(ctx, func(q *store.Q) error { return put(q, "flow", "open") }); err != nil {
			t.Fatal(err)
		}
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		for k := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[k] = s.WritePipelined(ctx, func(q *store.Q) error {
					if err := q.Require(ctx, errNothingChanged, `UPDATE kv SET v = 'done' WHERE k = 'flow' AND v = 'open'`); err != nil {
						return err
					}
					return deferPut(q, "winner-"+string(rune('a'+k)), "1")
				})
			}()
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, errNothingChanged):
				t.Errorf("a losing transaction: %v, want the required statement's error", err)
			}
		}
		if won != 1 {
			t.Errorf("%d transactions claimed the row, want 1", won)
		}
		var winners int
		if err := s.Read().QueryRow(ctx, `SELECT count(*) FROM kv WHERE k LIKE 'winner-%'`).Scan(&winners); err != nil {
			t.Fatal(err)
		}
		if winners != 1 {
			t.Errorf("%d winners' rows committed, want 1", winners)
		}
	})
}

// TestWritePipelinedIsOneRoundTrip checks the point of it on PostgreSQL:
// BEGIN, the queued statements and COMMIT go as one batch.
func TestWritePipelinedIsOneRoundTrip(t *testing.T) {
	s := storetest.Open(t, store.Postgres)
	createKV(t, s)
	k := 0
	tx := func() error {
		return s.WritePipelined(ctx, func(q *store.Q) error {
			k++
			if err := deferPut(q, "x"+string(rune('a'+k)), "1"); err != nil {
				return err
			}
			if err := deferPut(q, "y"+string(rune('a'+k)), "1"); err != nil {
				return err
			}
			return requireSet(q, "x"+string(rune('a'+k)), "2")
		})
	}
	if err := tx(); err != nil { // prepares the statements on the connection
		t.Fatal(err)
	}
	trips, pinged := store.RoundTrips(), store.Pings()
	if err := tx(); err != nil {
		t.Fatal(err)
	}
	if got := (store.RoundTrips() - trips) - (store.Pings() - pinged); got != 1 {
		t.Errorf("a pipelined transaction of prepared statements: %d round trips, want 1", got)
	}
	trips, pinged = store.RoundTrips(), store.Pings()
	if err := s.WritePipelined(ctx, func(*store.Q) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if got := (store.RoundTrips() - trips) - (store.Pings() - pinged); got != 0 {
		t.Errorf("an empty pipelined transaction: %d round trips, want 0", got)
	}
}
