package session

import (
	"crypto/sha256"
	"encoding/json"
	"testing"

	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

// keyedRowsDiffer counts the rows in which SQLite's session_whoami and the
// join it stands for disagree, either way.
func keyedRowsDiffer(t *testing.T, s *store.Store) int {
	t.Helper()
	var n int
	if err := s.Read().QueryRow(ctx, `SELECT
		(SELECT count(*) FROM (SELECT * FROM session_whoami EXCEPT SELECT * FROM session_whoami_rows)) +
		(SELECT count(*) FROM (SELECT * FROM session_whoami_rows EXCEPT SELECT * FROM session_whoami))`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// The triggers of migration 0012 keep session_whoami exactly what the
// tables say after every kind of change whoami must answer at once.
func TestWhoamiKeyedRowsFollowTheTables(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	f := newFixture(t, s)
	i := f.identity(t, "keyed@example.org")
	a, b := f.issue(t, i, nil), f.issue(t, i, nil)
	check := func(when string) {
		t.Helper()
		if n := keyedRowsDiffer(t, s); n != 0 {
			t.Fatalf("%s: %d rows of session_whoami differ from the tables", when, n)
		}
	}
	check("issued")
	var k int64
	if err := s.Read().QueryRow(ctx, `SELECT k FROM session_whoami WHERE session_id = $1`, a.ID).Scan(&k); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(a.Token))
	if k != whoamiKey(&sum) {
		t.Fatalf("the database keys the session %d, whoami looks for %d", k, whoamiKey(&sum))
	}

	if _, err := f.ids.Replace(ctx, i.ID, identity.Draft{Traits: json.RawMessage(`{"email":"rekeyed@example.org"}`), State: identity.StateActive}); err != nil {
		t.Fatal(err)
	}
	check("traits changed")
	f.whoamiBody(t, a.Token) // stores the view again
	check("view stored again")
	if err := s.Write(ctx, func(q *store.Q) error { return f.m.Revoke(ctx, q, b.ID) }); err != nil {
		t.Fatal(err)
	}
	check("revoked")
	if _, err := f.m.Whoami(ctx, b.Token); err != ErrNoSession {
		t.Errorf("revoked session: %v; want ErrNoSession", err)
	}

	// A token whose key another session's row holds is answered by the
	// join, and changing it leaves the other's row alone.
	c := f.issue(t, i, nil)
	f.write(t, func(q *store.Q) error {
		if _, err := q.Exec(ctx, `DELETE FROM session_whoami WHERE session_id = $1`, c.ID); err != nil {
			return err
		}
		sum := sha256.Sum256([]byte(c.Token))
		_, err := q.Exec(ctx, `INSERT INTO session_whoami SELECT $1, 'another-digest', session_id, identity_id, active, aal, authentication_methods, devices,
			issued_at, authenticated_at, expires_at, created_at, updated_at, identity_state, identity_revision, schema_id, public_view, public_view_factors, public_view_revision
			FROM session_whoami WHERE session_id = $2`, whoamiKey(&sum), a.ID)
		return err
	})
	if got := f.whoamiBody(t, c.Token); !json.Valid(got.Body) || !containsID(got.Body, c.ID.String()) {
		t.Errorf("whoami of a token whose key is taken: %s", got.Body)
	}
	if err := s.Write(ctx, func(q *store.Q) error { return f.m.Revoke(ctx, q, c.ID) }); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Whoami(ctx, c.Token); err != ErrNoSession {
		t.Errorf("revoked session whose key is taken: %v; want ErrNoSession", err)
	}
	var held int
	if err := s.Read().QueryRow(ctx, `SELECT count(*) FROM session_whoami WHERE token_hash = 'another-digest'`).Scan(&held); err != nil || held != 1 {
		t.Errorf("the row holding the key: %d, %v", held, err)
	}
	f.write(t, func(q *store.Q) error {
		// c has no row now, as a session whose key was taken has none.
		if _, err := q.Exec(ctx, `DELETE FROM session_whoami WHERE token_hash = 'another-digest'`); err != nil {
			return err
		}
		_, err := q.Exec(ctx, `DELETE FROM sessions WHERE id = $1`, c.ID)
		return err
	})
	check("the key given back")

	if _, err := f.ids.Replace(ctx, i.ID, identity.Draft{Traits: json.RawMessage(`{"email":"rekeyed@example.org"}`), State: identity.StateInactive}); err != nil {
		t.Fatal(err)
	}
	check("deactivated")
	if _, err := f.m.Whoami(ctx, a.Token); err != ErrNoSession {
		t.Errorf("session of a deactivated identity: %v; want ErrNoSession", err)
	}
	if err := f.ids.Delete(ctx, i.ID); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := s.Read().QueryRow(ctx, `SELECT count(*) FROM session_whoami`).Scan(&left); err != nil || left != 0 {
		t.Errorf("rows left after the identity was deleted: %d, %v", left, err)
	}
}

func containsID(body []byte, id string) bool {
	var v struct {
		ID string `json:"id"`
	}
	return json.Unmarshal(body, &v) == nil && v.ID == id
}
