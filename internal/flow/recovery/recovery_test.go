package recovery

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/courier"
	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/identity/identitytest"
	"github.com/lanyard-id/lanyard/internal/onetime"
	"github.com/lanyard-id/lanyard/internal/session"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

const (
	recoveryUI = "https://ui.example.com/recovery"
	settingsUI = "https://ui.example.com/settings"
)

// mail is a message the fake mailer was asked to queue.
type mail struct {
	kind, to, secret string
	msg              courier.Message
}

type fakeMailer struct {
	mu   sync.Mutex
	sent []mail
	// rehearsed are the messages rehearsed for unknown addresses.
	rehearsed []courier.Message
}

// kinds names the template types as the tests do.
var kinds = map[string]string{
	courier.RecoveryCodeValid: "code", courier.RecoveryValid: "link",
	courier.RecoveryCodeInvalid: "unknown-code", courier.RecoveryInvalid: "unknown-link",
}

func (m *fakeMailer) Queue(_ context.Context, _ *store.Q, msg courier.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	secret := msg.Code
	if msg.URL != "" {
		secret = msg.URL
	}
	m.sent = append(m.sent, mail{kinds[msg.Template], msg.To, secret, msg})
	return nil
}

func (m *fakeMailer) Rehearse(ctx context.Context, q *store.Q, msg courier.Message, notice *courier.Message) error {
	m.mu.Lock()
	m.rehearsed = append(m.rehearsed, msg)
	m.mu.Unlock()
	if notice != nil {
		return m.Queue(ctx, q, *notice)
	}
	return nil
}

func (m *fakeMailer) last(t *testing.T, to string) mail {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.sent) - 1; i >= 0; i-- {
		if m.sent[i].to == to {
			return m.sent[i]
		}
	}
	t.Fatalf("no message to %s in %+v", to, m.sent)
	return mail{}
}

func (m *fakeMailer) count(to string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, x := range m.sent {
		if x.to == to {
			n++
		}
	}
	return n
}

// fakeSettings starts bare settings flows, as the settings handler would.
type fakeSettings struct{ kit *flow.Kit }

func (f fakeSettings) StartFor(ctx context.Context, w http.ResponseWriter, r *http.Request, typ string, i *identity.Identity) (*flow.Flow, error) {
	sf, err := f.kit.Start(w, r, flow.Settings, typ)
	if err != nil {
		return nil, err
	}
	id := i.ID
	sf.IdentityID, sf.State = &id, "show_form"
	return sf, f.kit.Save(ctx, sf)
}

func (f fakeSettings) UIURL(sf *flow.Flow) string { return f.kit.FlowUIURL(sf) }

// env is a recovery handler on a test server.
type env struct {
	srv  *httptest.Server
	h    *Handler
	ids  *identity.Manager
	mail *fakeMailer
	kit  *flow.Kit
}

func newEnv(t *testing.T, s *store.Store, opts Options) *env {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	public := srv.URL + "/"

	ids, _ := identitytest.NewManager(t, s, public)
	sessions, err := session.NewManager(s, ids, session.Config{Lifespan: time.Hour, Secrets: []string{"cookie-secret-0123456789"},
		Cookie: session.CookieConfig{Name: "ory_kratos_session", SameSite: http.SameSiteLaxMode, Persistent: true}})
	if err != nil {
		t.Fatal(err)
	}
	kit := &flow.Kit{
		Config: flow.Config{
			PublicURL: public,
			UIURL:     map[flow.Kind]string{flow.Recovery: recoveryUI, flow.Settings: settingsUI},
		},
		Store: s,
		CSRF:  flow.NewCSRF(public, false, "", "/", http.SameSiteLaxMode),
	}
	m := &fakeMailer{}
	codes := onetime.New("cookie-secret-0123456789")
	h := NewHandler(kit, sessions, ids, codes, fakeSettings{kit}, methods(kit, ids, codes, m, opts), opts)
	h.Register(mux)
	h.Admin().Register(mux, "/admin")
	return &env{srv: srv, h: h, ids: ids, mail: m, kit: kit}
}

func (e *env) user(t *testing.T, email string) *identity.Identity {
	t.Helper()
	i, err := e.ids.Create(context.Background(), identity.Draft{Traits: json.RawMessage(`{"email":"` + email + `"}`)})
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// client is a user agent that never follows redirects; jar gives it
// cookies (a browser).
func client(t *testing.T, jar bool) *http.Client {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if jar {
		j, err := cookiejar.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		c.Jar = j
	}
	return c
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) flow(t *testing.T) flowJSON {
	t.Helper()
	var f flowJSON
	if err := json.Unmarshal(a.body, &f); err != nil || f.ID == "" {
		t.Fatalf("not a flow (%v): %d %s", err, a.status, a.body)
	}
	return f
}

func (a answer) location(t *testing.T) *url.URL {
	t.Helper()
	if a.status != http.StatusSeeOther {
		t.Fatalf("status %d, want 303: %s", a.status, a.body)
	}
	u, err := url.Parse(a.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

type flowJSON struct {
	ID    string `json:"id"`
	Type  string `json:"type"`
	State string `json:"state"`
	UI    struct {
		Nodes []struct {
			Attributes struct {
				Name  string `json:"name"`
				Value any    `json:"value"`
			} `json:"attributes"`
		} `json:"nodes"`
		Messages []struct {
			ID int `json:"id"`
		} `json:"messages"`
	} `json:"ui"`
	ContinueWith []map[string]any `json:"continue_with"`
}

func (f flowJSON) has(id int) bool {
	for _, m := range f.UI.Messages {
		if m.ID == id {
			return true
		}
	}
	return false
}

func (f flowJSON) csrf() string {
	for _, n := range f.UI.Nodes {
		if n.Attributes.Name == "csrf_token" {
			s, _ := n.Attributes.Value.(string)
			return s
		}
	}
	return ""
}

func do(t *testing.T, c *http.Client, method, u string, body any) answer {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return answer{res.StatusCode, res.Header, b}
}

func (e *env) native(t *testing.T) flowJSON {
	t.Helper()
	a := do(t, client(t, false), "GET", e.srv.URL+"/self-service/recovery/api", nil)
	if a.status != http.StatusOK {
		t.Fatalf("creating a flow: %d %s", a.status, a.body)
	}
	return a.flow(t)
}

func (e *env) submit(t *testing.T, c *http.Client, flowID string, body map[string]any) answer {
	t.Helper()
	return do(t, c, "POST", e.srv.URL+"/self-service/recovery?flow="+flowID, body)
}

func parseUUID(t *testing.T, s string) uuid.UUID {
	t.Helper()
	id, err := uuid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func opts() Options { return Options{Enabled: true, Method: onetime.MethodCode} }

func TestRecoveryHandler_SameAnswerForUnknownAddresses(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		for _, notify := range []bool{false, true} {
			o := opts()
			o.NotifyUnknownRecipients = notify
			e := newEnv(t, s, o)
			known := "known-" + map[bool]string{false: "q", true: "n"}[notify] + "@example.org"
			e.user(t, known)
			unknown := "nobody-" + map[bool]string{false: "q", true: "n"}[notify] + "@example.org"

			transient := map[string]any{"campaign": "spring"}
			a := e.submit(t, client(t, false), e.native(t).ID, map[string]any{"method": "code", "email": known, "transient_payload": transient})
			b := e.submit(t, client(t, false), e.native(t).ID, map[string]any{"method": "code", "email": unknown, "transient_payload": transient})
			if a.status != http.StatusOK || b.status != http.StatusOK {
				t.Fatalf("answers %d and %d, want 200 and 200", a.status, b.status)
			}
			fa, fb := a.flow(t), b.flow(t)
			if fa.State != fb.State || !fa.has(1060003) || !fb.has(1060003) || len(fa.UI.Nodes) != len(fb.UI.Nodes) {
				t.Errorf("answers differ: %s vs %s", a.body, b.body)
			}
			m := e.mail.last(t, known)
			if m.kind != "code" || len(m.secret) != 6 {
				t.Errorf("known address got %+v, want a six-digit code", m)
			}
			if m.msg.Identity == nil || m.msg.ExpiresIn != time.Hour || !strings.Contains(m.msg.RequestURL, "/self-service/recovery/api") || m.msg.TransientPayload["campaign"] != "spring" {
				t.Errorf("the known address's message lacks Kratos's fields: %+v", m.msg)
			}
			// The unknown address got the same work: the message it would
			// have had, rehearsed.
			e.mail.mu.Lock()
			rehearsed := append([]courier.Message(nil), e.mail.rehearsed...)
			e.mail.mu.Unlock()
			if len(rehearsed) != 1 || rehearsed[0].To != unknown || rehearsed[0].Template != courier.RecoveryCodeValid || len(rehearsed[0].Code) != 6 || rehearsed[0].Identity != nil {
				t.Errorf("rehearsals %+v, want one recovery_code_valid to %s", rehearsed, unknown)
			}
			switch n := e.mail.count(unknown); {
			case notify && (n != 1 || e.mail.last(t, unknown).kind != "unknown-code"):
				t.Errorf("notify_unknown_recipients: unknown address got %d messages, want one unknown-code", n)
			case !notify && n != 0:
				t.Errorf("unknown address got %d messages, want none", n)
			}
		}
	})
}

func TestRecoveryHandler_CodeSubmissions(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s, opts())
		e.user(t, "ada@example.org")
		c := client(t, false)
		f := e.native(t)
		e.submit(t, c, f.ID, map[string]any{"method": "code", "email": "ada@example.org"})
		code := e.mail.last(t, "ada@example.org").secret
		wrong := "000000"
		if code == wrong {
			wrong = "000001"
		}
		for i := 1; i <= 5; i++ {
			a := e.submit(t, c, f.ID, map[string]any{"method": "code", "code": wrong})
			if a.status != http.StatusOK || !a.flow(t).has(4060006) || a.flow(t).ID != f.ID {
				t.Fatalf("wrong code %d: %d %s, want 200 with 4060006 on the same flow", i, a.status, a.body)
			}
		}
		a := e.submit(t, c, f.ID, map[string]any{"method": "code", "code": code})
		u := a.location(t)
		if u.Path != "/self-service/recovery/flows" || u.Query().Get("id") == "" || u.Query().Get("id") == f.ID {
			t.Fatalf("sixth submission redirected to %s, want the new flow", u)
		}
		nf := do(t, c, "GET", e.srv.URL+u.RequestURI(), nil)
		if nf.status != http.StatusOK || !nf.flow(t).has(4000001) || nf.flow(t).State != "choose_method" {
			t.Errorf("new flow: %d %s, want a choose_method flow with 4000001", nf.status, nf.body)
		}
	})
}

func TestRecoveryHandler_ExpiredCode(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		o := opts()
		o.CodeLifespan = 50 * time.Millisecond
		o.ContinueWith = true
		e := newEnv(t, s, o)
		e.user(t, "ada@example.org")
		c := client(t, false)
		f := e.native(t)
		e.submit(t, c, f.ID, map[string]any{"method": "code", "email": "ada@example.org"})
		code := e.mail.last(t, "ada@example.org").secret
		time.Sleep(60 * time.Millisecond)
		a := e.submit(t, c, f.ID, map[string]any{"method": "code", "code": code})
		var body struct {
			Error struct {
				ID      string `json:"id"`
				Code    int    `json:"code"`
				Details struct {
					ContinueWith []struct {
						Action string `json:"action"`
						Flow   struct {
							ID  string `json:"id"`
							URL string `json:"url"`
						} `json:"flow"`
					} `json:"continue_with"`
				} `json:"details"`
			} `json:"error"`
		}
		if err := json.Unmarshal(a.body, &body); err != nil || a.status != http.StatusGone || body.Error.ID != "self_service_flow_expired" {
			t.Fatalf("expired code (continue_with transitions): %d %s, want 410 self_service_flow_expired", a.status, a.body)
		}
		cw := body.Error.Details.ContinueWith
		if len(cw) != 1 || cw[0].Action != "show_recovery_ui" || !strings.HasPrefix(cw[0].Flow.URL, recoveryUI+"?flow=") {
			t.Fatalf("continue_with = %+v, want show_recovery_ui", cw)
		}
		nf := do(t, c, "GET", e.srv.URL+"/self-service/recovery/flows?id="+cw[0].Flow.ID, nil)
		if !nf.flow(t).has(4060005) {
			t.Errorf("new flow %s, want 4060005", nf.body)
		}
	})
}

// After a browser recovers, its CSRF cookie is rotated and the settings
// flow it is sent to is bound to the new cookie, so that the browser can
// use it.
func TestRecoveryHandler_BrowserRecoveryBindsSettingsToNewCSRFCookie(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s, opts())
		i := e.user(t, "ada@example.org")
		b := client(t, true)
		created := do(t, b, "GET", e.srv.URL+"/self-service/recovery/browser", nil)
		f := created.flow(t)
		sent := e.submit(t, b, f.ID, map[string]any{"method": "code", "email": "ada@example.org", "csrf_token": f.csrf()})
		code := e.mail.last(t, "ada@example.org").secret
		a := e.submit(t, b, f.ID, map[string]any{"method": "code", "code": code, "csrf_token": sent.flow(t).csrf()})
		if a.status != http.StatusUnprocessableEntity {
			t.Fatalf("right code: %d %s, want 422", a.status, a.body)
		}
		var loc struct {
			RedirectBrowserTo string `json:"redirect_browser_to"`
		}
		_ = json.Unmarshal(a.body, &loc)
		u, _ := url.Parse(loc.RedirectBrowserTo)
		settingsID := u.Query().Get("flow")
		if !strings.HasPrefix(loc.RedirectBrowserTo, settingsUI+"?flow=") || settingsID == "" {
			t.Fatalf("redirect_browser_to = %q", loc.RedirectBrowserTo)
		}
		sf, err := flow.Get(context.Background(), s.Read(), flow.Settings, parseUUID(t, settingsID))
		if err != nil {
			t.Fatal(err)
		}
		if sf.IdentityID == nil || *sf.IdentityID != i.ID {
			t.Errorf("settings flow belongs to %v, want %s", sf.IdentityID, i.ID)
		}
		// The browser's CSRF cookie was rotated and the settings flow is
		// bound to the new one.
		req := httptest.NewRequest("GET", e.srv.URL+"/", nil)
		pub, _ := url.Parse(e.srv.URL + "/")
		for _, ck := range b.Jar.Cookies(pub) {
			req.AddCookie(ck)
		}
		if !e.kit.CSRF.MatchesFlow(req, sf.CSRFHash) {
			t.Error("the settings flow is not bound to the browser's CSRF cookie after recovery")
		}
		var hasSession bool
		for _, ck := range b.Jar.Cookies(pub) {
			hasSession = hasSession || ck.Name == "ory_kratos_session"
		}
		if !hasSession {
			t.Error("no session cookie after browser recovery")
		}
	})
}

func TestRecoveryHandler_LinkOfAnotherFlowIsNotSpent(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		o := opts()
		o.Method = onetime.MethodLink
		e := newEnv(t, s, o)
		e.user(t, "ada@example.org")
		f := e.native(t)
		e.submit(t, client(t, false), f.ID, map[string]any{"method": "link", "email": "ada@example.org"})
		link, _ := url.Parse(e.mail.last(t, "ada@example.org").secret)
		other := e.native(t)

		forged := *link
		q := forged.Query()
		q.Set("flow", other.ID)
		forged.RawQuery = q.Encode()
		a := do(t, client(t, true), "GET", forged.String(), nil)
		if u := a.location(t); !strings.HasPrefix(u.String(), recoveryUI+"?flow=") {
			t.Fatalf("link on another flow: redirected to %s, want the recovery UI", u)
		}
		// The link still works for its own flow.
		a = do(t, client(t, true), "GET", link.String(), nil)
		if u := a.location(t); !strings.HasPrefix(u.String(), settingsUI+"?flow=") {
			t.Fatalf("the link after a misuse: redirected to %s, want the settings UI", u)
		}
	})
}

func TestRecoveryHandler_DisabledAndAdmin(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s, Options{Enabled: false})
		a := do(t, client(t, false), "GET", e.srv.URL+"/self-service/recovery/api", nil)
		var body struct {
			Error map[string]any `json:"error"`
		}
		_ = json.Unmarshal(a.body, &body)
		if a.status != http.StatusBadRequest || body.Error["id"] != nil {
			t.Errorf("disabled: %d %s, want 400 without an error id", a.status, a.body)
		}

		i := e.user(t, "ada@example.org")
		a = do(t, client(t, false), "POST", e.srv.URL+"/admin/recovery/code", map[string]any{"identity_id": i.ID.String()})
		var code struct {
			RecoveryCode string    `json:"recovery_code"`
			RecoveryLink string    `json:"recovery_link"`
			ExpiresAt    time.Time `json:"expires_at"`
		}
		if err := json.Unmarshal(a.body, &code); err != nil || a.status != http.StatusCreated || len(code.RecoveryCode) != 6 {
			t.Fatalf("admin code while recovery is disabled: %d %s, want 201", a.status, a.body)
		}
		if !strings.HasPrefix(code.RecoveryLink, recoveryUI+"?flow=") {
			t.Errorf("recovery_link %q, want the recovery UI", code.RecoveryLink)
		}

		// The first browser to open an admin flow owns it.
		e = newEnv(t, s, opts())
		i = e.user(t, "bob@example.org")
		a = do(t, client(t, false), "POST", e.srv.URL+"/admin/recovery/code", map[string]any{"identity_id": i.ID.String()})
		if err := json.Unmarshal(a.body, &code); err != nil || a.status != http.StatusCreated {
			t.Fatalf("admin code: %d %s, want 201", a.status, a.body)
		}
		flowID := strings.TrimPrefix(code.RecoveryLink, recoveryUI+"?flow=")
		b := client(t, true)
		f := do(t, b, "POST", e.srv.URL+"/self-service/recovery?flow="+flowID, map[string]any{"method": "code", "code": code.RecoveryCode})
		if f.status != http.StatusForbidden {
			t.Errorf("submitting an unclaimed admin flow without CSRF: %d, want 403", f.status)
		}
		got := do(t, b, "GET", e.srv.URL+"/self-service/recovery/flows?id="+flowID, nil)
		if got.status != http.StatusOK || got.flow(t).csrf() == "" {
			t.Fatalf("first browser fetching the admin flow: %d %s", got.status, got.body)
		}
		if again := do(t, client(t, true), "GET", e.srv.URL+"/self-service/recovery/flows?id="+flowID, nil); again.status != http.StatusForbidden {
			t.Errorf("a second browser fetching the claimed flow: %d, want 403", again.status)
		}
		done := do(t, b, "POST", e.srv.URL+"/self-service/recovery?flow="+flowID, map[string]any{"method": "code", "code": code.RecoveryCode, "csrf_token": got.flow(t).csrf()})
		if done.status != http.StatusUnprocessableEntity {
			t.Errorf("admin code in the claiming browser: %d %s, want 422", done.status, done.body)
		}

		for _, tc := range []struct {
			body map[string]any
			want int
		}{
			{map[string]any{"identity_id": "9f0b4b0e-4f3a-4bc5-9d55-4d0f1f0f3b8e"}, http.StatusNotFound},
			{map[string]any{"identity_id": "not-a-uuid"}, http.StatusBadRequest},
			{map[string]any{"identity_id": i.ID.String(), "expires_in": "-1h"}, http.StatusBadRequest},
			{map[string]any{"identity_id": i.ID.String(), "flow_type": "tv"}, http.StatusBadRequest},
		} {
			if a := do(t, client(t, false), "POST", e.srv.URL+"/admin/recovery/code", tc.body); a.status != tc.want {
				t.Errorf("admin code %v: %d, want %d: %s", tc.body, a.status, tc.want, a.body)
			}
		}
		if a := do(t, client(t, false), "POST", e.srv.URL+"/admin/recovery/link", map[string]any{"identity_id": "9f0b4b0e-4f3a-4bc5-9d55-4d0f1f0f3b8e"}); a.status != http.StatusNotFound {
			t.Errorf("admin link for an unknown identity: %d, want 404", a.status)
		}
	})
}
