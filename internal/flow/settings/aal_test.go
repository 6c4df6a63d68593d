package settings

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/identity/identitytest"
	"github.com/lanyard-id/lanyard/internal/session"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

const settingsUI = "https://ui.example.com/settings"

// noop is a settings method that changes nothing and counts its calls.
type noop struct{ calls atomic.Int32 }

func (*noop) ID() string                                                   { return "noop" }
func (*noop) Serves(kind flow.Kind) bool                                   { return kind == flow.Settings }
func (*noop) AddNodes(context.Context, *flow.Flow, flow.NodeContext) error { return nil }
func (m *noop) Submit(context.Context, *flow.Submission) (*flow.Outcome, error) {
	m.calls.Add(1)
	return &flow.Outcome{}, nil
}

type aalEnv struct {
	public   string
	ids      *identity.Manager
	sessions *session.Manager
	store    *store.Store
	method   *noop
	strict   *httptest.Server // required_aal: highest_available (the default)
	lenient  *httptest.Server // required_aal: aal1
}

func newAALEnv(t *testing.T, s *store.Store) *aalEnv {
	t.Helper()
	strictMux, lenientMux := http.NewServeMux(), http.NewServeMux()
	strict := httptest.NewServer(strictMux)
	t.Cleanup(strict.Close)
	public := strict.URL + "/"
	lenient := httptest.NewServer(lenientMux)
	t.Cleanup(lenient.Close)

	ids, _ := identitytest.NewManager(t, s, public)
	sessions, err := session.NewManager(s, ids, session.Config{Lifespan: time.Hour, Secrets: []string{"cookie-secret-0123456789"},
		Cookie: session.CookieConfig{SameSite: http.SameSiteLaxMode}})
	if err != nil {
		t.Fatal(err)
	}
	kit := &flow.Kit{
		Config: flow.Config{PublicURL: public, UIURL: map[flow.Kind]string{flow.Settings: settingsUI}},
		Store:  s,
		CSRF:   flow.NewCSRF(public, false, "", "/", http.SameSiteLaxMode),
	}
	m := &noop{}
	NewHandler(kit, sessions, ids, ids.Schemas(), flow.Methods{m}, Options{}).Register(strictMux)
	NewHandler(kit, sessions, ids, ids.Schemas(), flow.Methods{m}, Options{RequiredAAL: session.RequireAAL1}).Register(lenientMux)
	return &aalEnv{public: public, ids: ids, sessions: sessions, store: s, method: m, strict: strict, lenient: lenient}
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
}

// do sends a request that never follows redirects; token is a session
// token header, jar a browser's cookies.
func do(t *testing.T, jar http.CookieJar, method, target, token, contentType, body string, accept string) reply {
	t.Helper()
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Session-Token", token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := reply{status: res.StatusCode, header: res.Header}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

// stepUp is the aal2 login URL, coming back to returnTo when set.
func (e *aalEnv) stepUp(returnTo string) string {
	q := url.Values{"aal": {"aal2"}}
	if returnTo != "" {
		q.Set("return_to", returnTo)
	}
	return e.public + "self-service/login/browser?" + q.Encode()
}

func expectAAL2Required(t *testing.T, what string, r reply, wantURL string) {
	t.Helper()
	e, _ := r.body["error"].(map[string]any)
	details, _ := e["details"].(map[string]any)
	if r.status != 403 || e["id"] != "session_aal2_required" || e["code"] != float64(403) || e["status"] != "Forbidden" {
		t.Errorf("%s: %d %v", what, r.status, r.body)
	}
	if r.body["redirect_browser_to"] != wantURL || details["redirect_browser_to"] != wantURL {
		t.Errorf("%s: redirect_browser_to %v / %v; want %s", what, r.body["redirect_browser_to"], details["redirect_browser_to"], wantURL)
	}
}

func expectRedirect(t *testing.T, what string, r reply, wantURL string) {
	t.Helper()
	if r.status != 303 || r.header.Get("Location") != wantURL {
		t.Errorf("%s: %d to %q; want 303 to %q", what, r.status, r.header.Get("Location"), wantURL)
	}
}

func csrfToken(t *testing.T, f map[string]any) string {
	t.Helper()
	ui, _ := f["ui"].(map[string]any)
	nodes, _ := ui["nodes"].([]any)
	for _, n := range nodes {
		attrs, _ := n.(map[string]any)["attributes"].(map[string]any)
		if attrs["name"] == "csrf_token" {
			return attrs["value"].(string)
		}
	}
	t.Fatalf("no csrf_token in %v", f)
	return ""
}

func TestSettingsRequiredAAL(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		e := newAALEnv(t, s)
		ctx := context.Background()
		i, err := e.ids.Create(ctx, identity.Draft{Traits: json.RawMessage(`{"email":"settings-aal@example.org"}`)})
		if err != nil {
			t.Fatal(err)
		}
		var sess *session.Session
		if err := s.Write(ctx, func(q *store.Q) (err error) {
			sess, err = e.sessions.Issue(ctx, q, i, "password", session.AAL1, nil)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		browser, _ := cookiejar.New(nil)
		cookie := httptest.NewRecorder()
		e.sessions.SetCookie(cookie, sess)
		u, _ := url.Parse(e.public)
		browser.SetCookies(u, cookie.Result().Cookies())
		const asJSON, form = "application/json", "application/x-www-form-urlencoded"
		pub := e.strict.URL

		// Without a second factor nothing changes.
		api := do(t, nil, "GET", pub+"/self-service/settings/api", sess.Token, "", "", "")
		if api.status != 200 {
			t.Fatalf("api flow without a second factor: %d %v", api.status, api.body)
		}
		apiFlow := api.body["id"].(string)
		br := do(t, browser, "GET", pub+"/self-service/settings/browser", "", "", "", asJSON)
		if br.status != 200 {
			t.Fatalf("browser flow without a second factor: %d %v", br.status, br.body)
		}
		browserFlow, csrf := br.body["id"].(string), csrfToken(t, br.body)

		if err := s.Write(ctx, func(q *store.Q) error {
			return e.ids.PutCredential(ctx, q, i.ID, &identity.Credential{Type: identity.CredentialsLookupSecret,
				Config: json.RawMessage(`{"recovery_codes":[{"code":"abcd-efgh"}]}`)})
		}); err != nil {
			t.Fatal(err)
		}

		// Creating a flow.
		expectAAL2Required(t, "api flow", do(t, nil, "GET", pub+"/self-service/settings/api", sess.Token, "", "", ""), e.stepUp(""))
		expectAAL2Required(t, "api flow with return_to", do(t, nil, "GET", pub+"/self-service/settings/api?return_to="+url.QueryEscape(e.public), sess.Token, "", "", ""), e.stepUp(""))
		expectAAL2Required(t, "browser flow as JSON", do(t, browser, "GET", pub+"/self-service/settings/browser", "", "", "", asJSON), e.stepUp(""))
		expectRedirect(t, "browser flow", do(t, browser, "GET", pub+"/self-service/settings/browser", "", "", "", ""), e.stepUp(""))
		withReturn := "self-service/settings/browser?return_to=" + url.QueryEscape(e.public+"done")
		expectRedirect(t, "browser flow with return_to", do(t, browser, "GET", pub+"/"+withReturn, "", "", "", ""), e.stepUp(e.public+withReturn))

		// Fetching one: the login comes back to the flow's UI.
		expectAAL2Required(t, "fetching the api flow", do(t, nil, "GET", pub+"/self-service/settings/flows?id="+apiFlow, sess.Token, "", "", ""), e.stepUp(settingsUI+"?flow="+apiFlow))
		expectAAL2Required(t, "fetching the browser flow", do(t, browser, "GET", pub+"/self-service/settings/flows?id="+browserFlow, "", "", "", asJSON), e.stepUp(settingsUI+"?flow="+browserFlow))

		// Submitting: the login comes back to the submission's URL.
		expectAAL2Required(t, "api submission", do(t, nil, "POST", pub+"/self-service/settings?flow="+apiFlow, sess.Token, asJSON, `{"method":"noop"}`, asJSON),
			e.stepUp(e.public+"self-service/settings?flow="+apiFlow))
		expectAAL2Required(t, "browser submission as JSON", do(t, browser, "POST", pub+"/self-service/settings?flow="+browserFlow, "", asJSON, `{"method":"noop","csrf_token":"`+csrf+`"}`, asJSON),
			e.stepUp(e.public+"self-service/settings?flow="+browserFlow))
		expectRedirect(t, "browser form", do(t, browser, "POST", pub+"/self-service/settings?flow="+browserFlow, "", form, "method=noop&csrf_token="+url.QueryEscape(csrf), ""),
			e.stepUp(e.public+"self-service/settings?flow="+browserFlow))
		if n := e.method.calls.Load(); n != 0 {
			t.Errorf("the method ran %d times for a session below the required level", n)
		}

		// required_aal: aal1 lets the session in.
		if r := do(t, nil, "GET", e.lenient.URL+"/self-service/settings/api", sess.Token, "", "", ""); r.status != 200 {
			t.Errorf("api flow under aal1: %d %v", r.status, r.body)
		}
		if r := do(t, nil, "POST", e.lenient.URL+"/self-service/settings?flow="+apiFlow, sess.Token, asJSON, `{"method":"noop"}`, asJSON); r.status != 200 || e.method.calls.Load() != 1 {
			t.Errorf("api submission under aal1: %d %v", r.status, r.body)
		}

		// So does the second factor.
		if err := s.Write(ctx, func(q *store.Q) error { return e.sessions.AddMethod(ctx, q, sess, "lookup_secret", session.AAL2) }); err != nil {
			t.Fatal(err)
		}
		if r := do(t, nil, "GET", pub+"/self-service/settings/api", sess.Token, "", "", ""); r.status != 200 {
			t.Errorf("api flow after the second factor: %d %v", r.status, r.body)
		}
		if r := do(t, browser, "GET", pub+"/self-service/settings/flows?id="+browserFlow, "", "", "", asJSON); r.status != 200 {
			t.Errorf("fetching after the second factor: %d %v", r.status, r.body)
		}
		// The step-up login returns the browser to the submission's URL,
		// which shows the flow again.
		back := do(t, browser, "GET", pub+"/self-service/settings?flow="+browserFlow, "", "", "", "")
		if back.status != http.StatusSeeOther || back.header.Get("Location") != settingsUI+"?flow="+browserFlow {
			t.Errorf("coming back to the submission URL: %d %s", back.status, back.header.Get("Location"))
		}
		if bad := do(t, browser, "GET", pub+"/self-service/settings?flow=nonsense", "", "", "", asJSON); bad.status != http.StatusNotFound {
			t.Errorf("coming back with a malformed flow id: %d", bad.status)
		}
	})
}
