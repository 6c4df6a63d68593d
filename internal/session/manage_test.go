package session

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

func serveMux(mux *http.ServeMux, method, target, token string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	if token != "" {
		r.Header.Set("X-Session-Token", token)
	}
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	return w
}

func viewIDs(t *testing.T, w *httptest.ResponseRecorder) []string {
	t.Helper()
	var out []View
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatalf("%d %s: %v", w.Code, w.Body, err)
	}
	ids := make([]string, len(out))
	for k, v := range out {
		ids[k] = v.ID
	}
	return ids
}

func TestMySessions(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		me, other := f.identity(t, "me@example.org"), f.identity(t, "other@example.org")
		cur, a, b := f.issue(t, me, nil), f.issue(t, me, nil), f.issue(t, me, nil)
		foreign := f.issue(t, other, nil)
		mux := http.NewServeMux()
		NewMySessionsHandler(f.m, "https://auth.example.com/").Register(mux)

		if w := serveMux(mux, "GET", "/sessions", ""); w.Code != 401 || !strings.Contains(w.Body.String(), "session_inactive") {
			t.Errorf("without a session: %d %s", w.Code, w.Body)
		}
		w := serveMux(mux, "GET", "/sessions", cur.Token)
		ids := viewIDs(t, w)
		if len(ids) != 2 || strings.Contains(strings.Join(ids, ","), cur.ID.String()) || strings.Contains(strings.Join(ids, ","), foreign.ID.String()) {
			t.Errorf("my other sessions = %v; want a and b only", ids)
		}
		w = serveMux(mux, "GET", "/sessions?page_size=1", cur.Token)
		if len(viewIDs(t, w)) != 1 || !strings.Contains(w.Header().Get("Link"), `rel="next"`) {
			t.Errorf("page of one: %s, Link %q", w.Body, w.Header().Get("Link"))
		}

		if w := serveMux(mux, "DELETE", "/sessions/"+cur.ID.String(), cur.Token); w.Code != 400 {
			t.Errorf("revoking the current session: %d", w.Code)
		}
		if w := serveMux(mux, "DELETE", "/sessions/garbage", cur.Token); w.Code != 400 {
			t.Errorf("malformed id: %d", w.Code)
		}
		if w := serveMux(mux, "DELETE", "/sessions/"+foreign.ID.String(), cur.Token); w.Code != 204 {
			t.Errorf("another identity's session: %d", w.Code)
		}
		if _, err := f.m.ByToken(ctx, foreign.Token); err != nil {
			t.Errorf("another identity's session was revoked: %v", err)
		}
		if w := serveMux(mux, "DELETE", "/sessions/"+a.ID.String(), cur.Token); w.Code != 204 {
			t.Errorf("revoke one: %d", w.Code)
		}
		if _, err := f.m.ByToken(ctx, a.Token); err != ErrNoSession {
			t.Errorf("revoked session still valid: %v", err)
		}
		w = serveMux(mux, "DELETE", "/sessions", cur.Token)
		if w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"count":1}` {
			t.Errorf("revoke others: %d %s; want count 1 (b)", w.Code, w.Body)
		}
		if _, err := f.m.ByToken(ctx, b.Token); err != ErrNoSession {
			t.Errorf("b after revoke others: %v", err)
		}
		if _, err := f.m.ByToken(ctx, cur.Token); err != nil {
			t.Errorf("the current session was revoked: %v", err)
		}
	})
}

func TestAdminSessions(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		i, j := f.identity(t, "i@example.org"), f.identity(t, "j@example.org")
		s1, s2, s3 := f.issue(t, i, nil), f.issue(t, i, nil), f.issue(t, j, nil)
		if err := s.Write(ctx, func(q *store.Q) error { return f.m.Revoke(ctx, q, s2.ID) }); err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		NewAdminHandler(f.m, f.ids, "http://admin.test", 0).Register(mux, "/admin")

		if ids := viewIDs(t, serveMux(mux, "GET", "/admin/sessions", "")); len(ids) != 3 {
			t.Errorf("all sessions: %v", ids)
		}
		if ids := viewIDs(t, serveMux(mux, "GET", "/admin/sessions?active=true", "")); len(ids) != 2 {
			t.Errorf("active sessions: %v", ids)
		}
		if ids := viewIDs(t, serveMux(mux, "GET", "/admin/sessions?active=false", "")); len(ids) != 1 || ids[0] != s2.ID.String() {
			t.Errorf("inactive sessions: %v", ids)
		}
		if w := serveMux(mux, "GET", "/admin/sessions?active=maybe", ""); w.Code != 400 {
			t.Errorf("bad active filter: %d", w.Code)
		}
		if ids := viewIDs(t, serveMux(mux, "GET", "/admin/identities/"+i.ID.String()+"/sessions", "")); len(ids) != 2 {
			t.Errorf("sessions of i: %v", ids)
		}
		for _, p := range []string{"/admin/identities/" + uuid.NewString() + "/sessions", "/admin/identities/garbage/sessions"} {
			if w := serveMux(mux, "GET", p, ""); w.Code != 404 {
				t.Errorf("GET %s: %d", p, w.Code)
			}
		}

		w := serveMux(mux, "GET", "/admin/sessions/"+s1.ID.String()+"?expand=identity", "")
		var v View
		if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil || w.Code != 200 || v.Identity == nil || v.Identity.ID != i.ID.String() {
			t.Errorf("get with identity: %d %s", w.Code, w.Body)
		}
		w = serveMux(mux, "GET", "/admin/sessions/"+s2.ID.String(), "")
		v = View{}
		if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil || v.Active || v.Identity != nil {
			t.Errorf("get revoked session: %s", w.Body)
		}
		for _, p := range []string{"/admin/sessions/" + uuid.NewString(), "/admin/sessions/garbage"} {
			if w := serveMux(mux, "GET", p, ""); w.Code != 404 {
				t.Errorf("GET %s: %d", p, w.Code)
			}
		}

		// Extending moves the expiry to now + lifespan.
		if err := s.Write(ctx, func(q *store.Q) error {
			_, err := q.Exec(ctx, `UPDATE sessions SET expires_at = $1 WHERE id = $2`, time.Now().Add(time.Minute), s1.ID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		w = serveMux(mux, "PATCH", "/admin/sessions/"+s1.ID.String()+"/extend", "")
		v = View{}
		if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil || w.Code != 200 || time.Until(v.ExpiresAt) < 59*time.Minute {
			t.Errorf("extend: %d %s", w.Code, w.Body)
		}
		got, err := f.m.ByToken(ctx, s1.Token)
		if err != nil || !got.ExpiresAt.Equal(v.ExpiresAt) {
			t.Errorf("extended expiry not stored: %v, %v", got, err)
		}
		if w := serveMux(mux, "PATCH", "/admin/sessions/"+s2.ID.String()+"/extend", ""); w.Code != 404 {
			t.Errorf("extend a revoked session: %d", w.Code)
		}
		// Too early to extend: nothing changes.
		early := http.NewServeMux()
		NewAdminHandler(f.m, f.ids, "http://admin.test", time.Minute).Register(early, "")
		w = serveMux(early, "PATCH", "/sessions/"+s1.ID.String()+"/extend", "")
		v = View{}
		_ = json.Unmarshal(w.Body.Bytes(), &v)
		if w.Code != 200 || !v.ExpiresAt.Equal(got.ExpiresAt) {
			t.Errorf("extend too early: %d, expiry %v; want %v", w.Code, v.ExpiresAt, got.ExpiresAt)
		}

		if w := serveMux(mux, "DELETE", "/admin/sessions/"+s3.ID.String(), ""); w.Code != 204 {
			t.Errorf("disable: %d", w.Code)
		}
		if _, err := f.m.ByToken(ctx, s3.Token); err != ErrNoSession {
			t.Errorf("disabled session still valid: %v", err)
		}
		if w := serveMux(mux, "DELETE", "/admin/identities/"+i.ID.String()+"/sessions", ""); w.Code != 204 {
			t.Errorf("delete sessions of i: %d", w.Code)
		}
		if ids := viewIDs(t, serveMux(mux, "GET", "/admin/identities/"+i.ID.String()+"/sessions", "")); len(ids) != 0 {
			t.Errorf("sessions of i after delete: %v", ids)
		}
	})
}
