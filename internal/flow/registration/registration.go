// Package registration is the registration flow: by default in two steps
// for browsers (the profile, then a credential), as in Kratos v26, and in
// one step for a submission that carries both.
package registration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/session"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/strategy/password"
	"github.com/lanyard-id/lanyard/internal/text"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// Options are the registration settings.
type Options struct {
	Enabled bool
	// OneStep is selfservice.flows.registration.enable_legacy_one_step.
	OneStep bool
	// IssueSession is true when the session hook runs after a password
	// registration.
	IssueSession bool
	// Verification, when set, sends verification messages to the new
	// identity's addresses.
	Verification Verifier
	// ShowVerificationUI is the show_verification_ui hook.
	ShowVerificationUI bool
}

// Verifier starts address verification for a new identity.
type Verifier interface {
	StartAfterRegistration(ctx context.Context, q *store.Q, r *http.Request, w http.ResponseWriter, typ string, i *identity.Identity) (*flow.Flow, error)
	UIURL(f *flow.Flow) string
}

// Handler serves the registration endpoints.
type Handler struct {
	kit      *flow.Kit
	sessions *session.Manager
	schemas  *schema.Registry
	password *password.Strategy
	opts     Options
}

// NewHandler wires the registration flow.
func NewHandler(kit *flow.Kit, sessions *session.Manager, schemas *schema.Registry, pw *password.Strategy, opts Options) *Handler {
	return &Handler{kit: kit, sessions: sessions, schemas: schemas, password: pw, opts: opts}
}

// Register adds the routes.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /self-service/registration/browser", func(w http.ResponseWriter, r *http.Request) { h.create(w, r, flow.TypeBrowser) })
	mux.HandleFunc("GET /self-service/registration/api", func(w http.ResponseWriter, r *http.Request) { h.create(w, r, flow.TypeAPI) })
	mux.HandleFunc("GET /self-service/registration/flows", func(w http.ResponseWriter, r *http.Request) { h.kit.Fetch(w, r, flow.Registration) })
	mux.HandleFunc("POST /self-service/registration", h.submit)
}

// ErrDisabled is Kratos's self_service_flow_disabled.
var ErrDisabled = wire.BadRequest.WithID("self_service_flow_disabled").WithReason("Registration is not allowed because it was disabled.")

const traitsKey = "traits"

func (h *Handler) create(w http.ResponseWriter, r *http.Request, typ string) {
	if !h.opts.Enabled {
		h.kit.Fail(w, r, ErrDisabled)
		return
	}
	current, err := h.sessions.Current(r.Context(), r)
	if err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	if current != nil {
		returnTo, err := h.kit.CheckReturnTo(r.URL.Query().Get("return_to"))
		if err != nil {
			h.kit.Fail(w, r, err)
			return
		}
		h.kit.AlreadySignedIn(w, r, typ, returnTo)
		return
	}
	f, err := h.newFlow(w, r, typ)
	h.kit.RespondCreated(w, r, f, err)
}

func (h *Handler) newFlow(w http.ResponseWriter, r *http.Request, typ string) (*flow.Flow, error) {
	f, err := h.kit.Start(w, r, flow.Registration, typ)
	if err != nil {
		return nil, err
	}
	h.firstStep(f, nil)
	return f, h.kit.Save(r.Context(), f)
}

// firstStep renders the form that asks for the profile (or, in one-step
// mode, for the profile and the password at once).
func (h *Handler) firstStep(f *flow.Flow, traits map[string]any) {
	h.firstStepAs(f, traits, h.opts.OneStep)
}

func (h *Handler) firstStepAs(f *flow.Flow, traits map[string]any, oneStep bool) {
	f.UI.KeepOnlyCSRF()
	sch := h.schemas.Default()
	if oneStep {
		f.UI.Add(flow.TraitNodes(sch, password.ID, traits, false)...)
		h.password.RegistrationNodes(f)
		return
	}
	f.UI.Add(flow.TraitNodes(sch, flow.GroupDefault, traits, false)...)
	f.UI.Add(flow.Submit(flow.GroupProfile, "method", "profile", text.RegistrationSignUp()))
}

// secondStep renders the form that asks for the credential, the profile
// carried along in hidden inputs.
func (h *Handler) secondStep(f *flow.Flow, traits map[string]any) {
	f.UI.KeepOnlyCSRF()
	f.UI.Add(flow.TraitNodes(h.schemas.Default(), flow.GroupDefault, traits, true)...)
	h.password.RegistrationNodes(f)
	f.UI.Add(flow.Submit(flow.GroupProfile, "screen", "previous", text.RegistrationBack()))
	f.UI.Messages = append(f.UI.Messages, text.RegistrationChooseCred())
}

func (h *Handler) submit(w http.ResponseWriter, r *http.Request) {
	if !h.opts.Enabled {
		h.kit.Fail(w, r, ErrDisabled)
		return
	}
	sch := h.schemas.Default()
	sub, err := h.kit.Receive(w, r, flow.Registration,
		func() (flow.Payload, error) { return flow.DecodePayload(w, r, sch.Fields()) },
		func(old *flow.Flow) (*flow.Flow, error) { return h.newFlow(w, r, old.Type) })
	if err != nil {
		return
	}
	f, p := sub.Flow, sub.Payload
	current, err := h.sessions.Current(r.Context(), r)
	if err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	if current != nil {
		h.kit.AlreadySignedIn(w, r, f.Type, h.kit.ReturnTo(f))
		return
	}
	f.UI.ResetMessages()
	traits := p.Traits()
	if raw := f.Internal[traitsKey]; traits == nil && raw != nil {
		if err := json.Unmarshal(raw, &traits); err != nil {
			h.kit.Fail(w, r, fmt.Errorf("registration: the flow's stored traits are corrupt: %w", err))
			return
		}
	}

	switch p.String("method") {
	case "profile":
		h.profile(w, r, f, sch, p, traits)
	case password.ID:
		h.withPassword(w, r, f, sch, traits, p.String("password"))
	default:
		h.kit.Reject(w, r, f, flow.FormMessage(text.NoRegistrationStrategy()))
	}
}

// profile handles the first step: the traits are checked and kept, and the
// flow moves on to choosing a credential. screen=previous goes back.
func (h *Handler) profile(w http.ResponseWriter, r *http.Request, f *flow.Flow, sch *schema.Schema, p flow.Payload, traits map[string]any) {
	f.Active = "profile"
	if p.String("screen") == "previous" {
		h.firstStep(f, traits)
		h.kit.Reject(w, r, f, nil)
		return
	}
	if _, err := sch.Validate(traits); err != nil {
		var verr *schema.ValidationError
		if !errors.As(err, &verr) {
			h.kit.Fail(w, r, err)
			return
		}
		h.firstStep(f, traits)
		h.kit.Reject(w, r, f, flow.FromSchema(verr))
		return
	}
	raw, err := json.Marshal(traits)
	if err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	f.Internal[traitsKey] = raw
	h.secondStep(f, traits)
	// Kratos answers the next step with 400 and the flow: the submission
	// did not complete the registration yet.
	h.kit.Reject(w, r, f, nil)
}

// withPassword completes the registration: identity, credential and, with
// the session hook, the session, all in one transaction.
func (h *Handler) withPassword(w http.ResponseWriter, r *http.Request, f *flow.Flow, sch *schema.Schema, traits map[string]any, pw string) {
	f.Active = password.ID
	prepared, err := h.password.Register(r.Context(), sch, traits, pw)
	var fe flow.FormError
	if errors.As(err, &fe) {
		h.showAgain(f, traits)
		h.kit.Reject(w, r, f, fe)
		return
	}
	if err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	var (
		i  *identity.Identity
		s  *session.Session
		vf *flow.Flow
	)
	err = h.kit.Store.Write(r.Context(), func(q *store.Q) error {
		if err := flow.Claim(r.Context(), q, f); err != nil {
			return err
		}
		var err error
		if i, err = prepared.Insert(r.Context(), q); err != nil {
			return err
		}
		if h.opts.IssueSession {
			if s, err = h.sessions.Issue(r.Context(), q, i, password.ID, r); err != nil {
				return err
			}
		}
		if h.opts.Verification != nil {
			if vf, err = h.opts.Verification.StartAfterRegistration(r.Context(), q, r, w, f.Type, i); err != nil {
				return err
			}
		}
		f.State = flow.StatePassedChallenge
		return flow.Update(r.Context(), q, f)
	})
	if errors.Is(err, flow.ErrCompleted) {
		h.kit.AnswerCompleted(w, r, f)
		return
	}
	if identity.IsConflict(err) {
		h.showAgain(f, traits)
		h.kit.Reject(w, r, f, flow.FormMessage(text.DuplicateIdentifier()))
		return
	}
	if err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	h.succeed(w, r, f, i, s, vf)
}

// showAgain re-renders the form a failed password submission came from.
func (h *Handler) showAgain(f *flow.Flow, traits map[string]any) {
	if h.opts.OneStep || f.Internal[traitsKey] == nil {
		// A password sent with the profile in one go (as native apps do)
		// gets the one-step form back, so its mistakes have a password
		// node to sit on.
		h.firstStepAs(f, traits, true)
		return
	}
	h.secondStep(f, traits)
	f.UI.Messages = nil
}

func (h *Handler) succeed(w http.ResponseWriter, r *http.Request, f *flow.Flow, i *identity.Identity, s *session.Session, vf *flow.Flow) {
	iv := i.View(identity.ViewOptions{SchemaURL: h.sessions.SchemaURL(i.SchemaID)})
	continueWith := []any{}
	out := map[string]any{"identity": iv}
	if s != nil {
		out["session"] = h.sessions.View(s, false)
		if f.Type == flow.TypeAPI {
			out["session_token"] = s.Token
			continueWith = append(continueWith, flow.SetSessionToken(s.Token))
		}
	}
	var verificationURL string
	if vf != nil && h.opts.ShowVerificationUI {
		verificationURL = h.opts.Verification.UIURL(vf)
		address := ""
		if len(i.VerifiableAddresses) > 0 {
			address = i.VerifiableAddresses[0].Value
		}
		item := map[string]any{"id": vf.ID.String(), "verifiable_address": address}
		if verificationURL != "" { // native flows have no UI to show
			item["url"] = verificationURL
		}
		continueWith = append(continueWith, map[string]any{"action": "show_verification_ui", "flow": item})
	}
	out["continue_with"] = continueWith
	if f.Type == flow.TypeAPI {
		wire.WriteJSON(w, http.StatusOK, out)
		return
	}
	if s != nil {
		h.sessions.SetCookie(w, s)
		if vf == nil || vf.Type != flow.TypeBrowser { // StartAfterRegistration rotated it already
			h.kit.CSRF.Rotate(w)
		}
	}
	if wire.WantsJSON(r) {
		wire.WriteJSON(w, http.StatusOK, out)
		return
	}
	if verificationURL != "" {
		http.Redirect(w, r, verificationURL, http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, h.kit.ReturnTo(f), http.StatusSeeOther)
}
