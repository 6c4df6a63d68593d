package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lanyard-id/lanyard/internal/metrics"
	"github.com/lanyard-id/lanyard/internal/requestid"
	"github.com/lanyard-id/lanyard/internal/wire"
)

func scrapeBody(t *testing.T, admin http.Handler, path string) string {
	t.Helper()
	w := serve(admin, "GET", path)
	if w.Code != http.StatusOK {
		t.Fatalf("GET %s = %d: %s", path, w.Code, w.Body)
	}
	return w.Body.String()
}

func TestRequestsAreCountedByPatternNotPath(t *testing.T) {
	d := deps(t, nil)
	d.Metrics = metrics.New(nil)
	public, admin := Public(d), Admin(d)
	serve(public, "GET", "/test/item/0b9c4c1e-2d7f-4a55-9d7e-6f3e8f1a2b3c?token=secret")
	serve(public, "GET", "/test/item/other")
	serve(public, "GET", "/no/such/path/0b9c4c1e")
	serve(public, "GET", "/test/panic")

	body := scrapeBody(t, admin, "/admin/metrics/prometheus")
	for _, want := range []string{
		`lanyard_http_requests_total{code="200",listener="public",route="GET /test/item/{id}"} 2`,
		`lanyard_http_requests_total{code="404",listener="public",route="unmatched"} 1`,
		`lanyard_http_requests_total{code="500",listener="public",route="GET /test/panic"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	for _, leak := range []string{"0b9c4c1e", "secret", "/no/such"} {
		if strings.Contains(body, leak) {
			t.Errorf("scrape contains %q from a request path or query", leak)
		}
	}
	// Both prefixes, as every admin route; the scrape itself is counted.
	if body := scrapeBody(t, admin, "/metrics/prometheus"); !strings.Contains(body, `route="GET /admin/metrics/prometheus"`) {
		t.Errorf("the scrape under /admin is not counted by its pattern")
	}
	if w := serve(public, "GET", "/metrics/prometheus"); w.Code != http.StatusNotFound {
		t.Errorf("public /metrics/prometheus = %d, want 404", w.Code)
	}
	if w := serve(Admin(deps(t, nil)), "GET", "/admin/metrics/prometheus"); w.Code != http.StatusNotFound {
		t.Errorf("without metrics, /admin/metrics/prometheus = %d, want 404", w.Code)
	}
}

func TestRequestIDsAreEchoedAndLogged(t *testing.T) {
	captureLogs(t)
	d := deps(t, nil)
	var seen string
	d.PublicRoutes = []Routes{routesFunc(func(mux *http.ServeMux) {
		mux.HandleFunc("GET /fails", func(w http.ResponseWriter, r *http.Request) {
			seen = requestid.FromContext(r.Context())
			wire.WriteError(w, r, context.DeadlineExceeded)
		})
	})}
	public := Public(d)

	r := httptest.NewRequest("GET", "/fails", nil)
	r.Header.Set(requestid.Header, "from-the-proxy")
	w := httptest.NewRecorder()
	public.ServeHTTP(w, r)
	if got := w.Header().Get(requestid.Header); got != "from-the-proxy" || seen != got {
		t.Errorf("X-Request-Id = %q, handler saw %q; want the incoming id", got, seen)
	}
	generated := serve(public, "GET", "/fails").Header().Get(requestid.Header)
	if generated == "" || generated == "from-the-proxy" {
		t.Errorf("generated X-Request-Id = %q", generated)
	}
	// 429s of the rate limit, outside chain, get an id too.
	d.PublicLimit = func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTooManyRequests) })
	}
	if got := serve(Public(d), "GET", "/fails").Header().Get(requestid.Header); got == "" {
		t.Error("a refused request has no X-Request-Id")
	}

}

func TestLogLinesOfARequestCarryItsID(t *testing.T) {
	var buf strings.Builder
	old := slog.Default()
	slog.SetDefault(slog.New(requestid.LogHandler(slog.NewJSONHandler(&syncWriter{b: &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	t.Cleanup(func() { slog.SetDefault(old) })
	d := deps(t, nil)
	d.PublicRoutes = []Routes{routesFunc(func(mux *http.ServeMux) {
		mux.HandleFunc("GET /fails", func(w http.ResponseWriter, r *http.Request) {
			wire.WriteError(w, r, context.DeadlineExceeded)
		})
	})}
	r := httptest.NewRequest("GET", "/fails", nil)
	r.Header.Set(requestid.Header, "req-42")
	Public(d).ServeHTTP(httptest.NewRecorder(), r)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var failed, request bool
	for _, l := range lines {
		if !strings.Contains(l, `"request_id":"req-42"`) {
			t.Errorf("log line without the request id: %s", l)
		}
		failed = failed || strings.Contains(l, `"msg":"request failed"`)
		request = request || strings.Contains(l, `"msg":"request"`)
	}
	if !failed || !request {
		t.Errorf("want the error line and the request line:\n%s", buf.String())
	}
}

type syncWriter struct{ b *strings.Builder }

func (s *syncWriter) Write(p []byte) (int, error) { return s.b.Write(p) }
