package ui

import (
	"context"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/session"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

// issue makes another session of i, used from a device with userAgent,
// signed in at authedAt.
func (e *env) issue(t *testing.T, i *identity.Identity, userAgent string, authedAt time.Time) *session.Session {
	t.Helper()
	ctx := context.Background()
	r := httptest.NewRequest(http.MethodGet, e.public, nil)
	r.Header.Set("User-Agent", userAgent)
	var s *session.Session
	err := e.store.Write(ctx, func(q *store.Q) error {
		var err error
		if s, err = e.sessions.Issue(ctx, q, i, "password", session.AAL1, r); err != nil {
			return err
		}
		_, err = q.Exec(ctx, "UPDATE sessions SET authenticated_at = $1 WHERE id = $2", authedAt.UTC(), s.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// active reports whether the session holding token still signs in.
func (e *env) active(t *testing.T, token string) bool {
	t.Helper()
	_, err := e.sessions.ByToken(context.Background(), token)
	if errors.Is(err, session.ErrNoSession) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

// post submits form to path (relative to the public URL) as b, without
// following redirects.
func (e *env) post(t *testing.T, b *browser, path string, form url.Values) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.public+strings.TrimPrefix(path, "/"), strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range b.header {
		req.Header[k] = v
	}
	for _, c := range b.cookies {
		req.AddCookie(c)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return reply{status: res.StatusCode, header: res.Header, body: string(raw)}
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// devicesPage opens /ui/sessions as b, keeps the CSRF cookie it sets and
// answers the page and its form's token.
func (e *env) devicesPage(t *testing.T, b *browser, query string) (reply, string) {
	t.Helper()
	p := e.get(t, b, "ui/sessions"+query)
	if p.status != http.StatusOK {
		t.Fatalf("ui/sessions: status %d: %s", p.status, p.body)
	}
	b.cookies = append(b.cookies, (&http.Response{Header: p.header}).Cookies()...)
	m := csrfField.FindStringSubmatch(p.body)
	if m == nil {
		return p, ""
	}
	return p, html.UnescapeString(m[1])
}

// devices is a signed-in browser of Ada with two more sessions of hers
// and one of Bob's.
type devices struct {
	b                   *browser
	ada                 *identity.Identity
	current             *session.Session
	phone, laptop, bobs *session.Session
}

func newDevices(t *testing.T, e *env) devices {
	t.Helper()
	d := devices{b: &browser{header: http.Header{}}}
	now := time.Now()
	ada, err := e.ids.Create(context.Background(), identity.Draft{Traits: []byte(`{"email":"ada@example.org"}`)})
	if err != nil {
		t.Fatal(err)
	}
	d.ada = ada
	d.laptop = e.issue(t, ada, "Laptop <Firefox>", now.Add(-48*time.Hour))
	d.current = e.issue(t, ada, "This browser", now.Add(-time.Hour))
	d.phone = e.issue(t, ada, "Phone Safari", now.Add(-2*time.Hour))
	bob, err := e.ids.Create(context.Background(), identity.Draft{Traits: []byte(`{"email":"bob@example.org"}`)})
	if err != nil {
		t.Fatal(err)
	}
	d.bobs = e.issue(t, bob, "Bob's device", now)
	d.b.header.Set("X-Session-Token", d.current.Token)
	return d
}

func TestSessionsPageListsTheIdentitysSessions(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s, Options{})
		d := newDevices(t, e)
		p, token := e.devicesPage(t, d.b, "")
		checkPage(t, "sessions", p)
		dump(t, "sessions", p)
		if token == "" {
			t.Fatal("no csrf_token on the page")
		}
		mustContain(t, "sessions", p.body,
			"<title>Your devices · Lanyard</title>",
			`<strong>This browser</strong> <span class="badge">This device</span>`,
			`<strong>Laptop &lt;Firefox&gt;</strong>`,
			`<dt>IP address</dt><dd>192.0.2.1</dd>`,
			`<dd data-aal="aal1">One factor</dd>`,
			`<dt>Signed in with</dt><dd>Password</dd>`,
			`<form class="revoke" action="`+e.public+`ui/sessions/revoke" method="POST">`,
			`<input type="hidden" name="session_id" value="`+d.phone.ID.String()+`">`,
			`<input type="hidden" name="session_id" value="`+d.laptop.ID.String()+`">`,
			`<form class="revoke-others" action="`+e.public+`ui/sessions/revoke-others" method="POST">`,
			`<time datetime="`+d.current.ExpiresAt.UTC().Format(time.RFC3339)+`">`,
		)
		// Newest first, and none of Bob's.
		cur, phone, laptop := strings.Index(p.body, "This browser"), strings.Index(p.body, "Phone Safari"), strings.Index(p.body, "Laptop &lt;")
		if cur < 0 || phone < cur || laptop < phone {
			t.Errorf("not newest first: %d %d %d", cur, phone, laptop)
		}
		if strings.Contains(p.body, "Bob") || strings.Contains(p.body, d.bobs.ID.String()) {
			t.Error("another identity's session is listed")
		}
		if strings.Contains(p.body, `name="session_id" value="`+d.current.ID.String()+`"`) {
			t.Error("the current session is offered for revocation")
		}
		for _, secret := range []string{d.current.Token, d.phone.Token, e.sessions.LogoutToken(d.phone.Token)} {
			if strings.Contains(p.body, secret) {
				t.Error("the page shows a session's secret")
			}
		}
		// A session of one device only: nothing to revoke.
		solo := &browser{header: http.Header{}}
		e.signIn(t, solo, "solo@example.org")
		p, _ = e.devicesPage(t, solo, "")
		mustContain(t, "solo", p.body, "No other device is signed in.")
		if strings.Contains(p.body, "revoke-others") || strings.Contains(p.body, `class="revoke"`) {
			t.Error("a lone session is offered revocation")
		}
	})
}

func TestSessionsPageSignedOut(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s, Options{})
		p := e.get(t, nil, "ui/sessions")
		want := e.public + "ui/login?" + query("return_to", e.public+"ui/sessions")
		if p.status != http.StatusSeeOther || p.header.Get("Location") != want {
			t.Fatalf("signed out: %d %q, want 303 %q", p.status, p.header.Get("Location"), want)
		}
		for _, path := range []string{"ui/sessions/revoke", "ui/sessions/revoke-others"} {
			if got := e.get(t, nil, path).status; got != http.StatusMethodNotAllowed {
				t.Errorf("GET %s: %d, want 405", path, got)
			}
		}
	})
}

func TestRevokeOneSession(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s, Options{})
		d := newDevices(t, e)
		_, token := e.devicesPage(t, d.b, "")
		p := e.post(t, d.b, "ui/sessions/revoke", url.Values{"csrf_token": {token}, "session_id": {d.phone.ID.String()}})
		if p.status != http.StatusSeeOther || p.header.Get("Location") != e.public+"ui/sessions?revoked=one" {
			t.Fatalf("revoke: %d %q: %s", p.status, p.header.Get("Location"), p.body)
		}
		if e.active(t, d.phone.Token) {
			t.Error("the revoked session still signs in")
		}
		for _, other := range []*session.Session{d.current, d.laptop, d.bobs} {
			if !e.active(t, other.Token) {
				t.Errorf("session %s was revoked too", other.ID)
			}
		}
		after, _ := e.devicesPage(t, d.b, "?revoked=one")
		mustContain(t, "after", after.body, `<p class="msg msg-success" id="sessions-notice" role="status">The device was signed out.</p>`)
		if strings.Contains(after.body, "Phone Safari") {
			t.Error("the revoked session is still listed")
		}
		// Revoking it again is no error: the form may be sent twice.
		p = e.post(t, d.b, "ui/sessions/revoke", url.Values{"csrf_token": {token}, "session_id": {d.phone.ID.String()}})
		if p.status != http.StatusSeeOther {
			t.Errorf("second revoke: %d", p.status)
		}
	})
}

func TestRevokeOtherSessions(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s, Options{})
		d := newDevices(t, e)
		_, token := e.devicesPage(t, d.b, "")
		p := e.post(t, d.b, "ui/sessions/revoke-others", url.Values{"csrf_token": {token}})
		if p.status != http.StatusSeeOther || p.header.Get("Location") != e.public+"ui/sessions?revoked=others" {
			t.Fatalf("revoke others: %d %q: %s", p.status, p.header.Get("Location"), p.body)
		}
		if e.active(t, d.phone.Token) || e.active(t, d.laptop.Token) {
			t.Error("another session still signs in")
		}
		if !e.active(t, d.current.Token) || !e.active(t, d.bobs.Token) {
			t.Error("the current session or another identity's was revoked")
		}
		after, _ := e.devicesPage(t, d.b, "?revoked=others")
		mustContain(t, "after", after.body, "All other devices were signed out.", "No other device is signed in.")
	})
}

func TestRevokeRefusesWithoutCSRF(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s, Options{})
		d := newDevices(t, e)
		_, token := e.devicesPage(t, d.b, "")
		noCookie := &browser{header: d.b.header}
		// Another browser's valid pair: its token does not match this cookie.
		other := &browser{header: http.Header{}}
		e.signIn(t, other, "eve@example.org")
		_, foreign := e.devicesPage(t, other, "")
		for name, tc := range map[string]struct {
			b     *browser
			token string
		}{
			"no token":      {d.b, ""},
			"wrong token":   {d.b, foreign},
			"garbage token": {d.b, "not-a-token"},
			"no cookie":     {noCookie, token},
		} {
			for _, path := range []string{"ui/sessions/revoke", "ui/sessions/revoke-others"} {
				p := e.post(t, tc.b, path, url.Values{"csrf_token": {tc.token}, "session_id": {d.phone.ID.String()}})
				if p.status != http.StatusForbidden {
					t.Errorf("%s %s: status %d, want 403", name, path, p.status)
					continue
				}
				checkPage(t, name, p)
				mustContain(t, name, p.body, "Error 403")
			}
		}
		for _, x := range []*session.Session{d.current, d.phone, d.laptop} {
			if !e.active(t, x.Token) {
				t.Errorf("session %s was revoked without a valid CSRF token", x.ID)
			}
		}
	})
}

func TestRevokeRefusesAnotherIdentitysSession(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s, Options{})
		d := newDevices(t, e)
		_, token := e.devicesPage(t, d.b, "")
		for name, id := range map[string]string{
			"another identity's": d.bobs.ID.String(),
			"the current one":    d.current.ID.String(),
			"unknown":            "8d3e1c52-2f4e-4b7e-9d51-6a2b8f0c1d2e",
			"malformed":          "'; DROP TABLE sessions; --",
			"empty":              "",
		} {
			p := e.post(t, d.b, "ui/sessions/revoke", url.Values{"csrf_token": {token}, "session_id": {id}})
			if p.status != http.StatusNotFound {
				t.Errorf("%s: status %d, want 404", name, p.status)
				continue
			}
			checkPage(t, name, p)
		}
		for _, x := range []*session.Session{d.bobs, d.current, d.phone, d.laptop} {
			if !e.active(t, x.Token) {
				t.Errorf("session %s was revoked", x.ID)
			}
		}
		// Too large a form is refused as well.
		p := e.post(t, d.b, "ui/sessions/revoke", url.Values{"csrf_token": {token}, "session_id": {strings.Repeat("x", 8<<10)}})
		if p.status != http.StatusRequestEntityTooLarge {
			t.Errorf("large form: status %d", p.status)
		}
	})
}

func TestSessionsPageAsksForTheSecondFactor(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s, Options{})
		d := newDevices(t, e)
		// aal0 stands for a session below what whoami asks of it.
		err := e.store.Write(context.Background(), func(q *store.Q) error {
			_, err := q.Exec(context.Background(), "UPDATE sessions SET aal = $1 WHERE id = $2", "aal0", d.current.ID)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		p := e.get(t, d.b, "ui/sessions")
		want := e.public + "ui/login?" + query("aal", "aal2", "return_to", e.public+"ui/sessions")
		if p.status != http.StatusSeeOther || p.header.Get("Location") != want {
			t.Fatalf("%d %q, want 303 %q", p.status, p.header.Get("Location"), want)
		}
	})
}
