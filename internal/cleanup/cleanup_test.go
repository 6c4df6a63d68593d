package cleanup_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/cleanup"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

// seed writes rows of every kind the cleanup knows, each in a state that
// must go or must stay.
type seed struct {
	t   *testing.T
	db  *store.Store
	now time.Time
	ctx context.Context
}

func (s seed) exec(query string, args ...any) {
	s.t.Helper()
	if err := s.db.Write(s.ctx, func(q *store.Q) error {
		_, err := q.Exec(s.ctx, query, args...)
		return err
	}); err != nil {
		s.t.Fatalf("%s: %v", query, err)
	}
}

func (s seed) identity() string {
	id := uuid.NewString()
	s.exec(`INSERT INTO identities (id, schema_id, state, traits, created_at, updated_at) VALUES ($1, 'default', 'active', '{}', $2, $2)`, id, s.now)
	return id
}

func (s seed) flow(expires time.Time) string {
	id := uuid.NewString()
	s.exec(`INSERT INTO selfservice_flows (id, kind, type, state, request_url, issued_at, expires_at, ui, created_at, updated_at)
VALUES ($1, 'login', 'api', 'choose_method', 'http://x/', $2, $3, '{}', $2, $2)`, id, s.now.Add(-48*time.Hour), expires)
	return id
}

func (s seed) code(flowID string, expires time.Time, used *time.Time) string {
	id := uuid.NewString()
	s.exec(`INSERT INTO selfservice_codes (id, purpose, method, flow_id, address_via, address_value, code_hash, expires_at, used_at, created_at)
VALUES ($1, 'recovery', 'code', $2, 'email', 'a@example.org', $3, $4, $5, $6)`, id, flowID, "h"+id, expires, used, s.now.Add(-48*time.Hour))
	return id
}

func (s seed) session(identityID string, active bool, expires, updated time.Time) string {
	id := uuid.NewString()
	s.exec(`INSERT INTO sessions (id, identity_id, token_hash, logout_token_hash, active, aal, authentication_methods, devices, issued_at, authenticated_at, expires_at, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, 'aal1', '[]', '[]', $6, $6, $7, $6, $8)`, id, identityID, "t"+id, "l"+id, active, s.now.Add(-48*time.Hour), expires, updated)
	return id
}

func (s seed) exchange(sessionID string, expires time.Time) string {
	id := uuid.NewString()
	s.exec(`INSERT INTO session_token_exchanges (id, init_code_hash, return_to_code_hash, session_id, session_token, expires_at, created_at)
VALUES ($1, $2, 'r', $3, 'sealed', $4, $5)`, id, "i"+id, sessionID, expires, s.now.Add(-48*time.Hour))
	return id
}

func (s seed) message(status string, updated time.Time) string {
	id := uuid.NewString()
	s.exec(`INSERT INTO courier_messages (id, type, status, recipient, subject, body, template_type, next_attempt_at, created_at, updated_at)
VALUES ($1, 'email', $2, 'a@example.org', 's', 'b', 'recovery_code_valid', $3, $3, $3)`, id, status, updated)
	s.exec(`INSERT INTO courier_message_dispatches (id, message_id, status, created_at, updated_at) VALUES ($1, $2, 'success', $3, $3)`, uuid.NewString(), id, updated)
	return id
}

func ids(t *testing.T, db *store.Store, table string) map[string]bool {
	t.Helper()
	rows, err := db.Read().Query(context.Background(), "SELECT CAST(id AS TEXT) FROM "+table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out[id] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRun_DeletesOnlyWhatEnded(t *testing.T) {
	storetest.Run(t, func(t *testing.T, db *store.Store) {
		ctx := context.Background()
		now := store.Now()
		s := seed{t: t, db: db, now: now, ctx: ctx}
		keep := time.Hour
		old := now.Add(-2 * time.Hour)       // ended before keep-last: goes
		recent := now.Add(-30 * time.Minute) // ended within keep-last: stays
		future := now.Add(time.Hour)         // still valid: stays

		want := map[string]map[string]bool{}
		stay := func(table, id string) { want[table][id] = true }
		for _, tb := range []string{"selfservice_flows", "selfservice_codes", "sessions", "session_token_exchanges", "courier_messages"} {
			want[tb] = map[string]bool{}
		}

		live := s.flow(future)
		stay("selfservice_flows", live)
		s.flow(old)
		stay("selfservice_flows", s.flow(recent))

		// Codes of a live flow: expired long ago goes, even if unused;
		// spent but unexpired stays.
		s.code(live, old, nil)
		stay("selfservice_codes", s.code(live, future, nil))
		stay("selfservice_codes", s.code(live, future, &old))
		stay("selfservice_codes", s.code(live, recent, nil))

		ident := s.identity()
		valid := s.session(ident, true, future, old)
		stay("sessions", valid)
		s.session(ident, true, old, old)                          // expired long ago
		s.session(ident, false, future, old)                      // revoked long ago
		stay("sessions", s.session(ident, false, future, recent)) // revoked just now
		stay("sessions", s.session(ident, true, recent, old))     // expired just now
		s.exchange(valid, old)
		stay("session_token_exchanges", s.exchange(valid, future))

		s.message("sent", old)
		s.message("abandoned", old)
		stay("courier_messages", s.message("sent", recent))
		stay("courier_messages", s.message("queued", old))
		stay("courier_messages", s.message("processing", old))

		// A batch of 1 makes every table take several transactions.
		var progress int
		counts, err := cleanup.Run(ctx, db, cleanup.Options{KeepLast: keep, BatchSize: 1, Now: now, Progress: func(string, int64) { progress++ }})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, c := range counts {
			got[c.Table] = c.Deleted
		}
		wantCounts := map[string]int64{"selfservice_codes": 1, "session_token_exchanges": 1, "selfservice_flows": 1, "sessions": 2, "courier_messages": 2}
		for table, n := range wantCounts {
			if got[table] != n {
				t.Errorf("%s: deleted %d, want %d (counts %v)", table, got[table], n, counts)
			}
		}
		if progress != 7 {
			t.Errorf("progress called %d times, want once per deleted row (7)", progress)
		}
		for table, stays := range want {
			have := ids(t, db, table)
			for id := range stays {
				if !have[id] {
					t.Errorf("%s: %s was deleted but had not ended", table, id)
				}
			}
			if len(have) != len(stays) {
				t.Errorf("%s: %d rows left, want %d", table, len(have), len(stays))
			}
		}
		// Dispatches went with their messages.
		if n := len(ids(t, db, "courier_message_dispatches")); n != 3 {
			t.Errorf("%d dispatches left, want 3", n)
		}

		// Nothing more to do: a second run deletes nothing.
		again, err := cleanup.Run(ctx, db, cleanup.Options{KeepLast: keep, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range again {
			if c.Deleted != 0 {
				t.Errorf("second run deleted %d from %s", c.Deleted, c.Table)
			}
		}
	})
}

func TestRun_RefusesNegativeKeepLast(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	if _, err := cleanup.Run(context.Background(), db, cleanup.Options{KeepLast: -time.Second}); err == nil {
		t.Fatal("a negative keep-last was accepted")
	}
}

func TestRun_PauseEndsWithTheContext(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	now := store.Now()
	s := seed{t: t, db: db, now: now, ctx: ctx}
	s.code(s.flow(now.Add(time.Hour)), now.Add(-time.Hour), nil)

	done := make(chan error, 1)
	go func() {
		// The first table has one expired code: its batch cancels the
		// run, which is then in the hour-long pause before the next table.
		_, err := cleanup.Run(ctx, db, cleanup.Options{PauseBetweenTables: time.Hour, Progress: func(string, int64) { cancel() }})
		done <- err
	}()
	select {
	case err := <-done:
		if err != context.Canceled {
			t.Errorf("got %v, want context.Canceled", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the pause did not end with the context")
	}
}
