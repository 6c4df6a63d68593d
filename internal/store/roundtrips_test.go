package store_test

import (
	"testing"

	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

// TestRoundTripsArePerBatch checks that the socket counter sees one round
// trip per statement the driver has prepared before, two for a statement's
// first use on a connection (Parse and Describe, then Bind and Execute), and
// one each for BEGIN and COMMIT.
func TestRoundTripsArePerBatch(t *testing.T) {
	s := storetest.Open(t, store.Postgres)
	createKV(t, s)
	q := s.Read()
	// Used one at a time, the pool hands back its most recent connection, so
	// each statement below finds the one before it prepared.
	count := func(fn func() error) uint64 {
		t.Helper()
		trips, pinged := store.RoundTrips(), store.Pings()
		if err := fn(); err != nil {
			t.Fatal(err)
		}
		return (store.RoundTrips() - trips) - (store.Pings() - pinged)
	}
	read := func() error {
		var n int
		return q.QueryRow(ctx, `SELECT count(*) FROM kv WHERE k <> $1`, "x").Scan(&n)
	}
	if got := count(read); got != 2 {
		t.Errorf("first use of a statement: %d round trips, want 2 (prepare, execute)", got)
	}
	if got := count(read); got != 1 {
		t.Errorf("a prepared statement: %d round trips, want 1", got)
	}
	write := func() error {
		return s.Write(ctx, func(q *store.Q) error { return put(q, "a", "b") })
	}
	if got := count(write); got != 4 {
		t.Errorf("first transaction: %d round trips, want 4 (begin, prepare, execute, commit)", got)
	}
	if got := count(func() error {
		return s.Write(ctx, func(q *store.Q) error { return put(q, "c", "d") })
	}); got != 3 {
		t.Errorf("a transaction of one prepared statement: %d round trips, want 3", got)
	}
	if got := count(func() error {
		_, err := q.Exec(ctx, `SELECT 1`)
		return err
	}); got != 1 && got != 2 {
		t.Errorf("a statement without arguments: %d round trips, want 1 or 2", got)
	}
}
