package session

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

// whoamiBody answers the session's whoami body, failing on any error.
func (f *fixture) whoamiBody(t *testing.T, token string) *Answer {
	t.Helper()
	a, err := f.m.Whoami(ctx, token)
	if err != nil {
		t.Fatalf("Whoami: %v", err)
	}
	return a
}

// requireSameJSON fails unless a and b are the same JSON value.
func requireSameJSON(t *testing.T, what string, a, b []byte) {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("%s: %v: %s", what, err, a)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("%s: %v: %s", what, err, b)
	}
	if !reflect.DeepEqual(va, vb) {
		t.Errorf("%s:\n%s\nwant\n%s", what, a, b)
	}
}

// storedView answers the identity's public_view_revision and revision.
func storedView(t *testing.T, s *store.Store, id uuid.UUID) (viewRev sql.NullInt64, rev int64) {
	t.Helper()
	if err := s.Read().QueryRow(ctx, `SELECT public_view_revision, revision FROM identities WHERE id = $1`, id).Scan(&viewRev, &rev); err != nil {
		t.Fatal(err)
	}
	return viewRev, rev
}

func TestWhoamiAnswersAreNeverStale(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		i := f.identity(t, "answer@example.org")
		r := httptest.NewRequest("POST", "/self-service/login", nil)
		r.Header.Set("User-Agent", "whoami-test/1.0")
		live := f.issue(t, i, r)

		// The view stored when the identity was created answers at once,
		// as View renders the session.
		if viewRev, rev := storedView(t, s, i.ID); !viewRev.Valid || viewRev.Int64 != rev {
			t.Fatalf("a new identity has no current public view: %v, revision %d", viewRev, rev)
		}
		first := f.whoamiBody(t, live.Token)
		want, _ := json.Marshal(f.m.View(mustByToken(t, f, live.Token), false))
		requireSameJSON(t, "whoami from the stored view", first.Body, want)
		if first.IdentityID != i.ID.String() || !first.AALSatisfied {
			t.Errorf("answer: %+v", first)
		}

		// A change of the identity's traits shows at once; the whoami
		// that finds the view outdated stores it again.
		if _, err := f.ids.Replace(ctx, i.ID, identity.Draft{Traits: json.RawMessage(`{"email":"renamed@example.org"}`), State: identity.StateActive}); err != nil {
			t.Fatal(err)
		}
		if viewRev, rev := storedView(t, s, i.ID); viewRev.Valid && viewRev.Int64 == rev {
			t.Fatalf("test premise: the change left a current view (%d)", rev)
		}
		got := f.whoamiBody(t, live.Token)
		if !bytes.Contains(got.Body, []byte("renamed@example.org")) {
			t.Errorf("after a trait change: %s", got.Body)
		}
		want, _ = json.Marshal(f.m.View(mustByToken(t, f, live.Token), false))
		requireSameJSON(t, "whoami rendered from the rows", got.Body, want)
		if viewRev, rev := storedView(t, s, i.ID); !viewRev.Valid || viewRev.Int64 != rev {
			t.Errorf("the outdated view was not stored again: %v, revision %d", viewRev, rev)
		}
		requireSameJSON(t, "whoami from the view stored again", f.whoamiBody(t, live.Token).Body, want)

		// A change of the session row (a longer life) too.
		if err := s.Write(ctx, func(q *store.Q) error {
			_, err := q.Exec(ctx, `UPDATE sessions SET expires_at = $1 WHERE id = $2`, time.Now().Add(48*time.Hour).UTC().Truncate(time.Second), live.ID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		var after View
		if err := json.Unmarshal(f.whoamiBody(t, live.Token).Body, &after); err != nil || !after.ExpiresAt.After(time.Now().Add(47*time.Hour)) {
			t.Errorf("after extending the session: expires_at %v, %v", after.ExpiresAt, err)
		}

		// Revoked, or the identity deactivated: refused on the next request.
		other := f.issue(t, i, nil)
		f.whoamiBody(t, other.Token)
		if err := s.Write(ctx, func(q *store.Q) error { return f.m.Revoke(ctx, q, other.ID) }); err != nil {
			t.Fatal(err)
		}
		if _, err := f.m.Whoami(ctx, other.Token); err != ErrNoSession {
			t.Errorf("revoked session: %v; want ErrNoSession", err)
		}
		if _, err := f.ids.Replace(ctx, i.ID, identity.Draft{Traits: json.RawMessage(`{"email":"renamed@example.org"}`), State: identity.StateInactive}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.m.Whoami(ctx, live.Token); err != ErrNoSession {
			t.Errorf("session of a deactivated identity: %v; want ErrNoSession", err)
		}
		if _, err := f.m.Whoami(ctx, "ory_st_unknown"); err != ErrNoSession {
			t.Errorf("unknown token: %v; want ErrNoSession", err)
		}
	})
}

func mustByToken(t *testing.T, f *fixture, token string) *Session {
	t.Helper()
	s, err := f.m.ByToken(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
