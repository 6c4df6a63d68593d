package ui

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/identity/identitytest"
	"github.com/lanyard-id/lanyard/internal/session"
	"github.com/lanyard-id/lanyard/internal/store"
)

// env is the pages over a real store, behind a test server.
type env struct {
	public   string
	kit      *flow.Kit
	ids      *identity.Manager
	sessions *session.Manager
	store    *store.Store
}

func newEnv(t *testing.T, s *store.Store, opts Options) *env {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	public := srv.URL + "/"
	ids, _ := identitytest.NewManager(t, s, public)
	sessions, err := session.NewManager(s, ids, session.Config{Lifespan: time.Hour, Secrets: []string{"cookie-secret-0123456789"},
		Cookie: session.CookieConfig{SameSite: http.SameSiteLaxMode}})
	if err != nil {
		t.Fatal(err)
	}
	kit := &flow.Kit{
		Config: flow.Config{PublicURL: public},
		Store:  s,
		CSRF:   flow.NewCSRF(public, false, "", "/", http.SameSiteLaxMode),
	}
	New(kit, sessions, ids, opts).Register(mux)
	// Stands in for the flows' endpoints: the pages only link there.
	mux.HandleFunc("GET /self-service/{kind}/browser", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	return &env{public: public, kit: kit, ids: ids, sessions: sessions, store: s}
}

// browser is a browser's cookies and headers.
type browser struct {
	cookies []*http.Cookie
	header  http.Header
}

// startFlow makes a browser flow of kind as the flow's endpoint would,
// bound to a new browser's CSRF cookie; add puts nodes on it.
func (e *env) startFlow(t *testing.T, kind flow.Kind, add func(f *flow.Flow)) (*flow.Flow, *browser) {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, e.public+"self-service/"+string(kind)+"/browser", nil)
	f, err := e.kit.Start(rec, req, kind, flow.TypeBrowser)
	if err != nil {
		t.Fatal(err)
	}
	if add != nil {
		add(f)
	}
	if err := e.kit.Save(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	return f, &browser{cookies: rec.Result().Cookies(), header: http.Header{}}
}

// signIn makes an identity with email and a session for it, carried by b.
func (e *env) signIn(t *testing.T, b *browser, email string) *identity.Identity {
	t.Helper()
	ctx := context.Background()
	i, err := e.ids.Create(ctx, identity.Draft{Traits: json.RawMessage(`{"email":"` + email + `"}`)})
	if err != nil {
		t.Fatal(err)
	}
	var s *session.Session
	err = e.store.Write(ctx, func(q *store.Q) error {
		var err error
		s, err = e.sessions.Issue(ctx, q, i, "password", session.AAL1, httptest.NewRequest(http.MethodGet, e.public, nil))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	b.header.Set("X-Session-Token", s.Token)
	return i
}

type reply struct {
	status int
	header http.Header
	body   string
}

// get requests path (relative to the public URL) as b, without following
// redirects.
func (e *env) get(t *testing.T, b *browser, path string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.public+strings.TrimPrefix(path, "/"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if b != nil {
		for k, v := range b.header {
			req.Header[k] = v
		}
		for _, c := range b.cookies {
			req.AddCookie(c)
		}
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

// mustContain fails for each of want missing from body.
func mustContain(t *testing.T, what, body string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("%s: missing %q", what, w)
		}
	}
}

var (
	inlineHandler = regexp.MustCompile(`(?i)\son[a-z]+\s*=`)
	scriptTag     = regexp.MustCompile(`<script[^>]*>`)
	styleTag      = regexp.MustCompile(`<style[^>]*>`)
	nonceAttr     = regexp.MustCompile(`nonce="([^"]*)"`)
	cspNonce      = regexp.MustCompile(`script-src 'nonce-([A-Za-z0-9_-]+)'`)
	labelFor      = regexp.MustCompile(`<label for="([^"]+)"`)
	describedBy   = regexp.MustCompile(`aria-describedby="([^"]+)"`)
)

// checkPage holds every page to the rules of all pages: security
// headers, a nonce on every script and style that the policy names, no
// inline handlers, labels tied to elements.
func checkPage(t *testing.T, what string, p reply) {
	t.Helper()
	if got := p.header.Get("Content-Type"); got != "text/html; charset=utf-8" {
		t.Errorf("%s: Content-Type %q", what, got)
	}
	csp := p.header.Get("Content-Security-Policy")
	m := cspNonce.FindStringSubmatch(csp)
	if m == nil {
		t.Fatalf("%s: no script nonce in CSP %q", what, csp)
	}
	nonce := m[1]
	for _, part := range []string{"default-src 'none'", "style-src 'self' 'nonce-" + nonce + "'", "img-src 'self' data:", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'", "connect-src 'self'"} {
		if !strings.Contains(csp, part) {
			t.Errorf("%s: CSP %q lacks %q", what, csp, part)
		}
	}
	for k, v := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store", "Referrer-Policy": "same-origin"} {
		if got := p.header.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got, v)
		}
	}
	tags := append(scriptTag.FindAllString(p.body, -1), styleTag.FindAllString(p.body, -1)...)
	if len(tags) < 2 {
		t.Errorf("%s: expected the page's script and style, got %q", what, tags)
	}
	for _, tag := range tags {
		n := nonceAttr.FindStringSubmatch(tag)
		if n == nil || n[1] != nonce {
			t.Errorf("%s: %s lacks the policy's nonce %s", what, tag, nonce)
		}
	}
	if h := inlineHandler.FindString(p.body); h != "" {
		t.Errorf("%s: inline handler %q", what, h)
	}
	for _, l := range labelFor.FindAllStringSubmatch(p.body, -1) {
		if !strings.Contains(p.body, `id="`+l[1]+`"`) {
			t.Errorf("%s: label for %q names no element", what, l[1])
		}
	}
	for _, d := range describedBy.FindAllStringSubmatch(p.body, -1) {
		for _, id := range strings.Fields(d[1]) {
			if !strings.Contains(p.body, `id="`+id+`"`) {
				t.Errorf("%s: aria-describedby names missing %q", what, id)
			}
		}
	}
	if !strings.Contains(p.body, `<html lang="`) {
		t.Errorf("%s: no lang", what)
	}
}

// dump keeps a page for looking at by eye (LANYARD_UI_DUMP=1).
func dump(t *testing.T, name string, p reply) {
	if os.Getenv("LANYARD_UI_DUMP") == "" {
		return
	}
	// The stylesheet next to the page, so that it opens from the disk.
	body := regexp.MustCompile(`http://[^"]*/ui/assets/ui\.css\?v=[0-9a-f]+`).ReplaceAllString(p.body, "ui.css")
	for file, b := range map[string][]byte{"/tmp/ui-" + name + ".html": []byte(body), "/tmp/ui.css": assets["ui.css"].body} {
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Log(err)
		}
	}
}

func query(kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return q.Encode()
}
