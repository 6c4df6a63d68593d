package session

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

func TestAALOf(t *testing.T) {
	m := func(method, aal string) Method { return Method{Method: method, AAL: aal} }
	for _, tc := range []struct {
		name    string
		methods []Method
		want    string
	}{
		{"none", nil, AAL0},
		{"password", []Method{m("password", AAL1)}, AAL1},
		{"password then totp", []Method{m("password", AAL1), m("totp", AAL2)}, AAL2},
		{"totp then password", []Method{m("totp", AAL2), m("password", AAL1)}, AAL2},
		{"a second factor alone falls back to aal1", []Method{m("totp", AAL2)}, AAL1},
		{"two first factors", []Method{m("password", AAL1), m("oidc", AAL1)}, AAL1},
		{"code that proved aal2 with a password", []Method{m("password", AAL1), m("code", AAL2)}, AAL2},
		{"legacy password and totp", []Method{m("password", ""), m("totp", "")}, AAL2},
		{"legacy oidc and lookup secret", []Method{m("oidc", ""), m("lookup_secret", "")}, AAL2},
		{"legacy code recovery and webauthn", []Method{m("code_recovery", ""), m("webauthn", "")}, AAL2},
		{"legacy 0.6 session and totp", []Method{m("v0.6_legacy_session", ""), m("totp", AAL2)}, AAL2},
		{"legacy link recovery proves no first factor", []Method{m("link_recovery", ""), m("totp", AAL2)}, AAL1},
		{"legacy link recovery alone", []Method{m("link_recovery", "")}, AAL1},
		{"unknown legacy method and totp", []Method{m("passkey", ""), m("totp", "")}, AAL1},
		{"identifier_first's aal0 entry", []Method{m("identifier_first", AAL0)}, AAL1},
	} {
		if got := AALOf(tc.methods); got != tc.want {
			t.Errorf("%s: AALOf = %s; want %s", tc.name, got, tc.want)
		}
	}
}

// secondFactor gives identity i a TOTP credential through the identity
// API, as the TOTP method will in settings.
func (f *fixture) secondFactor(t *testing.T, i *identity.Identity) {
	t.Helper()
	err := f.s.Write(ctx, func(q *store.Q) error {
		return f.ids.PutCredential(ctx, q, i.ID, &identity.Credential{Type: identity.CredentialsTOTP,
			Config: json.RawMessage(`{"totp_url":"otpauth://totp/Lanyard:aal@example.org?secret=JBSWY3DPEHPK3PXP"}`)})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) write(t *testing.T, fn func(q *store.Q) error) {
	t.Helper()
	if err := f.s.Write(ctx, fn); err != nil {
		t.Fatal(err)
	}
}

func TestIssueRecordsTheLevelProved(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		i := f.identity(t, "issue-aal@example.org")
		for _, bad := range []string{"", AAL0, "aal3", "AAL1"} {
			err := s.Write(ctx, func(q *store.Q) error {
				_, err := f.m.Issue(ctx, q, i, "password", bad, nil)
				return err
			})
			if err == nil {
				t.Errorf("Issue with level %q succeeded", bad)
			}
		}
		var sess *Session
		f.write(t, func(q *store.Q) (err error) {
			sess, err = f.m.Issue(ctx, q, i, "webauthn", AAL2, nil)
			return err
		})
		got, err := f.m.ByToken(ctx, sess.Token)
		if err != nil {
			t.Fatal(err)
		}
		// A second factor without a first one is aal1, as in Kratos.
		if got.AAL != AAL1 || len(got.Methods) != 1 || got.Methods[0].AAL != AAL2 {
			t.Errorf("session = %s %+v", got.AAL, got.Methods)
		}
	})
}

func TestAddMethodAndStepUp(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		i := f.identity(t, "add@example.org")
		issued := f.issue(t, i, nil)
		// An hour-old sign-in, so that a moved authenticated_at shows.
		past := issued.AuthenticatedAt.Add(-time.Hour)
		f.write(t, func(q *store.Q) error {
			_, err := q.Exec(ctx, `UPDATE sessions SET authenticated_at = $2 WHERE id = $1`, issued.ID, past)
			return err
		})
		sess, err := f.m.ByToken(ctx, issued.Token)
		if err != nil {
			t.Fatal(err)
		}

		// A second factor set up in settings: aal2 at once, the sign-in
		// no fresher.
		f.write(t, func(q *store.Q) error { return f.m.AddMethod(ctx, q, sess, "totp", AAL2) })
		if sess.AAL != AAL2 || len(sess.Methods) != 2 {
			t.Errorf("in memory: %s %+v", sess.AAL, sess.Methods)
		}
		got, err := f.m.ByToken(ctx, issued.Token)
		if err != nil {
			t.Fatal(err)
		}
		if got.AAL != AAL2 || len(got.Methods) != 2 || got.Methods[1].Method != "totp" || got.Methods[1].AAL != AAL2 {
			t.Errorf("stored: %s %+v", got.AAL, got.Methods)
		}
		if !got.AuthenticatedAt.Equal(past) || !sess.AuthenticatedAt.Equal(past) {
			t.Errorf("AddMethod moved authenticated_at from %v to %v", past, got.AuthenticatedAt)
		}
		var raw string
		if err := s.Read().QueryRow(ctx, `SELECT aal FROM sessions WHERE id = $1`, sess.ID).Scan(&raw); err != nil || raw != AAL2 {
			t.Errorf("aal column = %q, %v", raw, err)
		}

		// A refresh with the password keeps aal2 (the totp entry stays)
		// and does make the sign-in fresh.
		f.write(t, func(q *store.Q) error { return f.m.Reauthenticate(ctx, q, got, "password", AAL1) })
		again, err := f.m.ByToken(ctx, issued.Token)
		if err != nil {
			t.Fatal(err)
		}
		if again.AAL != AAL2 || len(again.Methods) != 3 || !again.AuthenticatedAt.After(past) {
			t.Errorf("after a refresh: %s %+v at %v", again.AAL, again.Methods, again.AuthenticatedAt)
		}

		if err := s.Write(ctx, func(q *store.Q) error { return f.m.AddMethod(ctx, q, again, "totp", "aal9") }); err == nil {
			t.Error("AddMethod accepted level aal9")
		}
		gone := &Session{ID: i.ID} // no session has this id
		if err := s.Write(ctx, func(q *store.Q) error { return f.m.AddMethod(ctx, q, gone, "totp", AAL2) }); err != ErrSessionNotFound {
			t.Errorf("AddMethod on a missing session: %v", err)
		}
	})
}

// Methods added at the same time from copies of one session all land:
// each append reads the list after the one before it committed.
func TestAddMethodConcurrent(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		sess := f.issue(t, f.identity(t, "race@example.org"), nil)
		const n = 8
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for k := 0; k < n; k++ {
			stale := *sess
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- s.Write(ctx, func(q *store.Q) error { return f.m.AddMethod(ctx, q, &stale, "lookup_secret", AAL2) })
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		got, err := f.m.ByToken(ctx, sess.Token)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Methods) != n+1 || got.AAL != AAL2 {
			t.Errorf("%d methods after %d concurrent appends; want %d", len(got.Methods), n, n+1)
		}
	})
}

func TestSatisfiesAAL(t *testing.T) {
	f := newFixture(t, nil)
	plain := &identity.Identity{Credentials: map[string]*identity.Credential{
		"password": {Type: "password", Identifiers: []string{"a@x.org"}, Config: json.RawMessage(`{"hashed_password":"h"}`)}}}
	twoFactor := &identity.Identity{Credentials: map[string]*identity.Credential{
		"password":      plain.Credentials["password"],
		"lookup_secret": {Type: "lookup_secret", Config: json.RawMessage(`{"recovery_codes":[{"code":"x"}]}`)}}}
	for _, tc := range []struct {
		aal      string
		i        *identity.Identity
		required string
		want     bool
	}{
		{AAL1, plain, RequireHighestAvailable, true},
		{AAL1, plain, "", true},
		{AAL1, plain, RequireAAL1, true},
		{AAL1, twoFactor, RequireHighestAvailable, false},
		{AAL1, twoFactor, "", false},
		{AAL1, twoFactor, RequireAAL1, true},
		{AAL2, twoFactor, RequireHighestAvailable, true},
		{AAL2, plain, RequireAAL1, true},
		{AAL0, plain, RequireAAL1, false},
		{AAL0, plain, RequireHighestAvailable, false},
	} {
		s := &Session{AAL: tc.aal, Identity: tc.i}
		if got := f.m.SatisfiesAAL(s, tc.required); got != tc.want {
			t.Errorf("%s session, second factor %v, required %q: %v; want %v", tc.aal, tc.i == twoFactor, tc.required, got, tc.want)
		}
	}
	if f.m.AvailableAAL(twoFactor) != AAL2 || f.m.AvailableAAL(plain) != AAL1 {
		t.Error("AvailableAAL")
	}
}

// errorBody is Kratos's session_aal2_required answer.
type errorBody struct {
	Error struct {
		ID      string         `json:"id"`
		Code    int            `json:"code"`
		Status  string         `json:"status"`
		Reason  string         `json:"reason"`
		Message string         `json:"message"`
		Details map[string]any `json:"details"`
	} `json:"error"`
	RedirectBrowserTo string `json:"redirect_browser_to"`
}

func checkAAL2Required(t *testing.T, what string, w *httptest.ResponseRecorder, wantURL string) {
	t.Helper()
	var body errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("%s: %d %s", what, w.Code, w.Body)
	}
	e := body.Error
	if w.Code != 403 || e.ID != "session_aal2_required" || e.Code != 403 || e.Status != "Forbidden" || e.Reason == "" || e.Message == "" {
		t.Errorf("%s: %d %s", what, w.Code, w.Body)
	}
	if body.RedirectBrowserTo != wantURL || e.Details["redirect_browser_to"] != wantURL {
		t.Errorf("%s: redirect_browser_to %q, details %v; want %q", what, body.RedirectBrowserTo, e.Details, wantURL)
	}
	if w.Header().Get("X-Kratos-Authenticated-Identity-Id") != "" {
		t.Errorf("%s: the identity header is set on a refusal", what)
	}
}

func TestWhoamiRequiredAAL(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		const public = "https://auth.example.com/"
		const stepUp = public + "self-service/login/browser?aal=aal2"
		f := newFixture(t, s)
		lenient, err := NewManager(s, f.ids, Config{Lifespan: time.Hour, Secrets: []string{"cookie-secret-0123456789"}, WhoamiRequiredAAL: RequireAAL1})
		if err != nil {
			t.Fatal(err)
		}
		strict, lax := http.NewServeMux(), http.NewServeMux()
		NewPublicHandler(f.m, &fakeRedirector{}, public).Register(strict)
		NewMySessionsHandler(f.m, public).Register(strict)
		NewPublicHandler(lenient, &fakeRedirector{}, public).Register(lax)
		NewMySessionsHandler(lenient, public).Register(lax)

		i := f.identity(t, "aal@example.org")
		sess := f.issue(t, i, nil)
		other := f.issue(t, i, nil)
		for _, path := range []string{"/sessions/whoami", "/sessions"} {
			if w := serveMux(strict, "GET", path, sess.Token); w.Code != 200 {
				t.Errorf("%s without a second factor: %d %s", path, w.Code, w.Body)
			}
		}

		f.secondFactor(t, i)
		for _, method := range []string{"GET", "POST", "DELETE"} {
			checkAAL2Required(t, method+" whoami", serveMux(strict, method, "/sessions/whoami", sess.Token), stepUp)
		}
		checkAAL2Required(t, "GET /sessions", serveMux(strict, "GET", "/sessions", sess.Token), stepUp)
		for _, path := range []string{"/sessions/whoami", "/sessions"} {
			if w := serveMux(lax, "GET", path, sess.Token); w.Code != 200 {
				t.Errorf("%s under aal1: %d %s", path, w.Code, w.Body)
			}
		}
		// Revoking other sessions needs no second factor, as in Kratos.
		if w := serveMux(strict, "DELETE", "/sessions/"+other.ID.String(), sess.Token); w.Code != 204 {
			t.Errorf("revoking another session: %d %s", w.Code, w.Body)
		}

		// Once the session used its second factor, whoami answers again.
		f.write(t, func(q *store.Q) error { return f.m.AddMethod(ctx, q, sess, "totp", AAL2) })
		w := serveMux(strict, "GET", "/sessions/whoami", sess.Token)
		var v View
		_ = json.Unmarshal(w.Body.Bytes(), &v)
		if w.Code != 200 || v.AAL != AAL2 || len(v.AuthenticationMethods) != 2 {
			t.Errorf("whoami after the second factor: %d %s", w.Code, w.Body)
		}
		if w := serveMux(strict, "GET", "/sessions", sess.Token); w.Code != 200 {
			t.Errorf("GET /sessions after the second factor: %d %s", w.Code, w.Body)
		}
	})
}
