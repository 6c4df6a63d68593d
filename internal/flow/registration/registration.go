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
	"github.com/lanyard-id/lanyard/internal/hook"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/onetime"
	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/session"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/text"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// Options are the registration settings.
type Options struct {
	Enabled bool
	// OneStep is the one-form registration: selfservice.flows.registration.style
	// unified, or the older enable_legacy_one_step.
	OneStep bool
	// Hooks are the after-hooks (session, show_verification_ui).
	Hooks *hook.Runner
	// Before are selfservice.flows.registration.before.hooks, run as a flow is created.
	Before *hook.Before
	// Verification, when set, sends verification messages to the new
	// identity's addresses.
	Verification Verifier
	// Exchanges records the sessions of native flows that asked for a
	// session token exchange code; nil: such flows answer as any other.
	Exchanges flow.Exchanger
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
	methods  flow.Methods
	opts     Options
}

// NewHandler wires the registration flow with the methods serving it, in
// the order their nodes appear.
func NewHandler(kit *flow.Kit, sessions *session.Manager, schemas *schema.Registry, methods flow.Methods, opts Options) *Handler {
	h := &Handler{kit: kit, sessions: sessions, schemas: schemas, methods: methods.For(flow.Registration), opts: opts}
	kit.Enter(flow.Registration, flow.Entry{
		Start: func(w http.ResponseWriter, r *http.Request, typ string) (*flow.Flow, error) {
			if !h.opts.Enabled {
				return nil, ErrDisabled
			}
			return h.newFlow(w, r, typ)
		},
		Resume: func(w http.ResponseWriter, r *http.Request, sub *flow.Submission) {
			if !h.opts.Enabled {
				h.kit.Fail(w, r, ErrDisabled)
				return
			}
			h.process(w, r, sub)
		},
	})
	return h
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
	if err := h.render(r.Context(), f, h.firstStep(), nil); err != nil {
		return nil, err
	}
	if err := h.opts.Before.Run(r.Context(), r, f, nil); err != nil {
		return nil, err
	}
	return f, h.kit.Save(r.Context(), f)
}

// firstStep is where a registration begins: the profile, or in one-step
// mode the profile and a credential at once.
func (h *Handler) firstStep() string {
	if h.opts.OneStep {
		return flow.StepOneStep
	}
	return flow.StepProfile
}

// render lays out step of the form: the traits (hidden once the profile
// step is done), then every method's nodes for that step.
func (h *Handler) render(ctx context.Context, f *flow.Flow, step string, traits map[string]any) error {
	f.UI.KeepOnlyCSRF()
	sch := h.schemas.Default()
	switch step {
	case flow.StepOneStep:
		// Kratos puts the traits in the group of the credential method.
		group := flow.GroupDefault
		for _, m := range h.methods {
			if m.ID() != flow.ProfileMethod {
				group = m.ID()
				break
			}
		}
		f.UI.Add(flow.TraitNodes(sch, group, traits, false)...)
	case flow.StepProfile:
		f.UI.Add(flow.TraitNodes(sch, flow.GroupDefault, traits, false)...)
	case flow.StepCredentials:
		f.UI.Add(flow.TraitNodes(sch, flow.GroupDefault, traits, true)...)
	}
	if err := h.methods.AddNodes(ctx, f, flow.NodeContext{Schema: sch, Traits: traits, Step: step}); err != nil {
		return err
	}
	if step == flow.StepCredentials {
		f.UI.Messages = append(f.UI.Messages, text.RegistrationChooseCred())
	}
	return nil
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
	h.process(w, r, sub)
}

// process handles a submission, from the form or resumed from a method's
// own endpoint.
func (h *Handler) process(w http.ResponseWriter, r *http.Request, sub *flow.Submission) {
	sch := h.schemas.Default()
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
	if raw := f.Internal[flow.RegistrationTraitsKey]; traits == nil && raw != nil {
		if err := json.Unmarshal(raw, &traits); err != nil {
			h.kit.Fail(w, r, fmt.Errorf("registration: the flow's stored traits are corrupt: %w", err))
			return
		}
	}
	sub.Schema, sub.Traits = sch, traits

	m := h.methods.Pick(p)
	if m == nil {
		h.kit.Reject(w, r, f, flow.FormMessage(text.NoRegistrationStrategy()))
		return
	}
	f.Active = m.ID()
	out, err := m.Submit(r.Context(), sub)
	var fe flow.FormError
	switch {
	case errors.As(err, &fe):
		h.showAgain(w, r, f, m, traits, fe)
		return
	case err != nil:
		h.kit.Fail(w, r, err)
		return
	case out.Next != "":
		// The form moved on (Kratos answers 400 with the flow: the
		// registration is not complete yet).
		f.State = flow.StateChooseMethod
		if err := h.render(r.Context(), f, out.Next, traits); err != nil {
			h.kit.Fail(w, r, err)
			return
		}
		h.kit.Reject(w, r, f, nil)
		return
	case h.kit.Forward(w, r, f, p, out):
		return
	case out.Send != nil || out.Shown:
		// A code went out to the address being signed up, or the method
		// laid the form out again (a social sign-up missing traits).
		h.kit.Hold(w, r, f, out.Send)
		return
	}
	if refused, err := h.checkCode(r, m, out); refused != nil || err != nil {
		if refused != nil && (err == nil || errors.Is(err, refused)) {
			h.refuse(w, r, f, refused)
		} else {
			h.kit.Fail(w, r, err)
		}
		return
	}
	changes, traits, err := h.prePersist(r, f, m, out, traits)
	switch {
	case errors.As(err, &fe):
		h.showAgain(w, r, f, m, traits, fe)
		return
	case err != nil:
		h.kit.Fail(w, r, err)
		return
	}
	h.complete(w, r, f, m, out, traits, sub.Resumed, changes)
}

// errCodeAccepted rolls back checkCode's redemption of a code that would
// be accepted: it is spent in the completing transaction.
var errCodeAccepted = errors.New("registration: the code would be accepted")

// checkCode tries the code the submission carries before the web hooks
// that run ahead of the completing transaction see the registration, so
// that only the right code calls them. A refused code is answered here,
// its attempt counted as the completing transaction would count it; a
// code that would be accepted is left unspent (the transaction is rolled
// back) and spent once more on completion, which still refuses it if a
// racing submission spent it meanwhile. Without web hooks there is nothing
// to hold back, and the completion alone checks the code.
func (h *Handler) checkCode(r *http.Request, m flow.Method, out *flow.Outcome) (*flow.Refusal, error) {
	if out.Redeem == nil || !h.opts.Hooks.Has(m.ID(), hook.WebHook) {
		return nil, nil
	}
	var refused *flow.Refusal
	err := h.kit.Store.Write(r.Context(), func(q *store.Q) error {
		if _, stop, err := flow.Spend(r.Context(), q, out.Redeem, &refused); stop {
			return err
		}
		return errCodeAccepted
	})
	if errors.Is(err, errCodeAccepted) {
		return nil, nil
	}
	return refused, err
}

// prePersist runs the web hooks that may stop the registration or change
// the identity (response.parse), outside any transaction, with the
// identity as it will be written. Changed traits are checked against the
// schema again; the changes are written after the method's Commit, in the
// completing transaction.
func (h *Handler) prePersist(r *http.Request, f *flow.Flow, m flow.Method, out *flow.Outcome, traits map[string]any) (*hook.Changes, map[string]any, error) {
	i := out.Identity
	if i == nil {
		raw, err := json.Marshal(traits)
		if err != nil {
			return nil, traits, err
		}
		i = &identity.Identity{SchemaID: h.schemas.Default().ID, State: identity.StateActive, Traits: raw}
	}
	changes, err := h.opts.Hooks.PrePersist(r.Context(), &hook.Event{Flow: f, Method: m.ID(), AAL: out.AAL, Provider: out.Provider, Identity: i, Request: r})
	if err != nil || !changes.Reshapes() {
		return changes, traits, err
	}
	changed := traits
	if changes.HasTraits() {
		changed = nil
		if err := json.Unmarshal(changes.Traits, &changed); err != nil {
			return nil, traits, wire.Internal.WithReason("A web_hook answered traits that are not a JSON object.")
		}
	}
	sch, err := changes.Schema(h.schemas, i.SchemaID) // a hook may move the identity to another schema
	if err != nil {
		return nil, traits, err
	}
	if _, err := flow.ValidateTraits(sch, changed); err != nil {
		return nil, changed, err
	}
	return changes, changed, nil
}

// complete creates the identity, with the session hook its session, and
// starts verification, all in the one transaction that claims the flow.
func (h *Handler) complete(w http.ResponseWriter, r *http.Request, f *flow.Flow, m flow.Method, out *flow.Outcome, traits map[string]any, resumed bool, changes *hook.Changes) {
	var (
		i        *identity.Identity
		ev       *hook.Event
		vf       *flow.Flow
		refused  *flow.Refusal
		exchange string
	)
	err := h.kit.Store.WritePipelined(r.Context(), func(q *store.Q) error {
		if _, stop, err := flow.Spend(r.Context(), q, out.Redeem, &refused); stop {
			return err
		}
		if err := flow.Claim(r.Context(), q, f); err != nil {
			return err
		}
		var err error
		if i, err = out.Commit(r.Context(), q); err != nil {
			return err
		}
		if i, err = h.opts.Hooks.Amend(r.Context(), q, i, changes); err != nil {
			return err
		}
		ev = &hook.Event{Flow: f, Method: m.ID(), AAL: out.AAL, Provider: out.Provider, Identity: i, Request: r}
		if err := h.opts.Hooks.Run(r.Context(), q, ev); err != nil {
			return err
		}
		if resumed && ev.Session != nil && h.opts.Exchanges != nil && f.ExchangeDigest() != "" {
			if exchange, err = h.opts.Exchanges.Complete(r.Context(), q, f.ExchangeDigest(), ev.Session); err != nil {
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
	if refused != nil && (err == nil || errors.Is(err, refused)) {
		h.refuse(w, r, f, refused)
		return
	}
	if errors.Is(err, flow.ErrCompleted) {
		h.kit.AnswerCompleted(w, r, f)
		return
	}
	if identity.IsConflict(err) {
		h.showAgain(w, r, f, m, traits, flow.FormMessage(text.DuplicateIdentifier()))
		return
	}
	if err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	if err := ev.RunAfter(r.Context()); err != nil { // web hooks, after the commit
		h.kit.Fail(w, r, err)
		return
	}
	if exchange != "" {
		h.kit.AnswerExchange(w, r, f, exchange)
		return
	}
	h.succeed(w, r, f, i, ev, vf)
}

// showAgain shows the form a failed submission came from with its
// mistakes: the profile step for the profile's; the credential step once
// the profile is kept; otherwise (a native app sending everything at once)
// the one-step form, so that the mistakes have nodes to sit on.
func (h *Handler) showAgain(w http.ResponseWriter, r *http.Request, f *flow.Flow, m flow.Method, traits map[string]any, fe flow.FormError) {
	if f.State == flow.StateSentEmail {
		// The form asks for the code that was sent: it stays as it is.
		h.kit.Reject(w, r, f, fe)
		return
	}
	step := flow.StepOneStep
	switch {
	case h.opts.OneStep:
	case m.ID() == flow.ProfileMethod:
		step = flow.StepProfile
	case f.Internal[flow.RegistrationTraitsKey] != nil:
		step = flow.StepCredentials
	}
	if err := h.render(r.Context(), f, step, traits); err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	if step == flow.StepCredentials {
		f.UI.Messages = nil
	}
	h.kit.Reject(w, r, f, fe)
}

// refuse answers a code that cannot be used: an expired one with a new
// flow, any other with the method's message on the form as it was.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, f *flow.Flow, refused *flow.Refusal) {
	if errors.Is(refused, onetime.ErrExpired) && refused.Code != nil {
		h.kit.Restart(w, r, f, refused.Code.ExpiresAt, func(old *flow.Flow) (*flow.Flow, error) { return h.newFlow(w, r, old.Type) })
		return
	}
	msg := refused.Message
	if msg == nil {
		msg = text.RegistrationCodeInvalid()
	}
	h.kit.Reject(w, r, f, flow.FormMessage(msg))
}

func (h *Handler) succeed(w http.ResponseWriter, r *http.Request, f *flow.Flow, i *identity.Identity, ev *hook.Event, vf *flow.Flow) {
	h.kit.Completed(r, f)
	s := ev.Session
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
	if vf != nil && ev.ShowVerificationUI {
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
	if s != nil && f.Type == flow.TypeBrowser {
		h.sessions.SetCookie(w, s)
		if vf == nil || vf.Type != flow.TypeBrowser { // StartAfterRegistration rotated it already
			h.kit.CSRF.Rotate(w)
		}
	}
	next := verificationURL
	if next == "" {
		next = h.kit.ReturnTo(f)
	}
	h.kit.Answer(w, r, f, flow.Answer{JSON: out, Redirect: next})
}
