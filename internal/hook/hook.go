// Package hook runs the after-hooks of the self-service flows, as a
// Kratos config lists them under selfservice.flows.<flow>.after.hooks and
// after.<method>.hooks: one runner per flow, inside the transaction that
// completes the flow, so that a hook's effect (a session, revoked
// sessions) commits with it or not at all. Web hooks call out over HTTP
// and so never run inside it: after the commit, or, when they may
// interrupt the flow, before the transaction begins.
package hook

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

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
	// After are calls hooks defer until the completing transaction has
	// committed (web hooks: no HTTP call may hold the database); the
	// flow runs them with RunAfter before it answers.
	After []func(ctx context.Context) error
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
	all      []entry
	byMethod map[string][]entry
	impl     map[string]Hook
	web      *WebHooks
	flowName string
}

// entry is one configured hook the runner runs.
type entry struct {
	name string
	hook Hook // nil: checked by the flow itself
}

// NewRunner builds the runner of flowName from its configured lists and
// the hooks the flow can run (impl, by name; a nil Hook is a name the flow
// checks itself, such as require_verified_address). Configured hooks it
// cannot run are skipped with a warning, never silently.
func NewRunner(flowName string, all []config.Hook, byMethod map[string][]config.Hook, impl map[string]Hook) *Runner {
	r, _ := NewRunnerWithWebHooks(flowName, all, byMethod, impl, nil)
	return r
}

// NewRunnerWithWebHooks is NewRunner with web_hook hooks built by web
// (nil: they are skipped with a warning). A web_hook whose body cannot be
// loaded is an error.
func NewRunnerWithWebHooks(flowName string, all []config.Hook, byMethod map[string][]config.Hook, impl map[string]Hook, web *WebHooks) (*Runner, error) {
	r := &Runner{byMethod: map[string][]entry{}, impl: impl, web: web, flowName: flowName}
	var err error
	if r.all, err = r.supported(flowName, all); err != nil {
		return nil, err
	}
	for method, hooks := range byMethod {
		// An empty list of a method's own leaves the flow's, as in Kratos.
		if len(hooks) > 0 {
			if r.byMethod[method], err = r.supported(flowName+" "+method, hooks); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

func (r *Runner) supported(where string, hooks []config.Hook) ([]entry, error) {
	entries := []entry{}
	for _, h := range hooks {
		if h.Name == WebHook && r.web != nil {
			wh, err := r.web.build(r.flowName, keyPath(where), h.WebHook)
			if err != nil {
				return nil, err
			}
			entries = append(entries, entry{name: h.Name, hook: wh})
			continue
		}
		impl, ok := r.impl[h.Name]
		if !ok {
			slog.Warn(where+" hook is not supported by Lanyard yet and is skipped", "hook", h.Name)
			continue
		}
		entries = append(entries, entry{name: h.Name, hook: impl})
	}
	return entries, nil
}

// keyPath is the config key of the hooks list supported was given:
// "login password" is selfservice.flows.login.after.password.hooks.
func keyPath(where string) string {
	flowName, method, ok := strings.Cut(where, " ")
	if !ok {
		return "selfservice.flows." + flowName + ".after.hooks"
	}
	return "selfservice.flows." + flowName + ".after." + method + ".hooks"
}

// entries are the hooks that run after method.
func (r *Runner) entries(method string) []entry {
	if r == nil {
		return nil
	}
	if entries, ok := r.byMethod[method]; ok {
		return entries
	}
	return r.all
}

// Runs reports whether any hook runs after method.
func (r *Runner) Runs(method string) bool { return len(r.entries(method)) > 0 }

// Has reports whether hook name runs after method.
func (r *Runner) Has(method, name string) bool {
	for _, e := range r.entries(method) {
		if e.name == name {
			return true
		}
	}
	return false
}

// Run executes the hooks configured for e.Method, in order, in q's
// transaction; the first failure stops them and undoes the completion.
// Web hooks only add to e.After: the flow calls them once q commits.
func (r *Runner) Run(ctx context.Context, q *store.Q, e *Event) error {
	for _, en := range r.entries(e.Method) {
		if en.hook != nil {
			if err := en.hook.Execute(ctx, q, e); err != nil {
				return err
			}
		}
	}
	return nil
}

// PrePersist runs the interrupting web hooks (response.parse,
// can_interrupt) configured for e.Method, before the flow's transaction.
// A flow.FormError means a hook stopped the flow with messages for its
// form; Changes are what the hooks replaced in the identity to be written.
func (r *Runner) PrePersist(ctx context.Context, e *Event) (*Changes, error) {
	var changes *Changes
	seen := *e // each hook sees what the ones before it changed
	for _, en := range r.entries(e.Method) {
		wh, ok := en.hook.(*webHook)
		if !ok || !wh.cfg.Parse {
			continue
		}
		c, err := wh.prePersist(ctx, &seen)
		if err != nil {
			return nil, err
		}
		if c != nil {
			if err := c.check(); err != nil {
				return nil, err
			}
			changes = changes.merge(c)
			seen.Identity = c.apply(seen.Identity)
		}
	}
	return changes, nil
}

// RunAfter runs the calls the hooks deferred until the flow's transaction
// committed (see Event.After); the first failure is the flow's answer, the
// completed flow stays completed.
func (e *Event) RunAfter(ctx context.Context) error {
	if e == nil {
		return nil
	}
	for _, call := range e.After {
		if err := call(ctx); err != nil {
			return err
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
