// Package hook runs the after-hooks of the self-service flows, as a
// Kratos config lists them under selfservice.flows.<flow>.after.hooks and
// after.<method>.hooks: one runner per flow, inside the transaction that
// completes the flow, so that a hook's effect (a session, revoked
// sessions) commits with it or not at all.
package hook

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/session"
	"github.com/lanyard-id/lanyard/internal/store"
)

// Names of the hooks Lanyard runs.
const (
	Session                = "session"
	RevokeActiveSessions   = "revoke_active_sessions"
	ShowVerificationUI     = "show_verification_ui"
	RequireVerifiedAddress = "require_verified_address"
)

// Event is a flow being completed, as its hooks see and change it.
type Event struct {
	Flow   *flow.Flow
	Method string
	AAL    string
	// Provider names the social sign-in provider of an oidc completion.
	Provider string
	Identity *identity.Identity
	// Session is the session the flow signed in (or, in settings, the
	// one making the change); the session hook sets it.
	Session *session.Session
	Request *http.Request
	// ShowVerificationUI is set by the show_verification_ui hook: the
	// answer points at the verification flow.
	ShowVerificationUI bool
}

// Hook is one after-hook.
type Hook interface {
	Execute(ctx context.Context, q *store.Q, e *Event) error
}

// Func adapts a function to Hook.
type Func func(ctx context.Context, q *store.Q, e *Event) error

// Execute implements Hook.
func (f Func) Execute(ctx context.Context, q *store.Q, e *Event) error { return f(ctx, q, e) }

// Runner runs one flow's after-hooks: a method's own list when the config
// has one for it (it replaces the flow's, as in Kratos), else the flow's.
type Runner struct {
	all      []string
	byMethod map[string][]string
	impl     map[string]Hook
}

// NewRunner builds the runner of flowName from its configured lists and
// the hooks the flow can run (impl, by name; a nil Hook is a name the flow
// checks itself, such as require_verified_address). Configured hooks it
// cannot run are skipped with a warning, never silently.
func NewRunner(flowName string, all []config.Hook, byMethod map[string][]config.Hook, impl map[string]Hook) *Runner {
	r := &Runner{byMethod: map[string][]string{}, impl: impl}
	r.all = r.supported(flowName, all)
	for method, hooks := range byMethod {
		// An empty list of a method's own leaves the flow's, as in Kratos.
		if len(hooks) > 0 {
			r.byMethod[method] = r.supported(flowName+" "+method, hooks)
		}
	}
	return r
}

func (r *Runner) supported(where string, hooks []config.Hook) []string {
	names := []string{}
	for _, h := range hooks {
		if _, ok := r.impl[h.Name]; !ok {
			slog.Warn(where+" hook is not supported by Lanyard yet and is skipped", "hook", h.Name)
			continue
		}
		names = append(names, h.Name)
	}
	return names
}

// names are the hooks that run after method.
func (r *Runner) names(method string) []string {
	if r == nil {
		return nil
	}
	if names, ok := r.byMethod[method]; ok {
		return names
	}
	return r.all
}

// Has reports whether hook name runs after method.
func (r *Runner) Has(method, name string) bool {
	for _, n := range r.names(method) {
		if n == name {
			return true
		}
	}
	return false
}

// Run executes the hooks configured for e.Method, in order, in q's
// transaction; the first failure stops them and undoes the completion.
func (r *Runner) Run(ctx context.Context, q *store.Q, e *Event) error {
	for _, name := range r.names(e.Method) {
		if h := r.impl[name]; h != nil {
			if err := h.Execute(ctx, q, e); err != nil {
				return err
			}
		}
	}
	return nil
}

// Sessions are the session hooks: issuing one for the identity a flow
// signed up, and ending the identity's other sessions.
type Sessions struct{ M *session.Manager }

// Issue is the session hook.
func (s Sessions) Issue(ctx context.Context, q *store.Q, e *Event) error {
	if e.Session != nil {
		return nil
	}
	aal := e.AAL
	if aal == "" {
		aal = session.AAL1
	}
	var err error
	e.Session, err = s.M.IssueWith(ctx, q, e.Identity, session.Method{Method: e.Method, AAL: aal, Provider: e.Provider}, e.Request)
	return err
}

// RevokeOthers is the revoke_active_sessions hook.
func (s Sessions) RevokeOthers(ctx context.Context, q *store.Q, e *Event) error {
	if e.Session == nil {
		return nil
	}
	return s.M.RevokeOthers(ctx, q, e.Session)
}

// ShowVerification is the show_verification_ui hook.
func ShowVerification(_ context.Context, _ *store.Q, e *Event) error {
	e.ShowVerificationUI = true
	return nil
}
