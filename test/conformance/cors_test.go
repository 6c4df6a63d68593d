package conformance

import (
	"net/http"
	"strings"
	"testing"
)

const evilOrigin = "https://evil.example"

// corsHeaders are the CORS answer headers of a response.
type corsHeaders struct {
	origin, credentials, methods string
}

func corsOf(res response) corsHeaders {
	return corsHeaders{
		origin:      strings.Join(res.header.Values("Access-Control-Allow-Origin"), ","),
		credentials: res.header.Get("Access-Control-Allow-Credentials"),
		methods:     res.header.Get("Access-Control-Allow-Methods"),
	}
}

// signedInBrowser is a browser holding a session cookie on s.
func signedInBrowser(t *testing.T, s *Server) *browser {
	t.Helper()
	b := newBrowser(t, s)
	browserRegister(t, b, uniqueEmail("cors"))
	if b.cookie("ory_kratos_session") == nil {
		t.Fatal("no session cookie after browser registration")
	}
	return b
}

// With Kratos's defaults (allowed_origins "*", allow_credentials true) any
// web site may call the API, but never with the user's cookie: "*" is sent
// literally and without Access-Control-Allow-Credentials, so browsers do
// not hand a credentialed response to the calling page.
func TestCORS_WildcardOriginNeverGetsCredentials(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, map[string]any{"serve.public.cors.enabled": true})
		b := signedInBrowser(t, s)

		res := b.do(t, http.MethodGet, s.PublicURL+"/sessions/whoami", nil, http.Header{"Origin": {evilOrigin}})
		if res.status != http.StatusOK {
			t.Fatalf("whoami with the cookie = %d: %s", res.status, res.body)
		}
		if got := corsOf(res); got.origin != "*" || got.credentials != "" {
			t.Errorf("whoami from %s: Allow-Origin %q, Allow-Credentials %q; want \"*\" and no credentials", evilOrigin, got.origin, got.credentials)
		}

		pre := b.do(t, http.MethodOptions, s.PublicURL+"/sessions/whoami", nil, http.Header{
			"Origin":                         {evilOrigin},
			"Access-Control-Request-Method":  {"GET"},
			"Access-Control-Request-Headers": {"x-session-token"},
		})
		if got := corsOf(pre); pre.status != http.StatusNoContent || got.origin != "*" || got.credentials != "" || got.methods != "GET" {
			t.Errorf("preflight from %s: %d %+v", evilOrigin, pre.status, got)
		}
	})
}

// Origins listed by name are echoed with credentials; others get no CORS
// headers at all.
func TestCORS_ListedOriginsAreEchoedWithCredentials(t *testing.T) {
	t.Parallel()
	const app = "http://127.0.0.1:4455"
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, map[string]any{
			"serve.public.cors.enabled":         true,
			"serve.public.cors.allowed_origins": []any{app, "https://*.example.org"},
			"serve.public.cors.max_age":         60,
		})
		b := signedInBrowser(t, s)

		for _, origin := range []string{app, "https://ui.example.org"} {
			res := b.do(t, http.MethodGet, s.PublicURL+"/sessions/whoami", nil, http.Header{"Origin": {origin}})
			if got := corsOf(res); res.status != http.StatusOK || got.origin != origin || got.credentials != "true" {
				t.Errorf("whoami from %s: %d %+v", origin, res.status, got)
			}
			pre := b.do(t, http.MethodOptions, s.PublicURL+"/self-service/login/browser", nil, http.Header{
				"Origin": {origin}, "Access-Control-Request-Method": {"POST"},
			})
			if got := corsOf(pre); pre.status != http.StatusNoContent || got.origin != origin || got.credentials != "true" ||
				pre.header.Get("Access-Control-Max-Age") != "60" {
				t.Errorf("preflight from %s: %d %+v %v", origin, pre.status, got, pre.header)
			}
		}

		res := b.do(t, http.MethodGet, s.PublicURL+"/sessions/whoami", nil, http.Header{"Origin": {evilOrigin}})
		if got := corsOf(res); got != (corsHeaders{}) {
			t.Errorf("whoami from unlisted %s got CORS headers %+v", evilOrigin, got)
		}
		pre := b.do(t, http.MethodOptions, s.PublicURL+"/sessions/whoami", nil, http.Header{
			"Origin": {evilOrigin}, "Access-Control-Request-Method": {"GET"},
		})
		if got := corsOf(pre); got != (corsHeaders{}) {
			t.Errorf("preflight from unlisted %s got CORS headers %+v", evilOrigin, got)
		}
	})
}
