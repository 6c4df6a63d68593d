// Package settings is the settings flow: a signed-in identity changes its
// profile (traits) or its password. Changes that touch credentials or
// addresses need a recent sign-in (privileged_session_max_age).
package settings

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/hook"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/session"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/text"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// Flow states of the settings flow.
const (
	StateShowForm = "show_form"
	StateSuccess  = "success"
)

// Options are the settings-flow settings.
type Options struct {
	PrivilegedMaxAge time.Duration
	// Hooks are the after-hooks (revoke_active_sessions).
	Hooks *hook.Runner
	// Before are selfservice.flows.settings.before.hooks, run as a flow is created.
	Before *hook.Before
	// RequiredAAL is selfservice.flows.settings.required_aal.
	RequiredAAL string
}

// Handler serves the settings endpoints.
type Handler struct {
	kit      *flow.Kit
	sessions *session.Manager
	ids      *identity.Manager
	schemas  *schema.Registry
	methods  flow.Methods
	opts     Options
}

// NewHandler wires the settings flow with the methods serving it, in the
// order their nodes appear.
func NewHandler(kit *flow.Kit, sessions *session.Manager, ids *identity.Manager, schemas *schema.Registry, methods flow.Methods, opts Options) *Handler {
	if opts.PrivilegedMaxAge <= 0 {
		opts.PrivilegedMaxAge = time.Hour
	}
	h := &Handler{kit: kit, sessions: sessions, ids: ids, schemas: schemas, methods: methods.For(flow.Settings), opts: opts}
	kit.Enter(flow.Settings, flow.Entry{
		Start: func(w http.ResponseWriter, r *http.Request, typ string) (*flow.Flow, error) {
			s, err := h.sessions.Current(r.Context(), r)
			if err != nil {
				return nil, err
			}
			if s == nil {
				return nil, session.ErrSessionInactive
			}
			return h.newFlow(w, r, typ, s.Identity, s)
		},
		Resume: h.process,
	})
	return h
}

// Register adds the routes.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /self-service/settings/browser", func(w http.ResponseWriter, r *http.Request) { h.create(w, r, flow.TypeBrowser) })
	mux.HandleFunc("GET /self-service/settings/api", func(w http.ResponseWriter, r *http.Request) { h.create(w, r, flow.TypeAPI) })
	mux.HandleFunc("GET /self-service/settings/flows", h.fetch)
	mux.HandleFunc("POST /self-service/settings", h.submit)
	// A browser sent on to a second factor by a submission comes back
	// to the submission's URL: it shows the flow again.
	mux.HandleFunc("GET /self-service/settings", h.showFlow)
}

// showFlow sends a browser that comes back to a settings submission's URL
// to the flow's UI, where it can submit again.
func (h *Handler) showFlow(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(r.URL.Query().Get("flow"))
	if err != nil {
		h.kit.Fail(w, r, flow.ErrFlowNotFound)
		return
	}
	http.Redirect(w, r, h.kit.FlowUIURL(&flow.Flow{Kind: flow.Settings, ID: id}), http.StatusSeeOther)
}

// Errors of the settings flow.
var (
	ErrIdentityMismatch = wire.Forbidden.WithID("security_identity_mismatch").
		WithReason("This settings flow belongs to another identity; start a new one.")
)

// errRefreshRequired is Kratos's session_refresh_required, pointing the
// browser at a login that refreshes the session and comes back.
func (h *Handler) errRefreshRequired(f *flow.Flow) *wire.Error {
	q := url.Values{}
	q.Set("refresh", "true")
	q.Set("return_to", h.uiURL(f))
	to := h.kit.PublicURL + "self-service/login/browser?" + q.Encode()
	return wire.Forbidden.WithID("session_refresh_required").
		WithReason("The session is too old for this change; sign in again and retry.").
		WithDetail("redirect_browser_to", to)
}

func (h *Handler) uiURL(f *flow.Flow) string { return h.kit.FlowUIURL(f) }

// requireAAL answers session_aal2_required when s has not used the second
// factor its identity has and required_aal asks for it: a 303 to the login
// for browser forms when redirect is set, else 403. The login comes back
// to returnTo, when set.
func (h *Handler) requireAAL(w http.ResponseWriter, r *http.Request, s *session.Session, redirect bool, returnTo string) bool {
	if h.sessions.SatisfiesAAL(s, h.opts.RequiredAAL) {
		return true
	}
	err := session.ErrAAL2Required(h.kit.PublicURL, returnTo)
	if redirect && !wire.WantsJSON(r) {
		http.Redirect(w, r, err.Details["redirect_browser_to"].(string), http.StatusSeeOther)
	} else {
		wire.WriteError(w, r, err)
	}
	return false
}

// requestURL is the URL of r under the public base URL.
func (h *Handler) requestURL(r *http.Request) string {
	return h.kit.PublicURL + strings.TrimPrefix(r.URL.RequestURI(), "/")
}

// requireSession answers when the request has no session: 401
// session_inactive for apps and AJAX, a login for browsers that comes back.
func (h *Handler) requireSession(w http.ResponseWriter, r *http.Request, typ string) *session.Session {
	s, err := h.sessions.Current(r.Context(), r)
	if err != nil {
		h.kit.Fail(w, r, err)
		return nil
	}
	if s != nil {
		return s
	}
	if typ == flow.TypeAPI || wire.WantsJSON(r) {
		wire.WriteError(w, r, session.ErrSessionInactive)
		return nil
	}
	q := url.Values{}
	q.Set("return_to", h.kit.PublicURL+"self-service/settings/browser")
	http.Redirect(w, r, h.kit.PublicURL+"self-service/login/browser?"+q.Encode(), http.StatusSeeOther)
	return nil
}

func (h *Handler) create(w http.ResponseWriter, r *http.Request, typ string) {
	s := h.requireSession(w, r, typ)
	if s == nil {
		return
	}
	back := "" // a browser comes back here only when it asked to be sent on
	if typ == flow.TypeBrowser && r.URL.Query().Has("return_to") {
		back = h.requestURL(r)
	}
	if !h.requireAAL(w, r, s, typ == flow.TypeBrowser, back) {
		return
	}
	f, err := h.newFlow(w, r, typ, s.Identity, s)
	if err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	h.kit.Answer(w, r, f, flow.Answer{JSON: h.view(f, s.Identity)})
}

// newFlow builds and stores a settings flow for i; s, the session asking
// (nil when recovery asks), is shown to the before-hooks.
func (h *Handler) newFlow(w http.ResponseWriter, r *http.Request, typ string, i *identity.Identity, s *session.Session) (*flow.Flow, error) {
	f, err := h.kit.Start(w, r, flow.Settings, typ)
	if err != nil {
		return nil, err
	}
	f.State = StateShowForm
	id := i.ID
	f.IdentityID = &id
	if err := h.render(r.Context(), f, i, nil); err != nil {
		return nil, err
	}
	if err := h.opts.Before.Run(r.Context(), r, f, s); err != nil {
		return nil, err
	}
	return f, h.kit.Save(r.Context(), f)
}

// render lays out the form: csrf_token and every method's nodes, the
// profile prefilled with the identity's traits (or the submitted ones).
func (h *Handler) render(ctx context.Context, f *flow.Flow, i *identity.Identity, traits map[string]any) error {
	f.UI.KeepOnlyCSRF()
	if traits == nil {
		if err := json.Unmarshal(i.Traits, &traits); err != nil {
			return fmt.Errorf("settings: the traits of identity %s are corrupt: %w", i.ID, err)
		}
	}
	sch, err := h.schemaOf(i)
	if err != nil {
		return err
	}
	return h.methods.AddNodes(ctx, f, flow.NodeContext{Schema: sch, Identity: i, Traits: traits})
}

// prePersist runs the web hooks that may stop the change or alter the
// identity (response.parse), outside any transaction, with the identity as
// the change will leave it; traits they answer are checked against the
// schema, and written on top of the change.
func (h *Handler) prePersist(r *http.Request, f *flow.Flow, s *session.Session, m flow.Method, out *flow.Outcome, p flow.Payload) (*hook.Changes, error) {
	upcoming, err := h.upcoming(s, m, out, p)
	if err != nil {
		return nil, err
	}
	changes, err := h.opts.Hooks.PrePersist(r.Context(), &hook.Event{Flow: f, Method: m.ID(), Provider: out.Provider, Identity: upcoming, Session: s, Request: r})
	if err != nil || !changes.Reshapes() {
		return changes, err
	}
	sch, err := changes.Schema(h.schemas, s.Identity.SchemaID) // a hook may move the identity to another schema
	if err != nil {
		return nil, err
	}
	raw := upcoming.Traits
	if changes.HasTraits() {
		raw = changes.Traits
	}
	var traits map[string]any
	if err := json.Unmarshal(raw, &traits); err != nil {
		return nil, wire.Internal.WithReason("A web_hook answered traits that are not a JSON object.")
	}
	if _, err := flow.ValidateTraits(sch, traits); err != nil {
		return nil, err
	}
	return changes, nil
}

// upcoming is the identity as the submission's change will write it, for
// the pre-persist hooks: the profile method's submitted traits in place of
// the current ones; the other methods change only credentials, which the
// hooks do not see. The method checked the traits already.
func (h *Handler) upcoming(s *session.Session, m flow.Method, out *flow.Outcome, p flow.Payload) (*identity.Identity, error) {
	current := s.Identity
	if out.Identity != nil {
		current = out.Identity
	}
	if m.ID() != flow.ProfileMethod || p.Traits() == nil {
		return current, nil
	}
	traits, err := json.Marshal(p.Traits())
	if err != nil {
		return nil, err
	}
	next := *current
	next.Traits = traits
	return &next, nil
}

// schemaOf is the schema of identity i.
func (h *Handler) schemaOf(i *identity.Identity) (*schema.Schema, error) {
	sch, ok := h.schemas.Get(i.SchemaID)
	if !ok {
		return nil, wire.Internal.WithReason("The identity's schema %q is not configured.", i.SchemaID)
	}
	return sch, nil
}

// view is the SDK's SettingsFlow: the flow plus the identity it changes.
type view struct {
	flow.View
	Identity     identity.View `json:"identity"`
	ContinueWith []any         `json:"continue_with,omitempty"`
}

func (h *Handler) view(f *flow.Flow, i *identity.Identity) view {
	return view{View: f.View(), Identity: i.View(identity.ViewOptions{SchemaURL: h.ids.SchemaURL(i.SchemaID)})}
}

func (h *Handler) fetch(w http.ResponseWriter, r *http.Request) {
	s, err := h.sessions.Current(r.Context(), r)
	if err != nil {
		wire.WriteError(w, r, err)
		return
	}
	if s == nil {
		wire.WriteError(w, r, session.ErrSessionInactive)
		return
	}
	f, ok := h.load(w, r, r.URL.Query().Get("id"), s)
	if !ok || !h.requireAAL(w, r, s, false, h.uiURL(f)) {
		return
	}
	if f.Type == flow.TypeBrowser && !h.kit.CSRF.MatchesFlow(r, f.CSRFHash) {
		wire.WriteError(w, r, flow.ErrCSRF(r, "The flow was started by another browser, or its anti-CSRF cookie is missing."))
		return
	}
	if f.Expired() {
		wire.WriteError(w, r, wire.Gone.WithID("self_service_flow_expired").
			WithReason("The settings flow expired; start a new one.").
			WithDetail("redirect_to", h.kit.PublicURL+"self-service/settings/"+f.Type))
		return
	}
	wire.WriteJSON(w, http.StatusOK, h.view(f, s.Identity))
}

// load reads a settings flow and makes sure it belongs to the session's
// identity.
func (h *Handler) load(w http.ResponseWriter, r *http.Request, rawID string, s *session.Session) (*flow.Flow, bool) {
	id, err := uuid.Parse(rawID)
	if err != nil {
		wire.WriteError(w, r, flow.ErrFlowNotFound)
		return nil, false
	}
	f, err := flow.Get(r.Context(), h.kit.Store.Read(), flow.Settings, id)
	if err != nil {
		wire.WriteError(w, r, err)
		return nil, false
	}
	if f.IdentityID == nil || *f.IdentityID != s.IdentityID {
		wire.WriteError(w, r, ErrIdentityMismatch)
		return nil, false
	}
	return f, true
}

func (h *Handler) submit(w http.ResponseWriter, r *http.Request) {
	sub, err := h.kit.Receive(w, r, flow.Settings,
		func() (flow.Payload, error) { return flow.DecodePayload(w, r, h.schemas.Default().Fields()) },
		func(old *flow.Flow) (*flow.Flow, error) {
			s, err := h.sessions.Current(r.Context(), r)
			if err != nil {
				return nil, err
			}
			if s == nil {
				return nil, session.ErrSessionInactive
			}
			return h.newFlow(w, r, old.Type, s.Identity, s)
		})
	if err != nil {
		return
	}
	h.process(w, r, sub)
}

// process handles a submission, from the form or resumed from a method's
// own endpoint.
func (h *Handler) process(w http.ResponseWriter, r *http.Request, sub *flow.Submission) {
	f, p := sub.Flow, sub.Payload
	s := h.requireSession(w, r, f.Type)
	if s == nil || !h.requireAAL(w, r, s, f.Type == flow.TypeBrowser, h.requestURL(r)) {
		return
	}
	if f.IdentityID == nil || *f.IdentityID != s.IdentityID {
		h.kit.Fail(w, r, ErrIdentityMismatch)
		return
	}
	f.UI.ResetMessages()
	f.State = StateShowForm
	sch, err := h.schemaOf(s.Identity)
	if err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	sub.Schema, sub.Identity, sub.Privileged = sch, s.Identity, h.privileged(s)

	m := h.methods.Pick(p)
	var out *flow.Outcome
	if m == nil {
		err = flow.FormMessage(text.NoSettingsStrategy())
	} else {
		f.Active = m.ID()
		out, err = m.Submit(r.Context(), sub)
	}
	if err == nil && out.Shown {
		h.showAgain(w, r, f, s)
		return
	}
	if err == nil && h.kit.Forward(w, r, f, p, out) {
		return
	}
	var changes *hook.Changes
	if err == nil { // interrupting web hooks, before the transaction
		changes, err = h.prePersist(r, f, s, m, out, p)
	}
	var changed *identity.Identity
	if err == nil {
		changed, err = h.complete(r, f, s, m, out, changes)
	}
	if identity.IsConflict(err) {
		// An identifier, address or (from a web hook) external_id another
		// identity has: the flow again with 4000007, as Kratos answers it.
		err = flow.FormMessage(text.DuplicateIdentifier())
	}

	var fe flow.FormError
	switch {
	case errors.Is(err, flow.ErrCompleted):
		h.kit.AnswerCompleted(w, r, f)
		return
	case errors.As(err, &fe):
		if err := h.render(r.Context(), f, s.Identity, p.Traits()); err != nil {
			h.kit.Fail(w, r, err)
			return
		}
		h.kit.RejectAs(w, r, f, fe, func() any { return h.view(f, s.Identity) })
		return
	case errors.Is(err, flow.ErrPrivilegedSessionRequired):
		we := h.errRefreshRequired(f)
		if err := h.kit.Update(r.Context(), f); err != nil {
			h.kit.Fail(w, r, err)
			return
		}
		h.kit.Answer(w, r, f, flow.Answer{Error: we, Redirect: we.Details["redirect_browser_to"].(string)})
		return
	case err != nil:
		h.kit.Fail(w, r, err)
		return
	}

	// Browsers go back where the flow was asked to return, or to its UI.
	h.kit.Completed(r, f)
	h.kit.Answer(w, r, f, flow.Answer{JSON: h.view(f, changed), Redirect: f.ReturnTo})
}

// privileged reports whether the session signed in recently enough for
// changes to credentials and addresses.
func (h *Handler) privileged(s *session.Session) bool {
	return time.Since(s.AuthenticatedAt) <= h.opts.PrivilegedMaxAge
}

// showAgain answers a submission that changed only the form: the flow as
// the method left it, not a success.
func (h *Handler) showAgain(w http.ResponseWriter, r *http.Request, f *flow.Flow, s *session.Session) {
	if h.kit.Keep(w, r, f, nil) {
		h.kit.Answer(w, r, f, flow.Answer{JSON: h.view(f, s.Identity)})
	}
}

// complete writes the method's change, runs the after hooks and shows the
// flow's success, all in the one transaction that claims the flow: a
// password change never leaves the other sessions on, and a racing
// submission of the same version of the flow changes nothing.
func (h *Handler) complete(r *http.Request, f *flow.Flow, s *session.Session, m flow.Method, out *flow.Outcome, changes *hook.Changes) (*identity.Identity, error) {
	var changed *identity.Identity
	var ev *hook.Event
	err := h.kit.Store.Write(r.Context(), func(q *store.Q) error {
		if err := flow.Claim(r.Context(), q, f); err != nil {
			return err
		}
		changed = s.Identity
		if out.Commit != nil {
			i, err := out.Commit(r.Context(), q)
			if err != nil {
				return err
			}
			if i != nil {
				changed = i
			}
		}
		if changes != nil {
			var err error
			if changed, err = h.opts.Hooks.Amend(r.Context(), q, changed, changes); err != nil {
				return err
			}
		}
		if out.AAL != "" {
			// A new factor counts for the session that set it up.
			if err := h.sessions.AddMethodWith(r.Context(), q, s, session.Method{Method: m.ID(), AAL: out.AAL, Provider: out.Provider}); err != nil {
				return err
			}
		}
		ev = &hook.Event{Flow: f, Method: m.ID(), Provider: out.Provider, Identity: changed, Session: s, Request: r}
		if err := h.opts.Hooks.Run(r.Context(), q, ev); err != nil {
			return err
		}
		f.State = StateSuccess
		if err := h.render(r.Context(), f, changed, nil); err != nil {
			return err
		}
		f.UI.Messages = append(f.UI.Messages, text.SettingsSaved())
		if f.Type == flow.TypeBrowser {
			f.RefreshCSRF(h.kit.CSRF.Token(r))
		}
		return flow.Update(r.Context(), q, f)
	})
	if err == nil {
		err = ev.RunAfter(r.Context()) // web hooks, after the commit
	}
	return changed, err
}

// StartFor creates a settings flow for identity i, as recovery does after
// a successful code.
func (h *Handler) StartFor(_ context.Context, w http.ResponseWriter, r *http.Request, typ string, i *identity.Identity) (*flow.Flow, error) {
	return h.newFlow(w, r, typ, i, nil)
}

// UIURL is where a browser shows settings flow f.
func (h *Handler) UIURL(f *flow.Flow) string { return h.uiURL(f) }
