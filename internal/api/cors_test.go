package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lanyard-id/lanyard/internal/config"
)

// kratosCORS is serve.public.cors with Kratos's defaults, enabled.
func kratosCORS(origins ...string) config.CORS {
	return config.CORS{
		Enabled:          true,
		AllowedOrigins:   origins,
		AllowedMethods:   []string{"POST", "GET", "PUT", "PATCH", "DELETE"},
		AllowedHeaders:   []string{"Authorization", "Content-Type", "X-Session-Token"},
		ExposedHeaders:   []string{"Content-Type"},
		AllowCredentials: true,
	}
}

type corsAnswer struct {
	code        int
	origin      string // Access-Control-Allow-Origin
	credentials string // Access-Control-Allow-Credentials
	methods     string // Access-Control-Allow-Methods
	headers     string // Access-Control-Allow-Headers
	exposed     string // Access-Control-Expose-Headers
	maxAge      string
	vary        string
	body        string
}

func corsRequest(t *testing.T, c config.CORS, method, origin string, header http.Header) corsAnswer {
	t.Helper()
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("secret"))
	})
	r := httptest.NewRequest(method, "/sessions/whoami", nil)
	if origin != "" {
		r.Header.Set("Origin", origin)
	}
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	cors(c, next).ServeHTTP(w, r)
	h := w.Header()
	return corsAnswer{
		code:        w.Code,
		origin:      strings.Join(h.Values("Access-Control-Allow-Origin"), ","),
		credentials: h.Get("Access-Control-Allow-Credentials"),
		methods:     h.Get("Access-Control-Allow-Methods"),
		headers:     h.Get("Access-Control-Allow-Headers"),
		exposed:     h.Get("Access-Control-Expose-Headers"),
		maxAge:      h.Get("Access-Control-Max-Age"),
		vary:        strings.Join(h.Values("Vary"), ", "),
		body:        w.Body.String(),
	}
}

func preflight(method string, headers ...string) http.Header {
	h := http.Header{"Access-Control-Request-Method": {method}}
	if len(headers) > 0 {
		h.Set("Access-Control-Request-Headers", strings.Join(headers, ","))
	}
	return h
}

func TestCORSWildcardNeverCarriesCredentials(t *testing.T) {
	c := kratosCORS("*") // Kratos's defaults: "*" and allow_credentials
	for _, origin := range []string{"https://evil.example", "null", "http://127.0.0.1:4455"} {
		got := corsRequest(t, c, "GET", origin, nil)
		if got.origin != "*" || got.credentials != "" {
			t.Errorf("GET from %s: Allow-Origin %q, Allow-Credentials %q; want \"*\" without credentials", origin, got.origin, got.credentials)
		}
		if got.code != 200 || got.body != "secret" || got.exposed != "Content-Type" {
			t.Errorf("GET from %s: %+v", origin, got)
		}
		got = corsRequest(t, c, "OPTIONS", origin, preflight("GET", "x-session-token"))
		if got.code != http.StatusNoContent || got.origin != "*" || got.credentials != "" || got.methods != "GET" || got.headers != "x-session-token" {
			t.Errorf("preflight from %s: %+v", origin, got)
		}
		if got.body != "" {
			t.Errorf("preflight from %s reached the handler: %q", origin, got.body)
		}
	}
	// An empty list means every origin, as in rs/cors and Kratos.
	if got := corsRequest(t, kratosCORS(), "GET", "https://evil.example", nil); got.origin != "*" || got.credentials != "" {
		t.Errorf("empty allowed_origins: %+v", got)
	}
}

func TestCORSNamedOriginsAreEchoedWithCredentials(t *testing.T) {
	c := kratosCORS("https://app.example.com", "https://*.example.org")
	c.MaxAge = 60
	for _, origin := range []string{"https://app.example.com", "https://APP.example.com", "https://a.example.org", "https://a.b.example.org"} {
		got := corsRequest(t, c, "POST", origin, nil)
		if got.origin != origin || got.credentials != "true" || got.exposed != "Content-Type" || got.body != "secret" {
			t.Errorf("POST from %s: %+v", origin, got)
		}
		if !strings.Contains(got.vary, "Origin") {
			t.Errorf("POST from %s: Vary %q lacks Origin", origin, got.vary)
		}
		got = corsRequest(t, c, "OPTIONS", origin, preflight("DELETE", "content-type", "x-session-token"))
		if got.code != http.StatusNoContent || got.origin != origin || got.credentials != "true" || got.maxAge != "60" ||
			got.methods != "DELETE" || got.headers != "content-type,x-session-token" {
			t.Errorf("preflight from %s: %+v", origin, got)
		}
	}
	for _, origin := range []string{"https://evil.example", "https://example.org", "http://app.example.com", "https://app.example.com.evil.example", "null"} {
		got := corsRequest(t, c, "GET", origin, nil)
		if got.origin != "" || got.credentials != "" || got.exposed != "" {
			t.Errorf("GET from unlisted %s got CORS headers: %+v", origin, got)
		}
		if got.code != 200 || got.body != "secret" || !strings.Contains(got.vary, "Origin") {
			t.Errorf("GET from unlisted %s: %+v", origin, got)
		}
		got = corsRequest(t, c, "OPTIONS", origin, preflight("GET"))
		if got.code != http.StatusNoContent || got.origin != "" || got.credentials != "" || got.methods != "" || got.body != "" {
			t.Errorf("preflight from unlisted %s: %+v", origin, got)
		}
	}
}

func TestCORSMixedListEchoesNamedOriginsOnly(t *testing.T) {
	c := kratosCORS("https://app.example.com", "*")
	if got := corsRequest(t, c, "GET", "https://app.example.com", nil); got.origin != "https://app.example.com" || got.credentials != "true" {
		t.Errorf("named origin: %+v", got)
	}
	if got := corsRequest(t, c, "OPTIONS", "https://app.example.com", preflight("PUT")); got.origin != "https://app.example.com" || got.credentials != "true" {
		t.Errorf("named origin preflight: %+v", got)
	}
	if got := corsRequest(t, c, "GET", "https://evil.example", nil); got.origin != "*" || got.credentials != "" {
		t.Errorf("other origin: %+v", got)
	}
	if got := corsRequest(t, c, "OPTIONS", "https://evil.example", preflight("PUT")); got.origin != "*" || got.credentials != "" {
		t.Errorf("other origin preflight: %+v", got)
	}
}

func TestCORSCredentialsOff(t *testing.T) {
	c := kratosCORS("https://app.example.com")
	c.AllowCredentials = false
	if got := corsRequest(t, c, "GET", "https://app.example.com", nil); got.origin != "https://app.example.com" || got.credentials != "" {
		t.Errorf("GET: %+v", got)
	}
}

func TestCORSPreflightRefusals(t *testing.T) {
	c := kratosCORS("https://app.example.com")
	for name, h := range map[string]http.Header{
		"method not allowed": preflight("CONNECT"),
		"header not allowed": preflight("GET", "x-evil"),
	} {
		got := corsRequest(t, c, "OPTIONS", "https://app.example.com", h)
		if got.code != http.StatusNoContent || got.origin != "" || got.credentials != "" {
			t.Errorf("%s: %+v", name, got)
		}
	}
	// A method outside allowed_methods gets no CORS headers on the actual request either.
	if got := corsRequest(t, c, "HEAD", "https://app.example.com", nil); got.origin != "" {
		t.Errorf("HEAD: %+v", got)
	}
	// An OPTIONS request that is not a preflight reaches the handler.
	if got := corsRequest(t, c, "OPTIONS", "https://app.example.com", nil); got.body != "secret" {
		t.Errorf("plain OPTIONS: %+v", got)
	}
}

func TestCORSWithoutOriginOrDisabled(t *testing.T) {
	if got := corsRequest(t, kratosCORS("*"), "GET", "", nil); got.origin != "" || got.credentials != "" || got.body != "secret" {
		t.Errorf("no Origin: %+v", got)
	}
	if got := corsRequest(t, kratosCORS("https://app.example.com", "*"), "GET", "", nil); got.origin != "" || got.body != "secret" {
		t.Errorf("no Origin, mixed list: %+v", got)
	}
	off := kratosCORS("*")
	off.Enabled = false
	got := corsRequest(t, off, "OPTIONS", "https://app.example.com", preflight("GET"))
	if got.origin != "" || got.vary != "" || got.body != "secret" {
		t.Errorf("disabled: %+v", got)
	}
}
