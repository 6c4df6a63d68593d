package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/hasher"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// testRoutes adds endpoints that misbehave on purpose.
type testRoutes struct{}

func (testRoutes) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /test/panic", func(http.ResponseWriter, *http.Request) { panic("handler bug") })
	mux.HandleFunc("GET /test/panic-after-write", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		panic("late bug")
	})
	mux.HandleFunc("GET /test/item/{id}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(r.PathValue("id")))
	})
}

type adminTestRoutes struct{}

func (adminTestRoutes) Register(mux *http.ServeMux, prefix string) {
	mux.HandleFunc("GET "+prefix+"/test/panic", func(http.ResponseWriter, *http.Request) { panic("admin bug") })
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func deps(t *testing.T, s *store.Store) Deps {
	t.Helper()
	reg, err := schema.Load(context.Background(), nil, "default")
	if err != nil {
		t.Fatal(err)
	}
	h, err := hasher.New(config.Hashers{Algorithm: "bcrypt", Bcrypt: config.Bcrypt{Cost: 4}})
	if err != nil {
		t.Fatal(err)
	}
	return Deps{
		Version:       "v1.2.3",
		PublicBaseURL: mustURL("https://auth.example.com/"),
		AdminBaseURL:  mustURL("http://admin.internal:4434/base/"),
		Identities:    identity.NewManager(s, reg, h, "https://auth.example.com/"),
		Schemas:       reg,
		Ready:         func(context.Context) error { return nil },
		PublicRoutes:  []Routes{testRoutes{}},
		AdminRoutes:   []PrefixedRoutes{adminTestRoutes{}},
	}
}

func serve(h http.Handler, method, target string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, target, nil))
	return w
}

func errorBody(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var body struct {
		Error map[string]any `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error == nil {
		t.Fatalf("answer %d is not a JSON error: %s", w.Code, w.Body)
	}
	if body.Error["code"] != float64(w.Code) {
		t.Errorf("error code %v in a %d answer", body.Error["code"], w.Code)
	}
	return body.Error
}

func TestRedirectsBetweenListeners(t *testing.T) {
	d := deps(t, nil)
	public, admin := Public(d), Admin(d)
	cases := []struct {
		h              http.Handler
		method, target string
		want           string
	}{
		{public, "GET", "/admin/identities?page_size=2&page_token=abc", "http://admin.internal:4434/base/admin/identities?page_size=2&page_token=abc"},
		{public, "POST", "/identities", "http://admin.internal:4434/base/identities"},
		{public, "DELETE", "/identities/0b8a/x?y=%2F", "http://admin.internal:4434/base/identities/0b8a/x?y=%2F"},
		{public, "GET", "/courier/messages", "http://admin.internal:4434/base/courier/messages"},
		{admin, "GET", "/self-service/login/browser?return_to=https%3A%2F%2Fapp.test%2F", "https://auth.example.com/self-service/login/browser?return_to=https%3A%2F%2Fapp.test%2F"},
		{admin, "GET", "/sessions/whoami", "https://auth.example.com/sessions/whoami"},
		{admin, "GET", "/schemas/default", "https://auth.example.com/schemas/default"},
		{admin, "GET", "/.well-known/ory/webauthn.js", "https://auth.example.com/.well-known/ory/webauthn.js"},
	}
	for _, c := range cases {
		w := serve(c.h, c.method, c.target)
		if w.Code != http.StatusTemporaryRedirect || w.Header().Get("Location") != c.want {
			t.Errorf("%s %s = %d → %q; want 307 → %q", c.method, c.target, w.Code, w.Header().Get("Location"), c.want)
		}
		if w.Header().Get("Cache-Control") == "" {
			t.Errorf("%s %s: redirect without Cache-Control", c.method, c.target)
		}
	}
}

func TestUnknownRoutesAnswerJSON(t *testing.T) {
	d := deps(t, nil)
	for name, h := range map[string]http.Handler{"public": Public(d), "admin": Admin(d)} {
		w := serve(h, "GET", "/no/such/thing?x=1")
		if w.Code != http.StatusNotFound || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
			t.Errorf("%s: unknown route = %d %q", name, w.Code, w.Header().Get("Content-Type"))
			continue
		}
		if e := errorBody(t, w); !strings.Contains(e["reason"].(string), "GET /no/such/thing") {
			t.Errorf("%s: reason %v", name, e["reason"])
		}

		w = serve(h, "POST", "/health/alive")
		if w.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s: POST /health/alive = %d; want 405", name, w.Code)
			continue
		}
		errorBody(t, w)
		if allow := w.Header().Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "HEAD") {
			t.Errorf("%s: Allow = %q", name, allow)
		}
	}
	w := serve(Admin(d), "DELETE", "/admin/identities")
	if w.Code != http.StatusMethodNotAllowed || !strings.Contains(w.Header().Get("Allow"), "POST") {
		t.Errorf("DELETE /admin/identities = %d, Allow %q", w.Code, w.Header().Get("Allow"))
	}
}

func TestHealthVersionAndHeaders(t *testing.T) {
	d := deps(t, nil)
	public, admin := Public(d), Admin(d)
	for _, c := range []struct {
		h      http.Handler
		target string
		want   string
	}{
		{public, "/health/alive", `{"status":"ok"}`},
		{public, "/health/ready", `{"status":"ok"}`},
		{admin, "/health/alive", `{"status":"ok"}`},
		{admin, "/admin/health/ready", `{"status":"ok"}`},
		{admin, "/version", `{"version":"v1.2.3"}`},
		{admin, "/admin/version", `{"version":"v1.2.3"}`},
	} {
		w := serve(c.h, "GET", c.target)
		if w.Code != 200 || strings.TrimSpace(w.Body.String()) != c.want {
			t.Errorf("GET %s = %d %s; want %s", c.target, w.Code, w.Body, c.want)
		}
		if cc := w.Header().Get("Cache-Control"); !strings.Contains(cc, "no-store") || !strings.Contains(cc, "private") {
			t.Errorf("GET %s: Cache-Control = %q", c.target, cc)
		}
	}
	d.Ready = func(context.Context) error { return errors.New("db down") }
	w := serve(Public(d), "GET", "/health/ready")
	if w.Code != http.StatusServiceUnavailable || strings.Contains(w.Body.String(), "db down") {
		t.Errorf("not ready: %d %s; want 503 without the cause", w.Code, w.Body)
	}
	w = serve(public, "GET", "/test/item/abc")
	if w.Code != 200 || w.Body.String() != "abc" {
		t.Errorf("path values lost through the middleware: %d %q", w.Code, w.Body)
	}
}

func TestPanicsAnswerJSON500(t *testing.T) {
	d := deps(t, nil)
	for _, c := range []struct {
		h      http.Handler
		target string
	}{{Public(d), "/test/panic"}, {Admin(d), "/test/panic"}, {Admin(d), "/admin/test/panic"}} {
		w := serve(c.h, "GET", c.target)
		if w.Code != 500 {
			t.Errorf("%s = %d; want 500", c.target, w.Code)
			continue
		}
		if e := errorBody(t, w); strings.Contains(w.Body.String(), "bug") || e["status"] != "Internal Server Error" {
			t.Errorf("%s: %s; want a generic 500", c.target, w.Body)
		}
	}
	// When the handler already answered, the status it chose stands.
	w := serve(Public(d), "GET", "/test/panic-after-write")
	if w.Code != http.StatusAccepted || w.Body.Len() != 0 {
		t.Errorf("panic after WriteHeader = %d %s", w.Code, w.Body)
	}
	// http.ErrAbortHandler keeps its meaning for the server.
	d.PublicRoutes = []Routes{routesFunc(func(mux *http.ServeMux) {
		mux.HandleFunc("GET /abort", func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })
	})}
	defer func() {
		if p := recover(); p != http.ErrAbortHandler {
			t.Errorf("recovered %v; want http.ErrAbortHandler re-raised", p)
		}
	}()
	serve(Public(d), "GET", "/abort")
}

type routesFunc func(*http.ServeMux)

func (f routesFunc) Register(mux *http.ServeMux) { f(mux) }

func TestAdminPrefixEquivalence(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		d := deps(t, s)
		admin := Admin(d)
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/identities", strings.NewReader(`{"traits":{"email":"prefix@example.org"}}`))
		admin.ServeHTTP(w, r)
		if w.Code != http.StatusCreated {
			t.Fatalf("POST /identities = %d %s", w.Code, w.Body)
		}
		var created map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &created)
		id, _ := created["id"].(string)
		for _, p := range []string{"/identities/" + id, "/admin/identities/" + id} {
			w := serve(admin, "GET", p)
			if w.Code != 200 || !strings.Contains(w.Body.String(), "prefix@example.org") {
				t.Errorf("GET %s = %d %s", p, w.Code, w.Body)
			}
		}
		a, b := serve(admin, "GET", "/identities"), serve(admin, "GET", "/admin/identities")
		if a.Code != 200 || a.Body.String() != b.Body.String() {
			t.Errorf("list with and without /admin differ: %d %s / %d %s", a.Code, a.Body, b.Code, b.Body)
		}
	})
}

func TestSchemas(t *testing.T) {
	public := Public(deps(t, nil))
	w := serve(public, "GET", "/schemas")
	var list []struct {
		ID     string          `json:"id"`
		Schema json.RawMessage `json:"schema"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil || w.Code != 200 || len(list) != 1 || list[0].ID != "default" {
		t.Fatalf("GET /schemas = %d %s", w.Code, w.Body)
	}
	if w.Header().Get("X-Total-Count") != "1" {
		t.Errorf("X-Total-Count = %q", w.Header().Get("X-Total-Count"))
	}
	for _, id := range []string{"default", base64.RawURLEncoding.EncodeToString([]byte("default"))} {
		w := serve(public, "GET", "/schemas/"+id)
		if w.Code != 200 || !json.Valid(w.Body.Bytes()) || !strings.Contains(w.Body.String(), `"traits"`) {
			t.Errorf("GET /schemas/%s = %d %s", id, w.Code, w.Body)
		}
	}
	w = serve(public, "GET", "/schemas/nope")
	if w.Code != 404 {
		t.Errorf("unknown schema = %d", w.Code)
	}
	errorBody(t, w)
	w = serve(public, "GET", "/schemas?page=1&per_page=1")
	if strings.TrimSpace(w.Body.String()) != "[]" {
		t.Errorf("second page of one = %s; want []", w.Body)
	}
}

func TestCORS(t *testing.T) {
	d := deps(t, nil)
	d.PublicCORS = config.CORS{
		Enabled: true, AllowedOrigins: []string{"https://app.example.com", "https://*.example.org"},
		AllowedMethods: []string{"GET", "POST"}, AllowedHeaders: []string{"Content-Type"},
		ExposedHeaders: []string{"Content-Type"}, AllowCredentials: true, MaxAge: 60,
	}
	public := Public(d)
	cases := []struct {
		origin string
		ok     bool
	}{
		{"https://app.example.com", true},
		{"https://APP.example.com", true},
		{"https://a.example.org", true},
		{"https://a.b.example.org", true},
		{"https://example.org", false},
		{"https://evil.com", false},
		{"http://app.example.com", false},
	}
	for _, c := range cases {
		r := httptest.NewRequest("OPTIONS", "/sessions/whoami", nil)
		r.Header.Set("Origin", c.origin)
		r.Header.Set("Access-Control-Request-Method", "GET")
		w := httptest.NewRecorder()
		public.ServeHTTP(w, r)
		got := w.Header().Get("Access-Control-Allow-Origin")
		if c.ok != (got == c.origin) {
			t.Errorf("preflight from %s: Allow-Origin %q", c.origin, got)
		}
		if c.ok && (w.Code != 204 || w.Header().Get("Access-Control-Allow-Credentials") != "true" || w.Header().Get("Access-Control-Max-Age") != "60") {
			t.Errorf("preflight from %s: %d %v", c.origin, w.Code, w.Header())
		}
	}
	r := httptest.NewRequest("GET", "/health/alive", nil)
	r.Header.Set("Origin", "https://app.example.com")
	w := httptest.NewRecorder()
	public.ServeHTTP(w, r)
	if w.Code != 200 || w.Header().Get("Access-Control-Expose-Headers") != "Content-Type" || w.Header().Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Errorf("simple CORS request: %d %v", w.Code, w.Header())
	}
}

func TestURLTextIsCheckedAtTheEdge(t *testing.T) {
	d := deps(t, nil)
	public, admin := Public(d), Admin(d)
	for _, c := range []struct {
		h      http.Handler
		target string
		reason string
	}{
		{admin, "/admin/identities/by/external/%00", "URL path"},
		{admin, "/admin/identities/by/external/%ff", "URL path"},
		{admin, "/admin/identities/%ED%A0%80", "URL path"},
		{admin, "/admin/identities?credentials_identifier=%00", "credentials_identifier"},
		{admin, "/admin/identities?page_size=2&credentials_identifier=a%00b%40example.org", "credentials_identifier"},
		{admin, "/admin/courier/messages?recipient=%ff", "recipient"},
		{admin, "/admin/identities?ids=ok&ids=%c3", "ids"},
		{admin, "/admin/identities?%ff=1", "names"},
		{admin, "/self-service/login/browser?return_to=%00", "return_to"}, // before the redirect to public
		{public, "/self-service/login?flow=%00", "flow"},
		{public, "/sessions/whoami?x=%ed%a0%80", "x"},
		{public, "/no/such/%ff", "URL path"},
		{public, "/admin/identities/%00", "URL path"}, // before the redirect to admin
	} {
		w := serve(c.h, "GET", c.target)
		if w.Code != http.StatusBadRequest {
			t.Errorf("GET %s = %d %s; want 400", c.target, w.Code, w.Body)
			continue
		}
		if e := errorBody(t, w); !strings.Contains(e["reason"].(string), c.reason) {
			t.Errorf("GET %s: reason %q; want it to name %q", c.target, e["reason"], c.reason)
		}
		if w.Header().Get("Cache-Control") == "" {
			t.Errorf("GET %s: refused without Cache-Control", c.target)
		}
	}
	// Text that only looks odd passes, and so do parameters no handler
	// ever sees (the query parser drops bad escapes).
	for _, target := range []string{
		"/test/item/Zo%C3%AB%F0%9F%98%80",
		"/test/item/x?name=%EF%BF%BD&%C3%A9=%E2%82%AC",
		"/test/item/x?bad=%zz",
		"/test/item/x?a=%5Cu0000",
	} {
		if w := serve(public, "GET", target); w.Code != 200 {
			t.Errorf("GET %s = %d %s; want 200", target, w.Code, w.Body)
		}
	}
}

// logRecords keeps the default logger's records during a test.
type logRecords struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, r)
	return nil
}
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecords) WithGroup(string) slog.Handler      { return l }

func captureLogs(t *testing.T) *logRecords {
	t.Helper()
	l := &logRecords{}
	old := slog.Default()
	slog.SetDefault(slog.New(l))
	t.Cleanup(func() { slog.SetDefault(old) })
	return l
}

func TestClientThatLeftIsNoServerError(t *testing.T) {
	logs := captureLogs(t)
	d := deps(t, nil)
	d.PublicRoutes = []Routes{routesFunc(func(mux *http.ServeMux) {
		// A store call fails the way drivers fail once the context is done.
		mux.HandleFunc("GET /store-call", func(w http.ResponseWriter, r *http.Request) {
			wire.WriteError(w, r, fmt.Errorf("loading the flow: %w", r.Context().Err()))
		})
		mux.HandleFunc("GET /gives-up", func(http.ResponseWriter, *http.Request) {})
	})}
	public := Public(d)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // net/http cancels the request's context when the client leaves
	statuses := map[string]any{}
	for _, target := range []string{"/store-call", "/gives-up"} {
		w := httptest.NewRecorder()
		public.ServeHTTP(w, httptest.NewRequest("GET", target, nil).WithContext(ctx))
		if w.Code >= 500 && w.Code != wire.StatusClientClosedRequest {
			t.Errorf("GET %s for a client that left = %d", target, w.Code)
		}
	}
	logs.mu.Lock()
	defer logs.mu.Unlock()
	for _, r := range logs.records {
		if r.Level >= slog.LevelError {
			t.Errorf("logged at %s: %s", r.Level, r.Message)
		}
		if r.Message == "request" {
			attrs := map[string]slog.Value{}
			r.Attrs(func(a slog.Attr) bool {
				attrs[a.Key] = a.Value
				return true
			})
			statuses[attrs["path"].String()] = attrs["status"].Any()
		}
	}
	for _, path := range []string{"/store-call", "/gives-up"} {
		if fmt.Sprint(statuses[path]) != "499" {
			t.Errorf("the request log of %s says status %v, want 499", path, statuses[path])
		}
	}
}
