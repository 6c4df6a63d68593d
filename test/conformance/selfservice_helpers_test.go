package conformance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ory "github.com/ory/client-go"
)

// The UI and the app of these tests live on a port nobody listens on: the
// tests only look at where the server sends the browser.
const (
	uiBase        = "http://127.0.0.1:9"
	loginUI       = uiBase + "/ui/login"
	registerUI    = uiBase + "/ui/registration"
	errorUI       = uiBase + "/ui/error"
	appURL        = uiBase + "/app"
	defaultReturn = appURL + "/"
	logoutReturn  = uiBase + "/bye"
)

var sessionTokenFormat = regexp.MustCompile(`^ory_st_[A-Za-z0-9]{32}$`)

// selfserviceServer starts a server with UI URLs, an allowed return URL, the
// session hook after password registration and no network password check;
// set overrides or adds keys (a nil value deletes one).
func selfserviceServer(t *testing.T, store string, set map[string]any) *Server {
	t.Helper()
	return startServer(t, selfserviceSpec(store, set))
}

// selfserviceSpec is the serverSpec of selfserviceServer.
func selfserviceSpec(store string, set map[string]any) serverSpec {
	cfg := map[string]any{
		"selfservice.default_browser_return_url":                                  defaultReturn,
		"selfservice.allowed_return_urls":                                         []any{appURL},
		"selfservice.flows.login.ui_url":                                          loginUI,
		"selfservice.flows.registration.ui_url":                                   registerUI,
		"selfservice.flows.error.ui_url":                                          errorUI,
		"selfservice.flows.registration.after.password.hooks":                     []any{map[string]any{"hook": "session"}},
		"selfservice.methods.password.config.haveibeenpwned_enabled":              false,
		"selfservice.methods.password.config.min_password_length":                 8,
		"selfservice.methods.password.config.identifier_similarity_check_enabled": true,
	}
	for k, v := range set {
		if v == nil {
			delete(cfg, k)
			continue
		}
		cfg[k] = v
	}
	return serverSpec{store: store, set: cfg}
}

var emailSeq atomic.Int64

// uniqueEmail gives each call its own address, so checks in one server do
// not collide.
func uniqueEmail(prefix string) string {
	return fmt.Sprintf("%s-%d@example.org", prefix, emailSeq.Add(1))
}

// csrfCookieName is Kratos's CSRF cookie name for the server's public URL.
func csrfCookieName(s *Server) string {
	sum := sha256.Sum256([]byte(s.PublicURL + "/"))
	return "csrf_token_" + hex.EncodeToString(sum[:])
}

// browser is a user agent with a cookie jar that never follows redirects.
type browser struct {
	s    *Server
	jar  *cookiejar.Jar
	http *http.Client
	sdk  *ory.APIClient
}

func newBrowser(t *testing.T, s *Server) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{
		Jar:     jar,
		Timeout: requestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return &browser{s: s, jar: jar, http: c, sdk: newSDK(s.PublicURL, c)}
}

// cookie answers the named cookie the jar would send to the public URL.
func (b *browser) cookie(name string) *http.Cookie {
	u, _ := url.Parse(b.s.PublicURL + "/")
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// do sends a request through the jar. body is nil, url.Values (a form) or a
// value sent as JSON; JSON bodies also ask for JSON answers.
func (b *browser) do(t *testing.T, method, rawURL string, body any, header http.Header) response {
	t.Helper()
	return sendRequest(t, b.http, method, rawURL, body, header)
}

// sendRequest is the shared raw request of browsers and plain clients.
func sendRequest(t *testing.T, client *http.Client, method, rawURL string, body any, header http.Header) response {
	t.Helper()
	var reader io.Reader
	contentType := ""
	switch v := body.(type) {
	case nil:
	case url.Values:
		reader = strings.NewReader(v.Encode())
		contentType = "application/x-www-form-urlencoded"
	case string:
		reader = strings.NewReader(v)
		contentType = "application/json"
	default:
		enc, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		reader = strings.NewReader(string(enc))
		contentType = "application/json"
	}
	req, err := http.NewRequest(method, rawURL, reader)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if contentType == "application/json" {
		req.Header.Set("Accept", "application/json")
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, rawURL, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: data}
}

// browserPasswordLogin submits email's password to a new browser's login
// flow (JSON) and answers the browser and the answer.
func browserPasswordLogin(t *testing.T, s *Server, email, password string) (*browser, response) {
	t.Helper()
	b := newBrowser(t, s)
	f, _ := b.browserFlow(t, "login", nil)
	res := b.do(t, http.MethodPost, s.submitURL("login", f.ID), map[string]any{
		"csrf_token": f.csrf(t), "method": "password", "identifier": email, "password": password,
	}, nil)
	return b, res
}

// requireSentToAAL2 asserts Kratos's answer to a browser sign-in short of
// the identity's second factor: 422 browser_location_change_required to
// the aal2 login, with the aal1 session cookie set meanwhile.
func requireSentToAAL2(t *testing.T, b *browser, res response, what string) {
	t.Helper()
	e := requireError(t, res.status, res.body, http.StatusUnprocessableEntity)
	if to, _ := e.Error.Details["redirect_browser_to"].(string); e.Error.ID != "browser_location_change_required" || !strings.Contains(to, "/self-service/login/browser?aal=aal2") {
		t.Fatalf("%s: %s, want browser_location_change_required to the aal2 login", what, res.body)
	}
	if b.cookie("ory_kratos_session") == nil {
		t.Fatalf("%s set no session cookie: %s", what, res.body)
	}
}

// plain is a client without cookies that never follows redirects.
func plain(s *Server) *http.Client { return s.HTTP }

var jsonAccept = http.Header{"Accept": {"application/json"}}

// uiText, uiNode and flowView are the parts of a flow the tests look at,
// decoded from raw bodies so that wire details stay visible.
type uiText struct {
	ID      int64          `json:"id"`
	Text    string         `json:"text"`
	Type    string         `json:"type"`
	Context map[string]any `json:"context,omitempty"`
}

type uiNode struct {
	Type       string         `json:"type"`
	Group      string         `json:"group"`
	Attributes map[string]any `json:"attributes"`
	Messages   []uiText       `json:"messages"`
	Meta       struct {
		Label *uiText `json:"label,omitempty"`
	} `json:"meta"`
}

func (n uiNode) name() string      { s, _ := n.Attributes["name"].(string); return s }
func (n uiNode) inputType() string { s, _ := n.Attributes["type"].(string); return s }
func (n uiNode) value() any        { return n.Attributes["value"] }

type flowView struct {
	ID           string    `json:"id"`
	Type         string    `json:"type"`
	State        any       `json:"state"`
	Active       string    `json:"active"`
	RequestedAAL string    `json:"requested_aal"`
	RequestURL   string    `json:"request_url"`
	ReturnTo     string    `json:"return_to"`
	Refresh      bool      `json:"refresh"`
	ExpiresAt    time.Time `json:"expires_at"`
	IssuedAt     time.Time `json:"issued_at"`
	UI           struct {
		Action   string   `json:"action"`
		Method   string   `json:"method"`
		Nodes    []uiNode `json:"nodes"`
		Messages []uiText `json:"messages"`
	} `json:"ui"`
}

// decodeFlow reads a flow body; it must also be readable by the SDK's
// model of kind ("login" or "registration").
func decodeFlow(t *testing.T, kind string, body []byte) flowView {
	t.Helper()
	var f flowView
	if err := json.Unmarshal(body, &f); err != nil {
		t.Fatalf("flow body is not a flow (%v): %s", err, body)
	}
	if f.ID == "" {
		t.Fatalf("flow body has no id: %s", body)
	}
	var sdkErr error
	switch kind {
	case "login":
		var m ory.LoginFlow
		sdkErr = json.Unmarshal(body, &m)
	case "registration":
		var m ory.RegistrationFlow
		sdkErr = json.Unmarshal(body, &m)
	}
	if sdkErr != nil {
		t.Errorf("the SDK cannot read the %s flow: %v: %s", kind, sdkErr, body)
	}
	return f
}

// node answers the first node with that attribute name (and value, for
// buttons sharing a name), or fails.
func (f flowView) node(t *testing.T, name string, value ...string) uiNode {
	t.Helper()
	if n, ok := f.find(name, value...); ok {
		return n
	}
	t.Fatalf("no node %q %v in %s", name, value, asJSON(f.UI.Nodes))
	return uiNode{}
}

func (f flowView) find(name string, value ...string) (uiNode, bool) {
	for _, n := range f.UI.Nodes {
		if n.name() != name {
			continue
		}
		if len(value) > 0 && fmt.Sprint(n.value()) != value[0] {
			continue
		}
		return n, true
	}
	return uiNode{}, false
}

func (f flowView) csrf(t *testing.T) string {
	t.Helper()
	v, _ := f.node(t, "csrf_token").value().(string)
	return v
}

func messageIDs(ms []uiText) []int64 {
	ids := make([]int64, 0, len(ms))
	for _, m := range ms {
		ids = append(ids, m.ID)
	}
	return ids
}

func hasMessage(ms []uiText, id int64) bool {
	for _, m := range ms {
		if m.ID == id {
			return true
		}
	}
	return false
}

// requireFlowMessage asserts a flow-level message id.
func requireFlowMessage(t *testing.T, f flowView, id int64) {
	t.Helper()
	if !hasMessage(f.UI.Messages, id) {
		t.Errorf("ui.messages ids = %v, want %d: %s", messageIDs(f.UI.Messages), id, asJSON(f.UI.Messages))
	}
}

// requireNodeMessage asserts a message id on a node and returns it.
func requireNodeMessage(t *testing.T, f flowView, name string, id int64) uiText {
	t.Helper()
	n, ok := f.find(name)
	if !ok {
		t.Errorf("no node %q to carry message %d; flow messages %s, nodes %s", name, id, asJSON(f.UI.Messages), asJSON(f.UI.Nodes))
		return uiText{}
	}
	for _, m := range n.Messages {
		if m.ID == id {
			return m
		}
	}
	t.Errorf("node %q messages = %s, want id %d (flow messages %s)", name, asJSON(n.Messages), id, asJSON(f.UI.Messages))
	return uiText{}
}

// submitURL is the submit endpoint of a flow kind.
func (s *Server) submitURL(kind, flowID string) string {
	return s.PublicURL + "/self-service/" + kind + "?flow=" + url.QueryEscape(flowID)
}

// nativeFlow opens an API flow of kind through the SDK and returns it as
// seen on the wire.
func (s *Server) nativeFlow(t *testing.T, kind string) flowView {
	t.Helper()
	var res *http.Response
	var err error
	switch kind {
	case "login":
		_, res, err = s.Public.FrontendAPI.CreateNativeLoginFlow(context.Background()).Execute()
	case "registration":
		_, res, err = s.Public.FrontendAPI.CreateNativeRegistrationFlow(context.Background()).Execute()
	default:
		t.Fatalf("unknown flow kind %q", kind)
	}
	requireOK(t, res, err, http.StatusOK)
	// The SDK leaves the body readable again after decoding it.
	return s.rawFlowOf(t, kind, res)
}

// rawFlowOf reads the flow an SDK call returned, raw.
func (s *Server) rawFlowOf(t *testing.T, kind string, res *http.Response) flowView {
	t.Helper()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return decodeFlow(t, kind, body)
}

// browserFlow opens a browser flow of kind with Accept: application/json.
func (b *browser) browserFlow(t *testing.T, kind string, query url.Values) (flowView, response) {
	t.Helper()
	u := b.s.PublicURL + "/self-service/" + kind + "/browser"
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	res := b.do(t, http.MethodGet, u, nil, jsonAccept)
	if res.status != http.StatusOK {
		t.Fatalf("GET %s: status %d, want 200: %s", u, res.status, res.body)
	}
	return decodeFlow(t, kind, res.body), res
}

// registerNative registers email with testPassword in one native step and
// returns the raw success body.
func (s *Server) registerNative(t *testing.T, email string) nativeSuccess {
	t.Helper()
	f := s.nativeFlow(t, "registration")
	res := sendRequest(t, plain(s), http.MethodPost, s.submitURL("registration", f.ID), map[string]any{
		"method":   "password",
		"password": testPassword,
		"traits":   map[string]any{"email": email},
	}, nil)
	if res.status != http.StatusOK {
		t.Fatalf("native registration of %s: status %d, want 200: %s", email, res.status, res.body)
	}
	return decodeSuccess(t, res.body)
}

// loginNative logs in with a native flow and answers the raw response.
func (s *Server) loginNative(t *testing.T, identifier, password string) response {
	t.Helper()
	f := s.nativeFlow(t, "login")
	return sendRequest(t, plain(s), http.MethodPost, s.submitURL("login", f.ID), map[string]any{
		"method":     "password",
		"identifier": identifier,
		"password":   password,
	}, nil)
}

// nativeSuccess is a successful native registration or login answer.
type nativeSuccess struct {
	Identity     *ory.Identity `json:"identity"`
	Session      *ory.Session  `json:"session"`
	SessionToken string        `json:"session_token"`
	ContinueWith []struct {
		Action          string `json:"action"`
		OrySessionToken string `json:"ory_session_token"`
	} `json:"continue_with"`
}

func decodeSuccess(t *testing.T, body []byte) nativeSuccess {
	t.Helper()
	var out nativeSuccess
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("success body: %v: %s", err, body)
	}
	return out
}

// whoami calls /sessions/whoami with the given header and answers the
// status and the session on success.
func (s *Server) whoami(t *testing.T, client *http.Client, header http.Header) (int, *ory.Session, response) {
	t.Helper()
	res := sendRequest(t, client, http.MethodGet, s.PublicURL+"/sessions/whoami", nil, header)
	if res.status != http.StatusOK {
		return res.status, nil, res
	}
	var sess ory.Session
	if err := json.Unmarshal(res.body, &sess); err != nil {
		t.Fatalf("whoami body is not a session (%v): %s", err, res.body)
	}
	return res.status, &sess, res
}

func tokenHeader(token string) http.Header { return http.Header{"X-Session-Token": {token}} }

// setCookie finds a Set-Cookie of the response by name.
func setCookie(res response, name string) *http.Cookie {
	for _, c := range (&http.Response{Header: res.header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// redirectTarget parses the Location of a 303.
func redirectTarget(t *testing.T, res response) *url.URL {
	t.Helper()
	if res.status != http.StatusSeeOther {
		t.Fatalf("status %d, want 303 See Other: %s", res.status, res.body)
	}
	loc, err := url.Parse(res.header.Get("Location"))
	if err != nil || res.header.Get("Location") == "" {
		t.Fatalf("Location %q is not a URL: %v", res.header.Get("Location"), err)
	}
	return loc
}

// withoutQuery is scheme://host/path of u.
func withoutQuery(u *url.URL) string {
	c := *u
	c.RawQuery, c.Fragment = "", ""
	return c.String()
}
