package guard

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
	"github.com/lanyard-id/lanyard/internal/text"
)

// oneIdentity is an identity store holding a single identity.
type oneIdentity struct{ i *identity.Identity }

func (o oneIdentity) Get(_ context.Context, id uuid.UUID) (*identity.Identity, error) {
	if id != o.i.ID {
		return nil, identity.ErrNotFound
	}
	return o.i, nil
}

func TestAdmin_ShowsAndClearsTheCountersOfAnIdentity(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		g, clock := newTestGuard(s, func(p *config.Protection) {
			p.Attempts.LockAfter = 3
			p.Attempts.FreeFailures = 1
		})
		ada := &identity.Identity{
			ID: uuid.New(),
			Credentials: map[string]*identity.Credential{
				identity.CredentialsPassword: {Type: identity.CredentialsPassword, Identifiers: []string{"ada@example.org"}},
			},
			RecoveryAddresses: []identity.RecoveryAddress{{Via: "email", Value: "Ada@Example.org"}},
		}
		mux := http.NewServeMux()
		g.Admin(oneIdentity{ada}).Register(mux, "/admin")
		call := func(method, path string) *httptest.ResponseRecorder {
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, httptest.NewRequest(method, path, nil))
			return w
		}
		path := "/admin/identities/" + ada.ID.String() + "/login-attempts"

		w := call("GET", path)
		if w.Code != http.StatusOK || jsonOf(t, w)["locked"] != false || len(jsonOf(t, w)["counters"].([]any)) != 0 {
			t.Fatalf("before any attempt: %d %s", w.Code, w.Body)
		}

		for range 4 {
			attempt(t, g, ScopeLogin, "ada@example.org", "192.0.2.1")
			clock.advance(time.Second)
		}
		attempt(t, g, ScopeCode, "ada@example.org", "198.51.100.2")
		attempt(t, g, ScopeLogin, "grace@example.org", "192.0.2.1") // not Ada's

		w = call("GET", path)
		var view attemptsView
		if err := json.Unmarshal(w.Body.Bytes(), &view); err != nil || w.Code != http.StatusOK {
			t.Fatalf("%d %s (%v)", w.Code, w.Body, err)
		}
		if view.IdentityID != ada.ID || !view.Locked || len(view.Counters) != 2 {
			t.Fatalf("view %s", w.Body)
		}
		code, login := view.Counters[0], view.Counters[1]
		if login.Scope != "login" || login.Identifier != "ada@example.org" || login.Failures != 4 || login.LockedUntil == nil || login.WindowStartedAt == nil {
			t.Errorf("login counter %+v", login)
		}
		if len(login.Clients) != 1 || login.Clients[0].Address != "192.0.2.1" || login.Clients[0].Failures != 2 || login.Clients[0].NextAttemptAt == nil {
			t.Errorf("login clients %+v", login.Clients)
		}
		if code.Scope != "code" || code.Failures != 1 || code.LockedUntil != nil || len(code.Clients) != 1 {
			t.Errorf("code counter %+v", code)
		}

		if w := call("DELETE", path); w.Code != http.StatusNoContent || w.Body.Len() != 0 {
			t.Fatalf("DELETE: %d %s", w.Code, w.Body)
		}
		if v := attempt(t, g, ScopeLogin, "ada@example.org", "192.0.2.1"); !v.Allowed || v.Failures != 1 {
			t.Errorf("after clearing: %+v", v)
		}
		if v := attempt(t, g, ScopeLogin, "grace@example.org", "192.0.2.1"); v.Failures != 2 {
			t.Errorf("clearing Ada cleared Grace: %+v", v)
		}

		// Expired counters show as nothing.
		clock.advance(2 * time.Hour)
		if w := call("GET", path); len(jsonOf(t, w)["counters"].([]any)) != 0 {
			t.Errorf("expired counters shown: %s", w.Body)
		}

		for _, p := range []string{"/admin/identities/" + uuid.NewString() + "/login-attempts", "/admin/identities/not-a-uuid/login-attempts"} {
			for _, m := range []string{"GET", "DELETE"} {
				w := call(m, p)
				e, _ := jsonOf(t, w)["error"].(map[string]any)
				if w.Code != http.StatusNotFound || e["code"] != float64(404) || e["message"] == "" {
					t.Errorf("%s %s: %d %s", m, p, w.Code, w.Body)
				}
			}
		}
	})
}

func jsonOf(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("%v: %s", err, w.Body)
	}
	return m
}

func TestVerdictMessage(t *testing.T) {
	until := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	if m := (Verdict{Allowed: true}).Message(); m != nil {
		t.Errorf("an allowed verdict has a message: %+v", m)
	}
	for _, tc := range []struct {
		v    Verdict
		id   int
		keys []string
	}{
		{Verdict{RetryAfter: 1500 * time.Millisecond, Until: until}, 4900001, []string{"retry_after_seconds"}},
		{Verdict{Locked: true, RetryAfter: 10 * time.Minute, Until: until}, 4900002, []string{"locked_until_unix", "retry_after_seconds"}},
	} {
		m := tc.v.Message()
		if m == nil || m.ID != tc.id || m.Type != text.Error || m.Text == "" || len(m.Context) != len(tc.keys) {
			t.Fatalf("%+v: message %+v", tc.v, m)
		}
		for _, k := range tc.keys {
			if _, ok := m.Context[k].(int); !ok {
				if _, ok := m.Context[k].(int64); !ok {
					t.Errorf("message %d: context %q = %#v, want a number", m.ID, k, m.Context[k])
				}
			}
		}
	}
	if got := (Verdict{RetryAfter: 1500 * time.Millisecond}).Message().Context["retry_after_seconds"]; got != 2 {
		t.Errorf("retry_after_seconds = %v, want 2 (rounded up)", got)
	}
	if got := (Verdict{Locked: true, Until: until}).Message().Context["locked_until_unix"]; got != until.Unix() {
		t.Errorf("locked_until_unix = %v, want %d", got, until.Unix())
	}
}
