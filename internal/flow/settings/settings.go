// Package settings is the settings flow: a signed-in identity changes its
// profile (traits) or its password. Changes that touch credentials or
// addresses need a recent sign-in (privileged_session_max_age).
package settings

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/session"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/strategy/password"
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
	// RevokeOtherSessionsAfterPassword is the revoke_active_sessions hook.
	RevokeOtherSessionsAfterPassword bool
	ProfileEnabled                   bool
	PasswordEnabled                  bool
}

// Handler serves the settings endpoints.
type Handler struct {
	kit      *flow.Kit
	sessions *session.Manager
	ids      *identity.Manager
	schemas  *schema.Registry
	password *password.Strategy
	opts     Options
}

// NewHandler wires the settings flow.
func NewHandler(kit *flow.Kit, sessions *session.Manager, ids *identity.Manager, schemas *schema.Registry, pw *password.Strategy, opts Options) *Handler {
	if opts.PrivilegedMaxAge <= 0 {
		opts.PrivilegedMaxAge = time.Hour
	}
	return &Handler{kit: kit, sessions: sessions, ids: ids, schemas: schemas, password: pw, opts: opts}
}

// Register adds the routes.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /self-service/settings/browser", func(w http.ResponseWriter, r *http.Request) { h.create(w, r, flow.TypeBrowser) })
	mux.HandleFunc("GET /self-service/settings/api", func(w http.ResponseWriter, r *http.Request) { h.create(w, r, flow.TypeAPI) })
	mux.HandleFunc("GET /self-service/settings/flows", h.fetch)
	mux.HandleFunc("POST /self-service/settings", h.submit)
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
	f, err := h.newFlow(w, r, typ, s.Identity)
	if err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	if typ == flow.TypeAPI || wire.WantsJSON(r) {
		wire.WriteJSON(w, http.StatusOK, h.view(f, s.Identity))
		return
	}
	h.kit.RedirectToUI(w, r, f)
}

func (h *Handler) newFlow(w http.ResponseWriter, r *http.Request, typ string, i *identity.Identity) (*flow.Flow, error) {
	f, err := h.kit.Start(w, r, flow.Settings, typ)
	if err != nil {
		return nil, err
	}
	f.State = StateShowForm
	id := i.ID
	f.IdentityID = &id
	h.render(f, i, nil)
	return f, h.kit.Save(r.Context(), f)
}

// render lays out the form: csrf_token, the profile group prefilled with
// traits (or the submitted ones) and the password group.
func (h *Handler) render(f *flow.Flow, i *identity.Identity, traits map[string]any) {
	f.UI.KeepOnlyCSRF()
	if traits == nil {
		_ = json.Unmarshal(i.Traits, &traits)
	}
	if h.opts.ProfileEnabled {
		if sch, ok := h.schemas.Get(i.SchemaID); ok {
			f.UI.Add(flow.TraitNodes(sch, flow.GroupProfile, traits, false)...)
			f.UI.Add(flow.Submit(flow.GroupProfile, "method", "profile", text.LabelSave()))
		}
	}
	if h.opts.PasswordEnabled {
		h.password.SettingsNodes(f)
	}
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
	if !ok {
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
			return h.newFlow(w, r, old.Type, s.Identity)
		})
	if err != nil {
		return
	}
	f, p := sub.Flow, sub.Payload
	s := h.requireSession(w, r, f.Type)
	if s == nil {
		return
	}
	if f.IdentityID == nil || *f.IdentityID != s.IdentityID {
		h.kit.Fail(w, r, ErrIdentityMismatch)
		return
	}
	f.UI.ResetMessages()
	f.State = StateShowForm

	// finish completes the submission inside the transaction that changes
	// the identity: the flow shows the result, or nothing happened.
	finish := func(q *store.Q, changed *identity.Identity) error {
		f.State = StateSuccess
		h.render(f, changed, nil)
		f.UI.Messages = append(f.UI.Messages, text.SettingsSaved())
		if f.Type == flow.TypeBrowser {
			f.RefreshCSRF(h.kit.CSRF.Token(r))
		}
		return flow.Update(r.Context(), q, f)
	}
	var changed *identity.Identity
	switch method := p.String("method"); {
	case method == "profile" && h.opts.ProfileEnabled:
		f.Active = "profile"
		changed, err = h.profile(r, s, f, p, finish)
	case method == password.ID && h.opts.PasswordEnabled:
		f.Active = password.ID
		changed, err = h.newPassword(r, s, f, p, finish)
	default:
		err = flow.FormMessage(text.NoSettingsStrategy())
	}

	var fe flow.FormError
	var we *wire.Error
	switch {
	case errors.Is(err, flow.ErrCompleted):
		h.kit.AnswerCompleted(w, r, f)
		return
	case errors.As(err, &fe):
		if f.Active == "profile" {
			h.render(f, s.Identity, p.Traits())
		}
		h.kit.RejectAs(w, r, f, fe, func() any { return h.view(f, s.Identity) })
		return
	case errors.As(err, &we) && we.ID == "session_refresh_required":
		if err := h.kit.Update(r.Context(), f); err != nil {
			h.kit.Fail(w, r, err)
			return
		}
		if f.Type == flow.TypeBrowser && !wire.WantsJSON(r) {
			http.Redirect(w, r, we.Details["redirect_browser_to"].(string), http.StatusSeeOther)
			return
		}
		wire.WriteError(w, r, we)
		return
	case err != nil:
		h.kit.Fail(w, r, err)
		return
	}

	if f.Type == flow.TypeAPI || wire.WantsJSON(r) {
		wire.WriteJSON(w, http.StatusOK, h.view(f, changed))
		return
	}
	if f.ReturnTo != "" {
		http.Redirect(w, r, f.ReturnTo, http.StatusSeeOther)
		return
	}
	h.kit.RedirectToUI(w, r, f)
}

// privileged reports whether the session signed in recently enough for
// changes to credentials and addresses.
func (h *Handler) privileged(s *session.Session) bool {
	return time.Since(s.AuthenticatedAt) <= h.opts.PrivilegedMaxAge
}

// profile changes the traits. Changing an identifier or an address is
// privileged; a changed verifiable address starts unverified again.
func (h *Handler) profile(r *http.Request, s *session.Session, f *flow.Flow, p flow.Payload, finish func(*store.Q, *identity.Identity) error) (*identity.Identity, error) {
	traits := p.Traits()
	if traits == nil {
		return nil, flow.FormMessage(text.ValidationRequired("traits"))
	}
	sch, ok := h.schemas.Get(s.Identity.SchemaID)
	if !ok {
		return nil, wire.Internal.WithReason("The identity's schema is gone.")
	}
	next, err := sch.Validate(traits)
	var verr *schema.ValidationError
	if errors.As(err, &verr) {
		return nil, flow.FromSchema(verr)
	}
	if err != nil {
		return nil, err
	}
	if !h.privileged(s) && sensitiveChange(h.extracted(s.Identity), next) {
		return nil, h.errRefreshRequired(f)
	}
	raw, err := json.Marshal(traits)
	if err != nil {
		return nil, err
	}
	return h.ids.ChangeWith(r.Context(), s.IdentityID, func(current *identity.Identity) (identity.Draft, error) {
		d := identity.DraftOf(current)
		d.Traits = raw
		return d, nil
	}, func(q *store.Q) error { return flow.Claim(r.Context(), q, f) }, finish)
}

func (h *Handler) extracted(i *identity.Identity) *schema.Extracted {
	sch, ok := h.schemas.Get(i.SchemaID)
	if !ok {
		return &schema.Extracted{}
	}
	var traits any
	_ = json.Unmarshal(i.Traits, &traits)
	x, err := sch.Validate(traits)
	if err != nil {
		return &schema.Extracted{}
	}
	return x
}

// sensitiveChange reports whether identifiers or addresses differ.
func sensitiveChange(a, b *schema.Extracted) bool {
	for typ, ids := range b.Identifiers {
		if !slices.Equal(a.Identifiers[typ], ids) {
			return true
		}
	}
	for typ := range a.Identifiers {
		if _, ok := b.Identifiers[typ]; !ok {
			return true
		}
	}
	return !slices.Equal(a.Verifiable, b.Verifiable) || !slices.Equal(a.Recovery, b.Recovery)
}

// newPassword sets a new password (always privileged) and, with the
// revoke_active_sessions hook, ends the identity's other sessions.
func (h *Handler) newPassword(r *http.Request, s *session.Session, f *flow.Flow, p flow.Payload, finish func(*store.Q, *identity.Identity) error) (*identity.Identity, error) {
	if !h.privileged(s) {
		return nil, h.errRefreshRequired(f)
	}
	pw := p.String("password")
	if err := h.password.CheckNew(s.Identity, pw); err != nil {
		return nil, err
	}
	// The new password, the other sessions ending and the flow's success
	// commit together: a password change never leaves the old sessions on.
	return h.ids.ChangeWith(r.Context(), s.IdentityID, func(current *identity.Identity) (identity.Draft, error) {
		d := identity.DraftOf(current)
		d.Password = &pw
		return d, nil
	}, func(q *store.Q) error { return flow.Claim(r.Context(), q, f) },
		func(q *store.Q, changed *identity.Identity) error {
			if h.opts.RevokeOtherSessionsAfterPassword {
				if err := h.sessions.RevokeOthers(r.Context(), q, s); err != nil {
					return err
				}
			}
			return finish(q, changed)
		})
}

// StartFor creates a settings flow for identity i, as recovery does after
// a successful code.
func (h *Handler) StartFor(_ context.Context, w http.ResponseWriter, r *http.Request, typ string, i *identity.Identity) (*flow.Flow, error) {
	return h.newFlow(w, r, typ, i)
}

// UIURL is where a browser shows settings flow f.
func (h *Handler) UIURL(f *flow.Flow) string { return h.uiURL(f) }
