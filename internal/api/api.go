// Package api assembles the public and the admin HTTP listeners: routes,
// the redirects between the two, health and version endpoints, and the
// middleware every request passes through.
package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/metrics"
	"github.com/lanyard-id/lanyard/internal/requestid"
	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// Deps is what the routers need.
type Deps struct {
	Version       string
	PublicBaseURL *url.URL
	AdminBaseURL  *url.URL
	Identities    *identity.Manager
	Schemas       *schema.Registry
	// Ready reports whether the server can serve (database reachable).
	Ready func(ctx context.Context) error
	// PublicRoutes are the self-service and session endpoints.
	PublicRoutes []Routes
	// AdminRoutes are further admin endpoints, registered under both
	// prefixes.
	AdminRoutes []PrefixedRoutes
	// PublicCORS configures cross-origin access to the public API.
	PublicCORS config.CORS
	// PublicLimit, when set, wraps the public routes inside CORS handling,
	// so that its refusals (429) reach cross-origin pages readable.
	PublicLimit func(http.Handler) http.Handler
	// Metrics, when set, counts every request and flow outcome and is
	// served on the admin listener at /admin/metrics/prometheus.
	Metrics *metrics.Metrics
	// Traces, when set, gives every request a server span.
	Traces trace.TracerProvider
	// ConfigRevision, when set, is what GET /admin/health/config answers:
	// the config's revision key or a hash of it.
	ConfigRevision string
}

// Routes is a set of endpoints that registers itself on a mux.
type Routes interface {
	Register(mux *http.ServeMux)
}

// PrefixedRoutes registers itself under a path prefix ("" or "/admin").
type PrefixedRoutes interface {
	Register(mux *http.ServeMux, prefix string)
}

// Public builds the handler of the public listener.
func Public(d Deps) http.Handler {
	mux := http.NewServeMux()
	registerHealth(mux, "", d)
	schemas := &schemaHandler{registry: d.Schemas}
	mux.HandleFunc("GET /schemas", schemas.list)
	mux.HandleFunc("GET /schemas/{id}", schemas.get)
	for _, r := range d.PublicRoutes {
		r.Register(mux)
	}

	// Admin paths belong to the other listener.
	toAdmin := redirectTo(d.AdminBaseURL)
	for _, p := range []string{"/admin/", "/identities", "/identities/", "/courier/", "/recovery/"} {
		mux.Handle(p, toAdmin)
	}
	var h http.Handler = chain(mux, "public")
	if d.PublicLimit != nil {
		h = d.PublicLimit(h)
	}
	return observe(traced(cors(d.PublicCORS, h), d.Traces), "public", d.Metrics)
}

// Admin builds the handler of the admin listener. Every admin route answers
// with and without the /admin prefix, as Kratos's does.
func Admin(d Deps) http.Handler {
	mux := http.NewServeMux()
	ids := identity.NewAdminHandler(d.Identities, d.AdminBaseURL.String())
	for _, prefix := range []string{"", "/admin"} {
		registerHealth(mux, prefix, d)
		ids.Register(mux, prefix)
		for _, r := range d.AdminRoutes {
			r.Register(mux, prefix)
		}
		mux.HandleFunc("GET "+prefix+"/version", func(w http.ResponseWriter, r *http.Request) {
			wire.WriteJSON(w, http.StatusOK, map[string]string{"version": d.Version})
		})
		if d.Metrics != nil {
			mux.Handle("GET "+prefix+"/metrics/prometheus", d.Metrics.Handler())
		}
		if d.ConfigRevision != "" {
			mux.HandleFunc("GET "+prefix+"/health/config", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain")
				_, _ = io.WriteString(w, d.ConfigRevision)
			})
		}
	}

	// Public paths belong to the other listener.
	toPublic := redirectTo(d.PublicBaseURL)
	for _, p := range []string{"/self-service/", "/schemas", "/schemas/", "/.well-known/"} {
		mux.Handle(p, toPublic)
	}
	// Per method: admin's own GET/DELETE /sessions/{id} would clash with a
	// method-less pattern.
	for _, p := range []string{"/sessions/whoami", "/sessions/token-exchange"} {
		for _, m := range wire.Methods {
			mux.Handle(m+" "+p, toPublic)
		}
	}
	return observe(traced(chain(mux, "admin"), d.Traces), "admin", d.Metrics)
}

func registerHealth(mux *http.ServeMux, prefix string, d Deps) {
	mux.HandleFunc("GET "+prefix+"/health/alive", func(w http.ResponseWriter, r *http.Request) {
		wire.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET "+prefix+"/health/ready", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := d.Ready(ctx); err != nil {
			slog.WarnContext(ctx, "not ready", "error", err)
			wire.WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"errors": map[string]string{"database": "the database is not reachable"}})
			return
		}
		wire.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// redirectTo answers 307 to the same path and query on another base URL.
func redirectTo(base *url.URL) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := *base
		target.Path = strings.TrimSuffix(base.Path, "/") + r.URL.Path
		target.RawPath = ""
		target.RawQuery = r.URL.RawQuery
		http.Redirect(w, r, target.String(), http.StatusTemporaryRedirect)
	})
}

// observe is the outermost layer of a listener: it gives the request its
// id (echoed in X-Request-Id and carried by every log line made with the
// request's context), counts it in m by the route pattern that served it,
// and writes a debug log line.
func observe(next http.Handler, listener string, m *metrics.Metrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := requestid.Pick(r.Header.Get(requestid.Header))
		w.Header().Set(requestid.Header, id)
		ctx := requestid.NewContext(r.Context(), id)
		if m != nil {
			ctx = flow.WithObserver(ctx, m)
		}
		route := &routeNote{}
		r = r.WithContext(context.WithValue(ctx, routeKey{}, route))
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			status := rec.status
			if !rec.wrote && r.Context().Err() != nil {
				status = wire.StatusClientClosedRequest // the client left before any answer
			}
			took := time.Since(start)
			m.Request(listener, route.pattern, status, took)
			// The path only: queries can carry tokens and codes.
			slog.DebugContext(r.Context(), "request", "listener", listener, "method", r.Method, "path", r.URL.Path,
				"status", status, "duration", took)
		}()
		next.ServeHTTP(rec, r)
	})
}

// routeNote is where chain leaves the pattern that served a request for
// observe, which runs outside the middleware that may copy the request.
type routeNote struct{ pattern string }

type routeKey struct{}

// chain wraps mux with what every request needs: panic recovery, JSON
// answers for unknown routes and no caching.
func chain(mux *http.ServeMux, listener string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				slog.ErrorContext(r.Context(), "panic while serving a request", "listener", listener, "method", r.Method, "path", r.URL.Path, "panic", p)
				if !rec.wrote {
					wire.WriteError(rec, r, wire.Internal)
				}
			}
		}()
		rec.Header().Set("Cache-Control", "private, no-cache, no-store, must-revalidate")
		if err := checkURLText(r.URL); err != nil {
			wire.WriteError(rec, r, err)
			return
		}
		if h, pattern := mux.Handler(r); pattern == "" {
			notFoundOrNotAllowed(rec, r, h)
			return
		}
		// Through the mux, not the handler found above: only ServeHTTP
		// fills in the path values ({id}) of the request, and the pattern,
		// read after it served.
		defer func() {
			if note, ok := r.Context().Value(routeKey{}).(*routeNote); ok {
				note.pattern = r.Pattern
			}
		}()
		mux.ServeHTTP(rec, r)
	})
}

// checkURLText refuses a path or query parameter that is not valid text
// (wire.ValidText) before any handler sees it: PostgreSQL refuses such
// strings where SQLite keeps them, and the answer must not depend on the
// store. Parameters the query parser drops (bad escapes) reach no handler.
func checkURLText(u *url.URL) error {
	if !wire.ValidText(u.Path) {
		return wire.BadRequest.WithReason("The URL path must be valid UTF-8 without NUL characters (after percent-decoding).")
	}
	if u.RawQuery == "" {
		return nil
	}
	q, _ := url.ParseQuery(u.RawQuery)
	names := make([]string, 0, len(q))
	for name := range q {
		if !wire.ValidText(name) {
			return wire.BadRequest.WithReason("Query parameter names must be valid UTF-8 without NUL characters (after percent-decoding).")
		}
		names = append(names, name)
	}
	sort.Strings(names) // the same parameter is named on every try
	for _, name := range names {
		for _, v := range q[name] {
			if !wire.ValidText(v) {
				return wire.BadRequest.WithReason("The query parameter %s must be valid UTF-8 without NUL characters (after percent-decoding).", name)
			}
		}
	}
	return nil
}

// notFoundOrNotAllowed answers unmatched requests in the error shape,
// keeping ServeMux's distinction between 404 and 405 and its Allow header.
func notFoundOrNotAllowed(w http.ResponseWriter, r *http.Request, h http.Handler) {
	probe := httptest.NewRecorder()
	h.ServeHTTP(probe, r)
	if probe.Code == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", probe.Header().Get("Allow"))
		wire.WriteError(w, r, wire.MethodNotAllowed)
		return
	}
	if probe.Code >= 300 && probe.Code < 400 {
		// ServeMux redirects to the canonical path (e.g. a trailing slash).
		http.Redirect(w, r, probe.Header().Get("Location"), probe.Code)
		return
	}
	wire.WriteError(w, r, wire.NotFound.WithReason("There is no endpoint at %s %s.", r.Method, r.URL.Path))
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
