package api

import (
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// traced gives every request a server span, child of the caller's span
// when the request carries a W3C traceparent. It runs inside observe, whose
// route note tells it the pattern that served the request: spans are named
// by route, never by the raw path, which holds ids (and a query, tokens).
// With tp nil (tracing off) it adds nothing.
func traced(next http.Handler, tp trace.TracerProvider) http.Handler {
	if tp == nil {
		return next
	}
	tracer := tp.Tracer("github.com/lanyard-id/lanyard/internal/api")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method := spanMethod(r.Method)
		ctx := propagation.TraceContext{}.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracer.Start(ctx, method, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		r = r.WithContext(ctx)
		defer func() {
			attrs := []attribute.KeyValue{
				attribute.String("http.request.method", method),
				attribute.Int("http.response.status_code", rec.status),
			}
			if note, ok := r.Context().Value(routeKey{}).(*routeNote); ok && note.pattern != "" {
				span.SetName(note.pattern)
				attrs = append(attrs, attribute.String("http.route", routePath(note.pattern)))
			}
			span.SetAttributes(attrs...)
			if rec.status >= 500 {
				span.SetStatus(codes.Error, http.StatusText(rec.status))
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// spanMethod keeps the method out of span names and attributes unless it is
// a standard one, so that clients cannot mint arbitrary values.
func spanMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return "_OTHER"
}

// routePath is the path template of a ServeMux pattern ("GET /sessions/{id}"
// -> "/sessions/{id}"), which is what http.route holds.
func routePath(pattern string) string {
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		return strings.TrimLeft(pattern[i+1:], " \t")
	}
	return pattern
}
