package api

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func TestRequestSpansAreNamedByRoute(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	d := deps(t, nil)
	d.Traces = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	public, admin := Public(d), Admin(d)

	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	r := httptest.NewRequest("GET", "/test/item/0b9c4c1e-2d7f?token=secret", nil)
	r.Header.Set("Traceparent", parent)
	public.ServeHTTP(httptest.NewRecorder(), r)
	serve(public, "GET", "/no/such/0b9c4c1e")
	serve(admin, "GET", "/admin/test/panic")
	serve(public, "BREW", "/test/item/x")

	ended := rec.Ended()
	if len(ended) != 4 {
		t.Fatalf("%d spans, want 4", len(ended))
	}
	type want struct {
		name, route string
		status      int64
	}
	for i, w := range []want{
		{"GET /test/item/{id}", "/test/item/{id}", 200},
		{"GET", "", 404},
		{"GET /admin/test/panic", "/admin/test/panic", 500},
		{"_OTHER", "", 405},
	} {
		s := ended[i]
		if s.Name() != w.name || s.SpanKind() != trace.SpanKindServer {
			t.Errorf("span %d = %q (%v), want server span %q", i, s.Name(), s.SpanKind(), w.name)
		}
		got := map[string]string{}
		for _, a := range s.Attributes() {
			got[string(a.Key)] = a.Value.String()
			for _, leak := range []string{"0b9c4c1e", "secret", "BREW"} {
				if strings.Contains(a.Value.String(), leak) {
					t.Errorf("span %d attribute %s = %q carries the raw request", i, a.Key, a.Value.String())
				}
			}
		}
		if got["http.route"] != w.route || got["http.response.status_code"] != strconv.FormatInt(w.status, 10) || got["http.request.method"] == "" {
			t.Errorf("span %d attributes = %v, want route %q status %d", i, got, w.route, w.status)
		}
		if (s.Status().Code == codes.Error) != (w.status >= 500) {
			t.Errorf("span %d status = %v for %d", i, s.Status(), w.status)
		}
	}
	if id := ended[0].SpanContext().TraceID().String(); id != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("trace id = %s, want the traceparent's", id)
	}
	if p := ended[0].Parent().SpanID().String(); p != "00f067aa0ba902b7" {
		t.Errorf("parent span = %s, want the traceparent's", p)
	}
	if ended[1].Parent().IsValid() {
		t.Errorf("a request without traceparent has a parent")
	}
}

func TestRequestsHaveNoSpanWhenTracingIsOff(t *testing.T) {
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/test/item/x", nil)
	var seen trace.SpanContext
	h := traced(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		seen = trace.SpanContextFromContext(r.Context())
	}), nil)
	h.ServeHTTP(w, r)
	if seen.IsValid() {
		t.Errorf("tracing off, yet the request has a span")
	}
}
