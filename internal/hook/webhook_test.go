package hook

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// received is one call the test receiver saw.
type received struct {
	header http.Header
	body   []byte
}

// receiver answers each call with answer and reports what it got.
func receiver(t *testing.T, answer func(w http.ResponseWriter, n int)) (*httptest.Server, chan received) {
	t.Helper()
	calls := make(chan received, 16)
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		calls <- received{header: r.Header.Clone(), body: b}
		answer(w, int(n.Add(1)))
	}))
	t.Cleanup(srv.Close)
	return srv, calls
}

func jsonnetURL(src string) string {
	return "base64://" + base64.StdEncoding.EncodeToString([]byte(src))
}

// runner builds a runner of one web_hook after every password login.
func runner(t *testing.T, flowName string, cfg config.WebHook, web *WebHooks) *Runner {
	t.Helper()
	if cfg.Request.Method == "" {
		cfg.Request.Method = http.MethodPost
	}
	if cfg.Request.Body == "" {
		cfg.Request.Body = jsonnetURL(`function(ctx) { identity: ctx.identity, method: ctx.request_method, url: ctx.request_url, headers: ctx.request_headers, cookies: ctx.request_cookies, flow_id: ctx.flow.id }`)
	}
	if web == nil {
		web = &WebHooks{Backoff: time.Millisecond}
	}
	r, err := NewRunnerWithWebHooks(flowName, []config.Hook{{Name: WebHook, WebHook: &cfg}}, nil, nil, web)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func event(t *testing.T) *Event {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "http://lanyard.test/self-service/login?flow=x", nil)
	req.Header.Set("User-Agent", "tester")
	req.Header.Set("Authorization", "Bearer secret-token")
	req.AddCookie(&http.Cookie{Name: "c", Value: "v"})
	return &Event{
		Flow:   &flow.Flow{ID: uuid.New(), Kind: flow.Login, Type: flow.TypeBrowser},
		Method: "password",
		Identity: &identity.Identity{ID: uuid.New(), SchemaID: "default", State: identity.StateActive,
			Traits: json.RawMessage(`{"email":"a@example.org"}`), MetadataPublic: json.RawMessage(`{"pub":1}`),
			MetadataAdmin: json.RawMessage(`{"secret":"admin-only"}`),
			Credentials:   map[string]*identity.Credential{identity.CredentialsPassword: {Type: identity.CredentialsPassword, Config: json.RawMessage(`{"hashed_password":"$2a$hash"}`)}}},
		Request: req,
	}
}

// complete runs the hooks as a flow does: in the transaction, then after it.
func complete(t *testing.T, r *Runner, e *Event) error {
	t.Helper()
	if err := r.Run(context.Background(), nil, e); err != nil {
		t.Fatal(err)
	}
	return e.RunAfter(context.Background())
}

func TestWebHookSendsTheTemplatesBodyWithoutCredentialsOrAdminMetadata(t *testing.T) {
	srv, calls := receiver(t, func(w http.ResponseWriter, _ int) { w.WriteHeader(http.StatusNoContent) })
	r := runner(t, "login", config.WebHook{Request: config.HTTPRequest{URL: srv.URL,
		Auth: config.HTTPAuth{Type: "api_key", Name: "X-Api-Key", Value: "k3y", In: "header"}}}, nil)
	e := event(t)
	if len(e.After) != 0 {
		t.Fatal("nothing is deferred before the hooks run")
	}
	if err := r.Run(context.Background(), nil, e); err != nil {
		t.Fatal(err)
	}
	select {
	case <-calls:
		t.Fatal("the call was made inside the transaction")
	default:
	}
	if err := e.RunAfter(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := <-calls
	if got.header.Get("X-Api-Key") != "k3y" || got.header.Get("Content-Type") != "application/json" {
		t.Errorf("headers: %v", got.header)
	}
	var body struct {
		Identity map[string]any      `json:"identity"`
		Method   string              `json:"method"`
		URL      string              `json:"url"`
		Headers  map[string][]string `json:"headers"`
		Cookies  map[string]string   `json:"cookies"`
		FlowID   string              `json:"flow_id"`
	}
	if err := json.Unmarshal(got.body, &body); err != nil {
		t.Fatalf("%v: %s", err, got.body)
	}
	if body.Identity["id"] != e.Identity.ID.String() || body.Identity["traits"].(map[string]any)["email"] != "a@example.org" {
		t.Errorf("identity: %v", body.Identity)
	}
	for _, hidden := range []string{"credentials", "metadata_admin"} {
		if _, ok := body.Identity[hidden]; ok {
			t.Errorf("identity shows %s: %s", hidden, got.body)
		}
	}
	if strings.Contains(string(got.body), "admin-only") || strings.Contains(string(got.body), "hashed_password") {
		t.Errorf("the body leaks secrets: %s", got.body)
	}
	if body.Method != http.MethodPost || body.URL != "http://lanyard.test/self-service/login?flow=x" || body.FlowID != e.Flow.ID.String() {
		t.Errorf("request: %+v", body)
	}
	if body.Headers["User-Agent"][0] != "tester" || body.Headers["Authorization"] != nil {
		t.Errorf("request_headers follow the allowlist: %v", body.Headers)
	}
	if body.Cookies["c"] != "v" {
		t.Errorf("request_cookies: %v", body.Cookies)
	}
}

func TestWebHookAuthByCookieAndBasic(t *testing.T) {
	srv, calls := receiver(t, func(w http.ResponseWriter, _ int) {})
	r := runner(t, "login", config.WebHook{Request: config.HTTPRequest{URL: srv.URL,
		Auth: config.HTTPAuth{Type: "api_key", Name: "hook_key", Value: "k3y", In: "cookie"}}}, nil)
	if err := complete(t, r, event(t)); err != nil {
		t.Fatal(err)
	}
	if got := <-calls; !strings.Contains(got.header.Get("Cookie"), "hook_key=k3y") {
		t.Errorf("cookie: %v", got.header)
	}
	r = runner(t, "login", config.WebHook{Request: config.HTTPRequest{URL: srv.URL,
		Auth: config.HTTPAuth{Type: "basic_auth", User: "u", Password: "p"}}}, nil)
	if err := complete(t, r, event(t)); err != nil {
		t.Fatal(err)
	}
	got := <-calls
	req := &http.Request{Header: got.header}
	if u, p, ok := req.BasicAuth(); !ok || u != "u" || p != "p" {
		t.Errorf("basic auth: %v", got.header)
	}
}

func TestWebHookRetriesServerErrorsThenAnswers502(t *testing.T) {
	srv, calls := receiver(t, func(w http.ResponseWriter, n int) { w.WriteHeader(http.StatusServiceUnavailable) })
	r := runner(t, "login", config.WebHook{Request: config.HTTPRequest{URL: srv.URL}}, nil)
	err := complete(t, r, event(t))
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != http.StatusBadGateway || we.Reason != "webhook failed with status code 503" {
		t.Fatalf("err = %v", err)
	}
	if n := len(calls); n != 1+webHookRetries {
		t.Errorf("calls = %d, want %d", n, 1+webHookRetries)
	}

	srv2, calls2 := receiver(t, func(w http.ResponseWriter, n int) {
		if n == 1 {
			w.WriteHeader(http.StatusBadGateway)
		}
	})
	r = runner(t, "login", config.WebHook{Request: config.HTTPRequest{URL: srv2.URL}}, nil)
	if err := complete(t, r, event(t)); err != nil {
		t.Fatalf("a retry that succeeds: %v", err)
	}
	if len(calls2) != 2 {
		t.Errorf("calls = %d, want 2", len(calls2))
	}

	srv3, calls3 := receiver(t, func(w http.ResponseWriter, n int) { w.WriteHeader(http.StatusForbidden) })
	r = runner(t, "login", config.WebHook{Request: config.HTTPRequest{URL: srv3.URL}}, nil)
	if err := complete(t, r, event(t)); !errors.As(err, &we) || we.Code != http.StatusBadGateway {
		t.Fatalf("a 4xx: %v", err)
	}
	if len(calls3) != 1 {
		t.Errorf("a 4xx is not retried: %d calls", len(calls3))
	}
}

func TestWebHookTimeoutIs504(t *testing.T) {
	release := make(chan struct{})
	srv, _ := receiver(t, func(w http.ResponseWriter, _ int) { <-release })
	defer close(release)
	web := &WebHooks{Client: &http.Client{Timeout: 50 * time.Millisecond}, Backoff: time.Millisecond}
	r := runner(t, "login", config.WebHook{Request: config.HTTPRequest{URL: srv.URL}}, web)
	err := complete(t, r, event(t))
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != http.StatusGatewayTimeout {
		t.Fatalf("err = %v", err)
	}
}

func TestWebHookIgnoreDoesNotWait(t *testing.T) {
	release := make(chan struct{})
	srv, calls := receiver(t, func(w http.ResponseWriter, _ int) {
		<-release
		w.WriteHeader(http.StatusInternalServerError)
	})
	r := runner(t, "login", config.WebHook{Request: config.HTTPRequest{URL: srv.URL}, Ignore: true}, nil)
	// RunAfter returns while the receiver still holds the call.
	if err := complete(t, r, event(t)); err != nil {
		t.Fatal(err)
	}
	<-calls
	close(release)
}

func TestWebHookTemplateCanCancel(t *testing.T) {
	srv, calls := receiver(t, func(w http.ResponseWriter, _ int) {})
	r := runner(t, "login", config.WebHook{Request: config.HTTPRequest{URL: srv.URL,
		Body: jsonnetURL(`function(ctx) if ctx.identity.traits.email == "a@example.org" then error "cancel" else {}`)}}, nil)
	if err := complete(t, r, event(t)); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 0 {
		t.Error("a cancelled call was made")
	}
}

func TestWebHookFormEncodedBody(t *testing.T) {
	srv, calls := receiver(t, func(w http.ResponseWriter, _ int) {})
	r := runner(t, "login", config.WebHook{Request: config.HTTPRequest{URL: srv.URL,
		Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		Body:    jsonnetURL(`function(ctx) { email: ctx.identity.traits.email, n: 1 }`)}}, nil)
	if err := complete(t, r, event(t)); err != nil {
		t.Fatal(err)
	}
	if got := <-calls; string(got.body) != "email=a%40example.org&n=1" {
		t.Errorf("body = %s", got.body)
	}
}

func TestWebHookParseInterruptsAndChanges(t *testing.T) {
	answer := make(chan func(http.ResponseWriter), 1)
	srv, calls := receiver(t, func(w http.ResponseWriter, _ int) { (<-answer)(w) })
	r := runner(t, "registration", config.WebHook{Request: config.HTTPRequest{URL: srv.URL}, Parse: true}, nil)

	e := event(t)
	if err := complete(t, r, e); err != nil || len(calls) != 0 {
		t.Fatalf("an interrupting hook runs before the transaction only: %v, %d calls", err, len(calls))
	}

	answer <- func(w http.ResponseWriter) {
		w.WriteHeader(http.StatusConflict)
		_, _ = w.Write([]byte(`{"messages":[{"instance_ptr":"#/traits/email","messages":[{"id":1234,"text":"taken elsewhere","type":"error","context":{"k":"v"}}]},{"instance_ptr":"#/","messages":[{"id":5,"text":"form"}]}]}`))
	}
	_, err := r.PrePersist(context.Background(), e)
	var fe flow.FormError
	if !errors.As(err, &fe) || len(fe) != 2 {
		t.Fatalf("err = %v", err)
	}
	if fe[0].Field != "traits.email" || fe[0].Message.ID != 1234 || fe[0].Message.Text != "taken elsewhere" || fe[0].Message.Type != "error" || fe[0].Message.Context["k"] != "v" {
		t.Errorf("first message: %+v %+v", fe[0], fe[0].Message)
	}
	if fe[1].Field != "" || fe[1].Message.Type != "info" {
		t.Errorf("a message on #/ goes on the form, typed info by default: %+v %+v", fe[1], fe[1].Message)
	}
	<-calls

	answer <- func(w http.ResponseWriter) {
		_, _ = w.Write([]byte(`{"identity":{"traits":{"email":"b@example.org"},"metadata_admin":{"x":1}}}`))
	}
	changes, err := r.PrePersist(context.Background(), e)
	if err != nil || changes == nil || string(changes.Traits) != `{"email":"b@example.org"}` || string(changes.MetadataAdmin) != `{"x":1}` {
		t.Fatalf("changes = %+v, %v", changes, err)
	}
	<-calls

	answer <- func(w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) }
	if changes, err := r.PrePersist(context.Background(), e); err != nil || changes != nil {
		t.Fatalf("204: %+v, %v", changes, err)
	}
	<-calls

	answer <- func(w http.ResponseWriter) { w.WriteHeader(http.StatusBadRequest) }
	var we *wire.Error
	if _, err := r.PrePersist(context.Background(), e); !errors.As(err, &we) || we.Code != http.StatusBadGateway {
		t.Fatalf("a 4xx without messages: %v", err)
	}
}

func TestWebHookBodyIsLoadedAtStartUp(t *testing.T) {
	_, err := NewRunnerWithWebHooks("login", []config.Hook{{Name: WebHook, WebHook: &config.WebHook{
		Request: config.HTTPRequest{URL: "http://x.test", Method: "POST", Body: jsonnetURL(`function(ctx) {`)}}}}, nil, nil, &WebHooks{})
	if err == nil || !strings.Contains(err.Error(), `"selfservice.flows.login.after.hooks": web_hook body`) {
		t.Errorf("err = %v", err)
	}
	_, err = NewRunnerWithWebHooks("login", nil, map[string][]config.Hook{"password": {{Name: WebHook, WebHook: &config.WebHook{
		Request: config.HTTPRequest{URL: "http://x.test", Method: "POST"}}}}}, nil, &WebHooks{})
	if err == nil || !strings.Contains(err.Error(), `"selfservice.flows.login.after.password.hooks": a web_hook has no body`) {
		t.Errorf("err = %v", err)
	}
}
