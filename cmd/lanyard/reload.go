package main

import (
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"

	"github.com/lanyard-id/lanyard/internal/config"
)

// swapHandler serves with whichever handler was stored last. A request
// keeps the handler it started with, so requests in flight during a reload
// finish under the config they began with.
type swapHandler struct{ h atomic.Pointer[http.Handler] }

func newSwapHandler(h http.Handler) *swapHandler {
	s := &swapHandler{}
	s.set(h)
	return s
}

func (s *swapHandler) set(h http.Handler) { s.h.Store(&h) }

func (s *swapHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*s.h.Load()).ServeHTTP(w, r)
}

// reloader applies a changed config: it keeps the keys that cannot change
// while the process runs, builds new handlers and swaps them in. Its
// methods are called from the watcher's goroutine only.
type reloader struct {
	current       *config.Config
	build         func(*config.Config) (public, admin http.Handler, err error)
	public, admin *swapHandler
	// warned holds the load warnings already logged, so that a reload
	// repeats none of them.
	warned map[string]bool
}

func (r *reloader) refused(err error) {
	slog.Error("the changed config is invalid and was not applied; the previous config stays in force", "error", err)
}

func (r *reloader) changed(next *config.Config, warnings []string) {
	kept := keepFixed(r.current, next)
	// After keepFixed: dev mode is one of the fixed keys.
	if err := config.EnsureDevSecrets(next); err != nil {
		r.refused(err)
		return
	}
	public, admin, err := r.build(next)
	if err != nil {
		r.refused(err)
		return
	}
	if r.warned == nil {
		r.warned = map[string]bool{}
	}
	for _, w := range warnings {
		if !r.warned[w] {
			r.warned[w] = true
			slog.Warn(w)
		}
	}
	if len(kept) > 0 {
		slog.Warn("these config keys cannot change while Lanyard runs and keep their previous values until a restart", "keys", strings.Join(kept, ", "))
	}
	r.public.set(public)
	r.admin.set(admin)
	r.current = next
	slog.Info("applied the changed config", "revision", next.EffectiveRevision())
	if next.WatchCourier {
		slog.Info("the courier worker keeps running with the courier settings it started with")
	}
}

// keepFixed copies into next the values of old that a running process
// cannot change, and names each key whose value differed:
//   - dsn: the connection pool is open, and a new database would need
//     migrating and would strand flows and sessions of the old one;
//   - dev: it decides whether migrations ran at start and where the
//     generated secrets live;
//   - serve.*.host, port and base_url: the listeners are bound, and a base
//     URL that no longer matches them would break every link;
//   - log.*: the log handler is set up once, and the http.Server error logs
//     hold it;
//   - tracing.*: the exporter is built at start and flushed at shutdown;
//   - courier.*: the courier worker runs for the whole process with its
//     senders, and the message queue's templates belong to it;
//   - sqlite.* and postgres.*: whoami's cache of sessions is sized once,
//     and lives as long as the process.
//
// Everything else is rebuilt from next: methods, flows, hooks, lifespans,
// UI URLs, identity schemas, hashers, protection, cookies and sessions.
// secrets.* included: Kratos reads them live too, so that a secret can be
// rotated without a restart (the old one listed after the new keeps
// existing cookies valid); nothing that lives longer than one set of
// handlers holds a secret, and the effect on codes in flight and guard
// counters is what a restart with the new secrets would have.
func keepFixed(old, next *config.Config) []string {
	var changed []string
	keep := func(key string, o, n any) {
		if !reflect.DeepEqual(o, n) {
			changed = append(changed, key)
		}
	}
	keep("dsn", old.DSN, next.DSN)
	next.DSN = old.DSN
	keep("dev", old.Dev, next.Dev)
	next.Dev = old.Dev
	for _, l := range []struct {
		name      string
		old, next *config.Listener
	}{{"public", &old.Serve.Public, &next.Serve.Public}, {"admin", &old.Serve.Admin, &next.Serve.Admin}} {
		keep("serve."+l.name+".host", l.old.Host, l.next.Host)
		keep("serve."+l.name+".port", l.old.Port, l.next.Port)
		// A base URL left unset follows host and port; naming it too would
		// blame a key the file does not have.
		if l.old.Host == l.next.Host && l.old.Port == l.next.Port {
			keep("serve."+l.name+".base_url", l.old.BaseURL.String(), l.next.BaseURL.String())
		}
		l.next.Host, l.next.Port, l.next.BaseURL = l.old.Host, l.old.Port, l.old.BaseURL
	}
	keep("log.*", old.Log, next.Log)
	next.Log = old.Log
	keep("tracing.*", old.Tracing, next.Tracing)
	next.Tracing = old.Tracing
	keep("courier.*", old.Courier, next.Courier)
	next.Courier = old.Courier
	keep("sqlite.*", old.SQLite, next.SQLite)
	next.SQLite = old.SQLite
	keep("postgres.*", old.Postgres, next.Postgres)
	next.Postgres = old.Postgres
	return changed
}
