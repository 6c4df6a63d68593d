// Package login is the login flow: starting it for browsers and apps,
// reading it, and completing it with a method, which issues a session.
package login

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/guard"
	"github.com/lanyard-id/lanyard/internal/hook"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/onetime"
	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/session"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/text"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// Handler serves the login endpoints.
type Handler struct {
	kit      *flow.Kit
	sessions *session.Manager
	schemas  *schema.Registry
	opts     Options
	methods  flow.Methods
}

// Options are the login settings.
type Options struct {
	// Hooks are the after-hooks: require_verified_address (checked before
	// the session is issued) and revoke_active_sessions.
	Hooks *hook.Runner
	// Before are selfservice.flows.login.before.hooks, run as a flow is created.
	Before *hook.Before
	// Verifier, when set, starts the verification a refused login is sent
	// to, as Kratos does since v25.4; without it (or with
	// feature_flags.legacy_require_verified_login_error) the refusal is the
	// older form error 4000010.
	Verifier Verifier
	// Guard counts sign-in attempts per identifier and client, and refuses
	// them past its limits; nil counts nothing.
	Guard *guard.Guard
	// RequiredAAL is session.whoami.required_aal: a sign-in that leaves
	// the session below it is sent on to the second factor.
	RequiredAAL string
	// IdentifierFirst is selfservice.flows.login.style identifier_first:
	// the form asks for the identifier first, then offers the methods the
	// identity can use.
	IdentifierFirst bool
	// Mitigate is security.account_enumeration.mitigate: identifier-first
	// login offers every method whether or not the account exists.
	Mitigate bool
	// Identities finds the identity an identifier names (identifier-first).
	Identities Identities
	// Exchanges records the sessions of native flows that asked for a
	// session token exchange code; nil: such flows answer as any other.
	Exchanges flow.Exchanger
}

// Identities finds identities by what people type to sign in.
type Identities interface {
	// FindByAnyIdentifierEvenly answers the identity with a credential
	// identifier equal to identifier, or identity.ErrNotFound, doing the
	// same work either way.
	FindByAnyIdentifierEvenly(ctx context.Context, identifier string) (*identity.Identity, error)
}

// Verifier starts the verification a refused login points at.
type Verifier interface {
	StartForLogin(ctx context.Context, q *store.Q, r *http.Request, w http.ResponseWriter, typ string, i *identity.Identity) (*flow.Flow, error)
	UIURL(f *flow.Flow) string
}

// NewHandler wires the login flow with the methods serving it, in the
// order their nodes appear.
func NewHandler(kit *flow.Kit, sessions *session.Manager, schemas *schema.Registry, opts Options, methods flow.Methods) *Handler {
	h := &Handler{kit: kit, sessions: sessions, schemas: schemas, opts: opts, methods: methods.For(flow.Login)}
	kit.Enter(flow.Login, flow.Entry{
		Start: func(w http.ResponseWriter, r *http.Request, typ string) (*flow.Flow, error) {
			return h.newFlow(w, r, typ, false, session.AAL1, nil)
		},
		Resume: h.process,
	})
	return h
}

// Register adds the routes.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /self-service/login/browser", func(w http.ResponseWriter, r *http.Request) { h.create(w, r, flow.TypeBrowser) })
	mux.HandleFunc("GET /self-service/login/api", func(w http.ResponseWriter, r *http.Request) { h.create(w, r, flow.TypeAPI) })
	mux.HandleFunc("GET /self-service/login/flows", func(w http.ResponseWriter, r *http.Request) { h.kit.Fetch(w, r, flow.Login) })
	mux.HandleFunc("POST /self-service/login", h.submit)
}

// ErrAAL1Required is Kratos's session_aal1_required: a second factor is
// asked for without a session that proved the first.
var ErrAAL1Required = wire.Unauthorized.WithID("session_aal1_required").
	WithReason("You must sign in with a first factor before a second one.")

func (h *Handler) create(w http.ResponseWriter, r *http.Request, typ string) {
	refresh := r.URL.Query().Get("refresh") == "true"
	aal := r.URL.Query().Get("aal")
	if aal == "" {
		aal = session.AAL1
	}
	if aal != session.AAL1 && aal != session.AAL2 {
		h.kit.Fail(w, r, wire.BadRequest.WithReason("Unable to parse the requested AAL %q: use aal1 or aal2.", aal))
		return
	}
	current, err := h.sessions.Current(r.Context(), r)
	if err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	if current == nil && aal == session.AAL2 {
		h.kit.Fail(w, r, ErrAAL1Required)
		return
	}
	// A signed-in browser or app may ask to refresh its session, or to
	// step it up to the second factor it has not used yet.
	stepUp := current != nil && aal == session.AAL2 && current.AAL < session.AAL2
	if current != nil && !refresh && !stepUp {
		returnTo, err := h.kit.CheckReturnTo(r.URL.Query().Get("return_to"))
		if err != nil {
			h.kit.Fail(w, r, err)
			return
		}
		h.kit.AlreadySignedIn(w, r, typ, returnTo)
		return
	}
	f, err := h.newFlow(w, r, typ, refresh, aal, current)
	h.kit.RespondCreated(w, r, f, err)
}

// newFlow builds and stores a login flow at aal: first factors for aal1,
// the identity's second factors for aal2.
func (h *Handler) newFlow(w http.ResponseWriter, r *http.Request, typ string, refresh bool, aal string, current *session.Session) (*flow.Flow, error) {
	f, err := h.kit.Start(w, r, flow.Login, typ)
	if err != nil {
		return nil, err
	}
	f.Refresh = refresh && current != nil
	f.RequestedAAL = aal
	var re *identity.Identity
	sch := h.schemas.Default()
	if current != nil && (f.Refresh || aal == session.AAL2) {
		re = current.Identity
		if s, ok := h.schemas.Get(re.SchemaID); ok {
			sch = s
		}
	}
	if f.Refresh {
		f.UI.Messages = append(f.UI.Messages, text.LoginReauth())
	}
	if aal == session.AAL2 && (current == nil || current.AAL < session.AAL2) {
		f.UI.Messages = append(f.UI.Messages, text.LoginSecondFactor())
	}
	c := flow.NodeContext{Schema: sch, Identity: re}
	if h.identifierFirst(f) {
		if err := h.askForIdentifier(r.Context(), f, sch); err != nil {
			return nil, err
		}
		if err := h.opts.Before.Run(r.Context(), r, f, nil); err != nil {
			return nil, err
		}
		return f, h.kit.Save(r.Context(), f)
	}
	if err := h.methods.AddNodes(r.Context(), f, c); err != nil {
		return nil, err
	}
	if err := h.opts.Before.Run(r.Context(), r, f, nil); err != nil {
		return nil, err
	}
	var open *flow.Outcome
	if aal == session.AAL2 && re != nil {
		// A second factor with nothing to choose is sent at once.
		if open, err = h.open(r.Context(), h.methods, f, c); err != nil {
			return nil, err
		}
	}
	if open == nil {
		return f, h.kit.Save(r.Context(), f)
	}
	return f, h.kit.Store.Write(r.Context(), func(q *store.Q) error {
		if err := flow.Save(r.Context(), q, f); err != nil {
			return err
		}
		if err := open.Send(r.Context(), q); err != nil {
			return err
		}
		return flow.Update(r.Context(), q, f)
	})
}

// open asks the methods that may move the form on at once, in order, and
// answers the first outcome that sends something.
func (h *Handler) open(ctx context.Context, ms flow.Methods, f *flow.Flow, c flow.NodeContext) (*flow.Outcome, error) {
	for _, m := range ms {
		o, ok := m.(flow.Opener)
		if !ok {
			continue
		}
		out, err := o.Open(ctx, f, c)
		if err != nil {
			return nil, err
		}
		if out != nil && out.Send != nil {
			f.Active = m.ID()
			return out, nil
		}
	}
	return nil, nil
}

func (h *Handler) submit(w http.ResponseWriter, r *http.Request) {
	sub, err := h.kit.Receive(w, r, flow.Login,
		func() (flow.Payload, error) { return flow.DecodePayload(w, r, nil) },
		func(old *flow.Flow) (*flow.Flow, error) {
			current, err := h.sessions.Current(r.Context(), r)
			if err != nil {
				return nil, err
			}
			if current == nil && old.RequestedAAL == session.AAL2 {
				return nil, ErrAAL1Required
			}
			return h.newFlow(w, r, old.Type, old.Refresh, old.RequestedAAL, current)
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
	current, err := h.sessions.Current(r.Context(), r)
	if err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	secondFactor := f.RequestedAAL == session.AAL2
	switch {
	case secondFactor && current == nil:
		h.kit.Fail(w, r, ErrAAL1Required)
		return
	case current != nil && !f.Refresh && !(secondFactor && current.AAL < session.AAL2):
		h.kit.AlreadySignedIn(w, r, f.Type, h.kit.ReturnTo(f))
		return
	}
	if current != nil {
		sub.Identity = current.Identity
	}

	f.UI.ResetMessages()
	sub.Schema = h.schemas.Default()
	if sub.Identity != nil {
		if sch, ok := h.schemas.Get(sub.Identity.SchemaID); ok {
			sub.Schema = sch
		}
	}
	sub.ClientIP = h.opts.Guard.ClientIP(r)
	if p.String("method") == IdentifierFirstMethod && h.identifierFirst(f) {
		h.identify(w, r, sub)
		return
	}
	m := h.methods.Pick(p)
	if m == nil {
		h.kit.Reject(w, r, f, flow.FormMessage(text.NoLoginStrategy()))
		return
	}
	f.Active = m.ID()
	if id := p.String("identifier"); id != "" {
		f.UI.SetValue("identifier", id)
	}
	var attempt attempt
	if cr, ok := m.(flow.CodeRequester); !ok || !cr.RequestsCode(p) {
		var refusal *text.Message
		attempt, refusal, err = h.countAttempt(r, p, sub.Identity, secondFactor)
		if err != nil {
			h.kit.Fail(w, r, err)
			return
		}
		if refusal != nil {
			h.kit.Reject(w, r, f, flow.FormMessage(refusal))
			return
		}
	}
	out, err := m.Submit(r.Context(), sub)
	var fe flow.FormError
	if errors.As(err, &fe) {
		h.kit.Reject(w, r, f, fe)
		return
	}
	if err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	switch {
	case h.kit.Forward(w, r, f, p, out):
		return
	case out.Relocate && out.Send == nil:
		h.kit.Relocate(w, r, f, h.kit.FlowUIURL(f))
		return
	}
	if out.Send != nil || out.Shown {
		// A code went out, or the form moved on: the login goes on.
		h.kit.Hold(w, r, f, out.Send)
		return
	}
	i := out.Identity
	if i == nil && out.Redeem == nil {
		h.kit.Fail(w, r, errors.New("login: the method answered no identity"))
		return
	}
	if i != nil && h.opts.Hooks.Has(m.ID(), hook.RequireVerifiedAddress) && !hasVerifiedAddress(i) {
		h.refuseUnverified(w, r, f, i, attempt)
		return
	}
	if f.Refresh && current != nil && i != nil && current.IdentityID != i.ID {
		// Re-authenticating as somebody else is a new sign-in.
		current = nil
	}
	if i != nil { // interrupting web hooks, before the transaction
		var stop flow.FormError
		_, err := h.opts.Hooks.PrePersist(r.Context(), &hook.Event{Flow: f, Method: m.ID(), AAL: out.AAL, Provider: out.Provider, Identity: i, Session: current, Request: r})
		switch {
		case errors.As(err, &stop):
			h.kit.Reject(w, r, f, stop)
			return
		case err != nil:
			h.kit.Fail(w, r, err)
			return
		}
	}

	var (
		s        *session.Session
		ev       *hook.Event
		refused  *flow.Refusal
		exchange string
	)
	am := session.Method{Method: m.ID(), AAL: out.AAL, Provider: out.Provider}
	// Pipelined: on PostgreSQL the claim, the counter reset, the session
	// and the flow's update go with BEGIN and COMMIT in one round trip.
	err = h.kit.Store.WritePipelined(r.Context(), func(q *store.Q) error {
		if _, stop, err := flow.Spend(r.Context(), q, out.Redeem, &refused); stop {
			return err
		}
		if i == nil {
			return errors.New("login: a code was redeemed for no identity")
		}
		if err := flow.Claim(r.Context(), q, f); err != nil {
			return err
		}
		if out.Commit != nil {
			if _, err := out.Commit(r.Context(), q); err != nil {
				return err
			}
		}
		for _, lm := range h.methods {
			if l, ok := lm.(flow.Linker); ok {
				linked, err := l.LinkOnSignIn(r.Context(), q, f, i)
				if err != nil {
					return err
				}
				if linked != nil {
					i = linked
				}
			}
		}
		if err := attempt.succeeded(r.Context(), q); err != nil {
			return err
		}
		if current != nil {
			s = current
			if err := h.sessions.ReauthenticateWith(r.Context(), q, s, am); err != nil {
				return err
			}
		} else {
			var err error
			if s, err = h.sessions.IssueWith(r.Context(), q, i, am, r); err != nil {
				return err
			}
		}
		ev = &hook.Event{Flow: f, Method: m.ID(), AAL: out.AAL, Provider: out.Provider, Identity: i, Session: s, Request: r}
		if err := h.opts.Hooks.Run(r.Context(), q, ev); err != nil {
			return err
		}
		if sub.Resumed && current == nil && h.opts.Exchanges != nil && f.ExchangeDigest() != "" {
			var err error
			if exchange, err = h.opts.Exchanges.Complete(r.Context(), q, f.ExchangeDigest(), s); err != nil {
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
	if errors.As(err, &fe) {
		// The method's own check inside the transaction (a replayed code).
		h.kit.Reject(w, r, f, fe)
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
	if current != nil && f.Type == flow.TypeAPI {
		// Only the token's digest is stored; the app re-authenticated
		// with the token itself and gets it back, as Kratos answers.
		s.Token = h.sessions.TokenFrom(r)
	}
	h.succeed(w, r, f, s, current != nil)
}

// refuse answers a code that cannot be used: an expired one with a new
// flow, any other with the method's message on the form as it was.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, f *flow.Flow, refused *flow.Refusal) {
	if errors.Is(refused, onetime.ErrExpired) && refused.Code != nil {
		h.kit.Restart(w, r, f, refused.Code.ExpiresAt, func(old *flow.Flow) (*flow.Flow, error) {
			current, err := h.sessions.Current(r.Context(), r)
			if err != nil {
				return nil, err
			}
			return h.newFlow(w, r, old.Type, old.Refresh, old.RequestedAAL, current)
		})
		return
	}
	msg := refused.Message
	if msg == nil {
		msg = text.LoginCodeInvalid()
	}
	h.kit.Reject(w, r, f, flow.FormMessage(msg))
}

// succeed answers a completed login: the session token for apps, the
// session cookie for browsers.
func (h *Handler) succeed(w http.ResponseWriter, r *http.Request, f *flow.Flow, s *session.Session, refreshed bool) {
	h.kit.Completed(r, f)
	out := map[string]any{"session": h.sessions.View(s, false), "continue_with": []any{}}
	if f.Type == flow.TypeAPI {
		if s.Token != "" {
			out["session_token"] = s.Token
			out["continue_with"] = []any{flow.SetSessionToken(s.Token)}
		}
		h.kit.Answer(w, r, f, flow.Answer{JSON: out})
		return
	}
	if !refreshed {
		h.sessions.SetCookie(w, s)
		h.kit.CSRF.Rotate(w) // a new identity in this browser gets a new CSRF token
	}
	if !h.sessions.SatisfiesAAL(s, h.opts.RequiredAAL) {
		// The identity has a second factor: the browser goes on to it,
		// signed in at aal1 meanwhile, as Kratos sends it.
		q := url.Values{"aal": {session.AAL2}}
		if f.ReturnTo != "" {
			q.Set("return_to", f.ReturnTo)
		}
		target := h.kit.PublicURL + "self-service/login/browser?" + q.Encode()
		h.kit.Answer(w, r, f, flow.Answer{Error: flow.ErrLocationChange(target), Redirect: target})
		return
	}
	h.kit.Answer(w, r, f, flow.Answer{JSON: out, Redirect: h.kit.ReturnTo(f)})
}

// hasVerifiedAddress is the require_verified_address check: at least one
// of the identity's verifiable addresses has been verified.
func hasVerifiedAddress(i *identity.Identity) bool {
	for _, a := range i.VerifiableAddresses {
		if a.Verified {
			return true
		}
	}
	return false
}

// ErrVerifiedAddressRequired is Kratos's session_verified_address_required.
var ErrVerifiedAddressRequired = wire.Forbidden.WithID("session_verified_address_required").
	WithReason("Your account's email or phone address are not verified yet. Please check your email or phone inbox or re-request verification.")

// refuseUnverified answers a correct login of an identity without a
// verified address: it starts a verification flow (sending a code) and
// hands the caller over to it.
func (h *Handler) refuseUnverified(w http.ResponseWriter, r *http.Request, f *flow.Flow, i *identity.Identity, attempt attempt) {
	if h.opts.Verifier == nil || len(i.VerifiableAddresses) == 0 {
		h.kit.Reject(w, r, f, flow.FormMessage(text.AddressNotVerified()))
		return
	}
	var vf *flow.Flow
	err := h.kit.Store.Write(r.Context(), func(q *store.Q) error {
		// The password was right: its owner must not lock themselves out
		// while they verify the address.
		if err := attempt.succeeded(r.Context(), q); err != nil {
			return err
		}
		var err error
		vf, err = h.opts.Verifier.StartForLogin(r.Context(), q, r, w, f.Type, i)
		return err
	})
	if err == nil && vf == nil {
		err = errors.New("login: no verification flow was started")
	}
	if err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	uiURL := h.opts.Verifier.UIURL(vf)
	item := map[string]any{"id": vf.ID.String(), "verifiable_address": i.VerifiableAddresses[0].Value}
	if uiURL != "" {
		item["url"] = uiURL
	}
	h.kit.Answer(w, r, f, flow.Answer{
		Error:    ErrVerifiedAddressRequired.WithDetail("continue_with", []any{map[string]any{"action": "show_verification_ui", "flow": item}}),
		Redirect: uiURL,
	})
}

// attempt is one counted sign-in attempt.
type attempt struct {
	guard          *guard.Guard
	scope          guard.Scope
	identifier, ip string
}

// countAttempt counts a submission that carries an identifier and a
// password before the password is checked, in a transaction of its own so
// that the count stands whatever the check says. It answers the message to
// refuse the attempt with when the guard's limits are reached.
func (h *Handler) countAttempt(r *http.Request, p flow.Payload, signedIn *identity.Identity, secondFactor bool) (attempt, *text.Message, error) {
	a := attempt{guard: h.opts.Guard, scope: guard.ScopeLogin, ip: h.opts.Guard.ClientIP(r)}
	switch {
	case secondFactor && signedIn != nil:
		// A second factor's guesses count per identity, whatever the method.
		a.scope, a.identifier = guard.ScopeSecondFactor, signedIn.ID.String()
	case p.String("password") != "":
		a.identifier = p.String("identifier")
		if a.identifier == "" {
			a.identifier = p.String("password_identifier") // the legacy field
		}
	}
	if a.guard == nil || a.identifier == "" {
		return attempt{}, nil, nil // nothing to check, nothing to count
	}
	var v guard.Verdict
	var err error
	if h.kit.Store.Dialect() == store.Postgres {
		// There the count is one statement, atomic without a transaction.
		v, err = a.guard.Attempt(r.Context(), h.kit.Store.Autocommit(), a.scope, a.identifier, a.ip)
	} else {
		err = h.kit.Store.Write(r.Context(), func(q *store.Q) error {
			var err error
			v, err = a.guard.Attempt(r.Context(), q, a.scope, a.identifier, a.ip)
			return err
		})
	}
	if err != nil || v.Allowed {
		return a, nil, err
	}
	return a, v.Message(), nil
}

// succeeded resets the counters after a correct password, in the
// transaction that completes the login.
func (a attempt) succeeded(ctx context.Context, q *store.Q) error {
	if a.guard == nil {
		return nil
	}
	return a.guard.Succeeded(ctx, q, a.scope, a.identifier, a.ip)
}
