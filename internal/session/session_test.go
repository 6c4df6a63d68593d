package session

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/identity/identitytest"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

var ctx = context.Background()

var sessionTokenRE = regexp.MustCompile(`^ory_st_[A-Za-z0-9]{32}$`)

func TestRandomTokenFormat(t *testing.T) {
	seen := map[string]bool{}
	for k := 0; k < 1000; k++ {
		tok := randomToken("ory_st_", 32)
		if !sessionTokenRE.MatchString(tok) {
			t.Fatalf("token %q is not ory_st_ and 32 alphanumerics", tok)
		}
		if seen[tok] {
			t.Fatalf("token %q repeated", tok)
		}
		seen[tok] = true
	}
	if got := randomToken("", 5); len(got) != 5 {
		t.Errorf("randomToken(\"\", 5) = %q", got)
	}
}

// Every letter of the alphabet is equally likely: a modulo bias would give
// the first 256 mod 62 = 8 letters about 25% more weight.
func TestRandomTokenUniform(t *testing.T) {
	counts := map[rune]int{}
	const tokens, n = 4000, 64
	for k := 0; k < tokens; k++ {
		for _, c := range randomToken("", n) {
			counts[c]++
		}
	}
	if len(counts) != len(tokenAlphabet) {
		t.Fatalf("%d distinct letters; want %d", len(counts), len(tokenAlphabet))
	}
	expected := float64(tokens*n) / float64(len(tokenAlphabet))
	chi2 := 0.0
	for _, c := range tokenAlphabet {
		d := float64(counts[c]) - expected
		chi2 += d * d / expected
	}
	// 61 degrees of freedom: P(chi2 > 130) is below 1e-6; a modulo bias
	// would push it into the thousands.
	if chi2 > 130 {
		t.Errorf("chi-square %.1f over %d letters: the choice is not uniform", chi2, len(tokenAlphabet))
	}
	first, last := counts['a'], counts['9']
	if r := float64(first) / float64(last); math.Abs(r-1) > 0.1 {
		t.Errorf("'a' appears %d times, '9' %d times", first, last)
	}
}

func TestCookieCodec(t *testing.T) {
	c, err := newCookieCodec([]string{"first-secret-0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	v := c.encode("ory_st_abc", exp)
	if strings.Contains(v, "ory_st_abc") {
		t.Error("the cookie shows the token")
	}
	if v == c.encode("ory_st_abc", exp) {
		t.Error("two seals of one token are equal: the nonce is not fresh")
	}
	if tok, ok := c.decode(v); !ok || tok != "ory_st_abc" {
		t.Fatalf("decode = %q, %v", tok, ok)
	}

	raw, _ := base64.RawURLEncoding.DecodeString(v)
	for _, pos := range []int{0, len(raw) / 2, len(raw) - 1} {
		bad := append([]byte(nil), raw...)
		bad[pos] ^= 0x01
		if tok, ok := c.decode(base64.RawURLEncoding.EncodeToString(bad)); ok {
			t.Errorf("tampered byte %d accepted: %q", pos, tok)
		}
	}
	for _, garbage := range []string{"", "!!!", "AAAA", v[:10], v + "A", base64.RawURLEncoding.EncodeToString(make([]byte, 100))} {
		if _, ok := c.decode(garbage); ok {
			t.Errorf("decode(%q) succeeded", garbage)
		}
	}

	if _, ok := c.decode(c.encode("ory_st_old", time.Now().Add(-2*time.Second))); ok {
		t.Error("an expired cookie was accepted")
	}

	other, _ := newCookieCodec([]string{"another-secret-0123456789"})
	if _, ok := other.decode(v); ok {
		t.Error("a cookie opened with another secret")
	}
	// Rotation: the new secret first, the old one still accepted.
	rotated, _ := newCookieCodec([]string{"another-secret-0123456789", "first-secret-0123456789"})
	if tok, ok := rotated.decode(v); !ok || tok != "ory_st_abc" {
		t.Errorf("rotated codec does not open an old cookie: %q, %v", tok, ok)
	}
	if _, ok := c.decode(rotated.encode("ory_st_new", exp)); ok {
		t.Error("new cookies are sealed with the old secret, not the first one")
	}
	if tok, ok := other.decode(rotated.encode("ory_st_new", exp)); !ok || tok != "ory_st_new" {
		t.Error("new cookies are not sealed with the first secret")
	}

	if _, err := newCookieCodec(nil); err == nil {
		t.Error("a codec without secrets was made")
	}
}

type fixture struct {
	s   *store.Store
	ids *identity.Manager
	m   *Manager
}

func newFixture(t testing.TB, s *store.Store, secrets ...string) *fixture {
	t.Helper()
	ids, _ := identitytest.NewManager(t, s, "https://auth.example.com/")
	if len(secrets) == 0 {
		secrets = []string{"cookie-secret-0123456789"}
	}
	// On SQLite every test answers whoami through a cache, as a server does.
	m, err := NewManager(s, ids, Config{Lifespan: time.Hour, Secrets: secrets, WhoamiCache: NewWhoamiCache(s, 64<<20),
		Cookie: CookieConfig{Secure: true, SameSite: http.SameSiteLaxMode, Domain: "example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{s: s, ids: ids, m: m}
}

func (f *fixture) identity(t testing.TB, email string) *identity.Identity {
	t.Helper()
	i, err := f.ids.Create(ctx, identity.Draft{Traits: json.RawMessage(`{"email":"` + email + `"}`)})
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func (f *fixture) issue(t testing.TB, i *identity.Identity, r *http.Request) *Session {
	t.Helper()
	var s *Session
	err := f.s.Write(ctx, func(q *store.Q) (err error) {
		s, err = f.m.Issue(ctx, q, i, "password", AAL1, r)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestIssueAndFind(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		i := f.identity(t, "who@example.org")
		r := httptest.NewRequest("POST", "/self-service/login", nil)
		r.RemoteAddr = "203.0.113.7:5555"
		r.Header.Set("User-Agent", "test-agent/1.0")
		issued := f.issue(t, i, r)
		if !sessionTokenRE.MatchString(issued.Token) {
			t.Errorf("token %q", issued.Token)
		}
		if !issued.ExpiresAt.Equal(issued.IssuedAt.Add(time.Hour)) || issued.AAL != AAL1 {
			t.Errorf("issued %+v", issued)
		}

		got, err := f.m.ByToken(ctx, issued.Token)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != issued.ID || got.IdentityID != i.ID || got.Identity == nil || got.Identity.ID != i.ID || !got.Active {
			t.Errorf("ByToken = %+v", got)
		}
		if got.Token != "" {
			t.Error("a loaded session carries the token")
		}
		if !got.ExpiresAt.Equal(issued.ExpiresAt) || !got.AuthenticatedAt.Equal(issued.AuthenticatedAt) {
			t.Errorf("times changed in storage: %v / %v", got.ExpiresAt, issued.ExpiresAt)
		}
		if len(got.Methods) != 1 || got.Methods[0].Method != "password" || got.Methods[0].AAL != AAL1 {
			t.Errorf("methods = %+v", got.Methods)
		}
		if len(got.Devices) != 1 || got.Devices[0].IPAddress == nil || *got.Devices[0].IPAddress != "203.0.113.7" ||
			got.Devices[0].UserAgent == nil || *got.Devices[0].UserAgent != "test-agent/1.0" {
			t.Errorf("devices = %+v", got.Devices)
		}

		// Stored hashed, never in the clear.
		var n int
		if err := s.Read().QueryRow(ctx, `SELECT count(*) FROM sessions WHERE token_hash = $1`, issued.Token).Scan(&n); err != nil || n != 0 {
			t.Errorf("the token is stored in the clear (%d, %v)", n, err)
		}
		if err := s.Read().QueryRow(ctx, `SELECT count(*) FROM sessions WHERE token_hash = $1`, hashToken(issued.Token)).Scan(&n); err != nil || n != 1 {
			t.Errorf("the token hash is not stored (%d, %v)", n, err)
		}

		for _, tok := range []string{"", "ory_st_unknown", issued.Token + "x", strings.ToUpper(issued.Token)} {
			if _, err := f.m.ByToken(ctx, tok); err != ErrNoSession {
				t.Errorf("ByToken(%q) = %v; want ErrNoSession", tok, err)
			}
		}

		if err := s.Write(ctx, func(q *store.Q) error { return f.m.Revoke(ctx, q, issued.ID) }); err != nil {
			t.Fatal(err)
		}
		if _, err := f.m.ByToken(ctx, issued.Token); err != ErrNoSession {
			t.Errorf("ByToken after Revoke = %v; want ErrNoSession", err)
		}
	})
}

func TestTokenFromRequest(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		sess := f.issue(t, f.identity(t, "req@example.org"), nil)
		w := httptest.NewRecorder()
		f.m.SetCookie(w, sess)
		cookies := w.Result().Cookies()
		if len(cookies) != 1 {
			t.Fatalf("Set-Cookie: %v", cookies)
		}
		c := cookies[0]
		if c.Name != "ory_kratos_session" || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "example.com" {
			t.Errorf("cookie = %+v", c)
		}
		if c.MaxAge != 0 || !c.Expires.IsZero() {
			t.Errorf("non-persistent cookie has an expiry: %+v", c)
		}
		if strings.Contains(c.Value, sess.Token) {
			t.Error("the cookie holds the token in the clear")
		}

		requests := map[string]func(r *http.Request){
			"X-Session-Token": func(r *http.Request) { r.Header.Set("X-Session-Token", sess.Token) },
			"bearer":          func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+sess.Token) },
			"bearer lower":    func(r *http.Request) { r.Header.Set("Authorization", "bearer  "+sess.Token) },
			"cookie":          func(r *http.Request) { r.AddCookie(c) },
		}
		for name, set := range requests {
			r := httptest.NewRequest("GET", "/sessions/whoami", nil)
			set(r)
			if got := f.m.TokenFrom(r); got != sess.Token {
				t.Errorf("%s: TokenFrom = %q", name, got)
			}
			found, err := f.m.FromRequest(ctx, r)
			if err != nil || found.ID != sess.ID {
				t.Errorf("%s: FromRequest = %v", name, err)
			}
		}
		for name, set := range map[string]func(r *http.Request){
			"nothing":       func(*http.Request) {},
			"basic auth":    func(r *http.Request) { r.SetBasicAuth("u", "p") },
			"forged cookie": func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "ory_kratos_session", Value: sess.Token}) },
		} {
			r := httptest.NewRequest("GET", "/sessions/whoami", nil)
			set(r)
			if got := f.m.TokenFrom(r); got != "" {
				t.Errorf("%s: TokenFrom = %q", name, got)
			}
			if _, err := f.m.FromRequest(ctx, r); err != ErrNoSession {
				t.Errorf("%s: FromRequest = %v", name, err)
			}
		}

		w = httptest.NewRecorder()
		f.m.ClearCookie(w)
		if cl := w.Result().Cookies(); len(cl) != 1 || cl[0].MaxAge >= 0 || cl[0].Value != "" {
			t.Errorf("ClearCookie = %+v", cl)
		}

		f.m.cfg.Cookie.Persistent = true
		w = httptest.NewRecorder()
		f.m.SetCookie(w, sess)
		if pc := w.Result().Cookies()[0]; pc.MaxAge <= 0 || pc.MaxAge > 3600 || pc.Expires.IsZero() {
			t.Errorf("persistent cookie = %+v; want Max-Age within the lifespan", pc)
		}
	})
}

func TestExpiredAndDeactivated(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		i := f.identity(t, "state@example.org")
		expired := f.issue(t, i, nil)
		live := f.issue(t, i, nil)
		if err := s.Write(ctx, func(q *store.Q) error {
			_, err := q.Exec(ctx, `UPDATE sessions SET expires_at = $1 WHERE id = $2`, time.Now().Add(-time.Second), expired.ID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.m.ByToken(ctx, expired.Token); err != ErrNoSession {
			t.Errorf("expired session: %v; want ErrNoSession", err)
		}
		if _, err := f.m.ByToken(ctx, live.Token); err != nil {
			t.Fatalf("live session: %v", err)
		}

		// Deactivating the identity ends its sessions at once, even with
		// the identity cached.
		if _, err := f.ids.Replace(ctx, i.ID, identity.Draft{Traits: i.Traits, State: identity.StateInactive}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.m.ByToken(ctx, live.Token); err != ErrNoSession {
			t.Errorf("session of a deactivated identity: %v; want ErrNoSession", err)
		}
		if _, err := f.ids.Replace(ctx, i.ID, identity.Draft{Traits: i.Traits, State: identity.StateActive}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.m.ByToken(ctx, live.Token); err != nil {
			t.Errorf("session after reactivation: %v", err)
		}

		// A deleted identity takes its sessions with it.
		if err := f.ids.Delete(ctx, i.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.m.ByToken(ctx, live.Token); err != ErrNoSession {
			t.Errorf("session of a deleted identity: %v", err)
		}
	})
}

func TestIsValid(t *testing.T) {
	now := time.Now()
	active := &identity.Identity{State: identity.StateActive}
	cases := []struct {
		s    Session
		want bool
	}{
		{Session{Active: true, ExpiresAt: now.Add(time.Minute), Identity: active}, true},
		{Session{Active: true, ExpiresAt: now.Add(time.Minute)}, true},
		{Session{Active: false, ExpiresAt: now.Add(time.Minute), Identity: active}, false},
		{Session{Active: true, ExpiresAt: now, Identity: active}, false},
		{Session{Active: true, ExpiresAt: now.Add(time.Minute), Identity: &identity.Identity{State: identity.StateInactive}}, false},
	}
	for k, c := range cases {
		if got := c.s.IsValid(now); got != c.want {
			t.Errorf("case %d: IsValid = %v", k, got)
		}
	}
}

func TestLogoutToken(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		i := f.identity(t, "logout@example.org")
		a, b := f.issue(t, i, nil), f.issue(t, i, nil)
		lt := f.m.LogoutToken(a.Token)
		if !regexp.MustCompile(`^ory_lo_[A-Za-z0-9]{32}$`).MatchString(lt) {
			t.Errorf("logout token %q", lt)
		}
		if f.m.LogoutToken(a.Token) != lt {
			t.Error("the logout token is not stable")
		}
		if f.m.LogoutToken(b.Token) == lt {
			t.Error("two sessions share a logout token")
		}
		again := newFixture(t, s) // another server with the same secret
		if again.m.LogoutToken(a.Token) != lt {
			t.Error("the logout token differs between servers with one secret")
		}
		rotated := newFixture(t, s, "other-secret-0123456789")
		if rotated.m.LogoutToken(a.Token) != lt {
			t.Error("the logout token changed when the secrets were rotated")
		}

		sa, err := f.m.ByToken(ctx, a.Token)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.m.RevokeByLogoutToken(ctx, sa, a.Token, "ory_lo_wrong"); err != ErrLogoutTokenMismatch {
			t.Errorf("wrong logout token: %v", err)
		}
		if err := f.m.RevokeByLogoutToken(ctx, sa, a.Token, f.m.LogoutToken(b.Token)); err != ErrLogoutTokenMismatch {
			t.Errorf("another session's logout token: %v", err)
		}
		if err := f.m.RevokeByLogoutToken(ctx, sa, a.Token, lt); err != nil {
			t.Fatalf("RevokeByLogoutToken: %v", err)
		}
		if _, err := f.m.ByToken(ctx, a.Token); err != ErrNoSession {
			t.Errorf("session after logout: %v", err)
		}
		if _, err := f.m.ByToken(ctx, b.Token); err != nil {
			t.Errorf("the other session was revoked too: %v", err)
		}

		if err := f.m.RevokeByToken(ctx, b.Token); err != nil {
			t.Fatal(err)
		}
		if _, err := f.m.ByToken(ctx, b.Token); err != ErrNoSession {
			t.Errorf("after RevokeByToken: %v", err)
		}
		if err := f.m.RevokeByToken(ctx, b.Token); err != ErrNoSession {
			t.Errorf("RevokeByToken twice: %v", err)
		}
	})
}

func TestRevokeOthersAndReauthenticate(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		i, j := f.identity(t, "one@example.org"), f.identity(t, "two@example.org")
		keep, drop, foreign := f.issue(t, i, nil), f.issue(t, i, nil), f.issue(t, j, nil)
		err := s.Write(ctx, func(q *store.Q) error {
			if err := f.m.RevokeOthers(ctx, q, keep); err != nil {
				return err
			}
			return f.m.Reauthenticate(ctx, q, keep, "code", AAL1)
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.m.ByToken(ctx, drop.Token); err != ErrNoSession {
			t.Errorf("other session of the identity: %v", err)
		}
		if _, err := f.m.ByToken(ctx, foreign.Token); err != nil {
			t.Errorf("another identity's session was revoked: %v", err)
		}
		got, err := f.m.ByToken(ctx, keep.Token)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Methods) != 2 || got.Methods[1].Method != "code" || got.AuthenticatedAt.Before(keep.IssuedAt) {
			t.Errorf("after Reauthenticate: %+v", got)
		}
	})
}

func TestNewManagerDefaults(t *testing.T) {
	f := newFixture(t, nil)
	if f.m.CookieName() != "ory_kratos_session" || f.m.cfg.Cookie.Path != "/" {
		t.Errorf("defaults: %+v", f.m.cfg.Cookie)
	}
	m, err := NewManager(nil, f.ids, Config{Secrets: []string{"x"}})
	if err != nil || m.cfg.Lifespan != 24*time.Hour {
		t.Errorf("default lifespan %v, %v", m.cfg.Lifespan, err)
	}
	if _, err := NewManager(nil, f.ids, Config{}); err == nil {
		t.Error("NewManager without secrets succeeded")
	}
}

func TestView(t *testing.T) {
	f := newFixture(t, nil)
	now := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	s := &Session{Active: true, AAL: AAL1, ExpiresAt: now, IssuedAt: now, AuthenticatedAt: now,
		Identity: &identity.Identity{SchemaID: "default", State: identity.StateActive, Traits: json.RawMessage(`{}`),
			MetadataAdmin: json.RawMessage(`{"x":1}`)}}
	raw, _ := json.Marshal(f.m.View(s, false))
	var v map[string]any
	_ = json.Unmarshal(raw, &v)
	if v["authenticator_assurance_level"] != "aal1" || v["authentication_methods"] == nil || v["devices"] == nil {
		t.Errorf("view = %s; want empty lists, not null", raw)
	}
	iv, _ := v["identity"].(map[string]any)
	if iv["schema_url"] != "https://auth.example.com/schemas/ZGVmYXVsdA" || iv["metadata_admin"] != nil {
		t.Errorf("public view of the identity = %v", iv)
	}
	raw, _ = json.Marshal(f.m.View(s, true))
	if !strings.Contains(string(raw), `"metadata_admin":{"x":1}`) {
		t.Errorf("admin view = %s", raw)
	}
}

// fakeRedirector answers logout redirects without a flow kit.
type fakeRedirector struct{ browserErrors []error }

func (f *fakeRedirector) LogoutReturnTo(_ *http.Request, requested string) (string, error) {
	if requested == "" {
		return "https://app.example.com/", nil
	}
	if !strings.HasPrefix(requested, "https://app.example.com/") {
		return "", errors.New("return_to not allowed")
	}
	return requested, nil
}

func (f *fakeRedirector) BrowserError(w http.ResponseWriter, r *http.Request, err error) {
	f.browserErrors = append(f.browserErrors, err)
	http.Redirect(w, r, "https://ui.example.com/error", http.StatusSeeOther)
}

func TestPublicHandler(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		i := f.identity(t, "http@example.org")
		red := &fakeRedirector{}
		mux := http.NewServeMux()
		NewPublicHandler(f.m, red, "https://auth.example.com/").Register(mux)
		do := func(method, target string, set func(r *http.Request)) *httptest.ResponseRecorder {
			r := httptest.NewRequest(method, target, nil)
			if set != nil {
				set(r)
			}
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, r)
			return w
		}

		w := do("GET", "/sessions/whoami", nil)
		if w.Code != 401 {
			t.Errorf("whoami without a session: %d", w.Code)
		}
		sess := f.issue(t, i, nil)
		withToken := func(r *http.Request) { r.Header.Set("X-Session-Token", sess.Token) }
		w = do("POST", "/sessions/whoami", withToken)
		if w.Code != 200 || w.Header().Get("X-Kratos-Authenticated-Identity-Id") != i.ID.String() || !strings.Contains(w.Body.String(), sess.ID.String()) {
			t.Errorf("whoami: %d %s", w.Code, w.Body)
		}

		w = do("GET", "/self-service/logout/browser", nil)
		if w.Code != 401 {
			t.Errorf("logout URL without a session: %d", w.Code)
		}
		w = do("GET", "/self-service/logout/browser?return_to=https://evil.com/", withToken)
		if w.Code < 400 {
			t.Errorf("logout URL with a forbidden return_to: %d", w.Code)
		}
		w = do("GET", "/self-service/logout/browser?return_to=https://app.example.com/bye", withToken)
		var lo struct {
			URL   string `json:"logout_url"`
			Token string `json:"logout_token"`
		}
		_ = json.Unmarshal(w.Body.Bytes(), &lo)
		if w.Code != 200 || lo.Token != f.m.LogoutToken(sess.Token) ||
			!strings.HasPrefix(lo.URL, "https://auth.example.com/self-service/logout?") || !strings.Contains(lo.URL, "token="+lo.Token) {
			t.Fatalf("logout URL: %d %s", w.Code, w.Body)
		}

		w = do("GET", "/self-service/logout?token=wrong", withToken)
		if w.Code != 303 || len(red.browserErrors) != 1 {
			t.Errorf("browser logout with a wrong token: %d, errors %v", w.Code, red.browserErrors)
		}
		asJSON := func(r *http.Request) { r.Header.Set("Accept", "application/json") }
		w = do("GET", "/self-service/logout?token=wrong", func(r *http.Request) { withToken(r); asJSON(r) })
		if w.Code != 403 {
			t.Errorf("JSON logout with a wrong token: %d", w.Code)
		}
		w = do("GET", strings.TrimPrefix(lo.URL, "https://auth.example.com"), asJSON)
		if w.Code != 401 {
			t.Errorf("JSON logout without the session: %d", w.Code)
		}
		w = do("GET", strings.TrimPrefix(lo.URL, "https://auth.example.com"), withToken)
		if w.Code != 303 || w.Header().Get("Location") != "https://app.example.com/bye" {
			t.Errorf("logout: %d → %q", w.Code, w.Header().Get("Location"))
		}
		if cl := w.Result().Cookies(); len(cl) != 1 || cl[0].MaxAge >= 0 {
			t.Errorf("logout did not clear the cookie: %v", cl)
		}
		if _, err := f.m.ByToken(ctx, sess.Token); err != ErrNoSession {
			t.Errorf("session after logout: %v", err)
		}

		native := f.issue(t, i, nil)
		nativeLogout := func(body string) *httptest.ResponseRecorder {
			r := httptest.NewRequest("DELETE", "/self-service/logout/api", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, r)
			return w
		}
		if w := nativeLogout(`{}`); w.Code != 400 {
			t.Errorf("native logout without a token: %d", w.Code)
		}
		if w := nativeLogout(`{"session_token":"ory_st_nope"}`); w.Code != 403 {
			t.Errorf("native logout with an unknown token: %d", w.Code)
		}
		if w := nativeLogout(`{"session_token":"` + native.Token + `"}`); w.Code != 204 {
			t.Errorf("native logout: %d %s", w.Code, w.Body)
		}
		if _, err := f.m.ByToken(ctx, native.Token); err != ErrNoSession {
			t.Errorf("session after native logout: %v", err)
		}
		if w := nativeLogout(`{"session_token":"` + native.Token + `"}`); w.Code != 204 {
			t.Errorf("native logout again: %d; want 204 (idempotent)", w.Code)
		}
	})
}
