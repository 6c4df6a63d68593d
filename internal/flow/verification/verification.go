// Package verification is the address verification flow: a code (or a
// link) sent to a verifiable address proves its owner holds it.
//
// Its answers follow Kratos's verification flow rather than the shared
// flow.Kit defaults where the two differ: a wrong or expired code shows the
// flow again with 200 (Kratos issue #2997: the form, not an error page),
// an expired flow is replaced by a new one the client is sent to (303), a
// completed flow or one whose codes were tried too often is replaced by a
// new flow (410 self_service_flow_replaced for apps and AJAX), and a code
// link opened from a message fills in the code instead of using it, so
// that mail scanners following links cannot verify an address.
package verification

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/guard"
	"github.com/lanyard-id/lanyard/internal/hook"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/onetime"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/text"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// Options are the verification settings. The flow itself reads Enabled,
// Method and Guard; NotifyUnknownRecipients, the lifespans and MaxAttempts
// configure the code and link methods it is given, made from the same
// settings.
type Options struct {
	Enabled bool
	// Method is selfservice.flows.verification.use: the method flows use.
	Method                  string
	NotifyUnknownRecipients bool
	CodeLifespan            time.Duration
	LinkLifespan            time.Duration
	// MaxAttempts is how many codes may be submitted to one flow
	// (selfservice.methods.code.config.max_submissions, default 5); the
	// next submission replaces the flow, even with the right code.
	MaxAttempts int
	// Guard tells the client's address, by which the methods count code
	// guesses; nil counts none.
	Guard *guard.Guard
	// Hooks are selfservice.flows.verification.after.hooks.
	Hooks *hook.Runner
	// Before are selfservice.flows.verification.before.hooks, run as a flow is created.
	Before *hook.Before
}

// Handler serves the verification endpoints.
type Handler struct {
	kit     *flow.Kit
	ids     *identity.Manager
	methods flow.Methods
	opts    Options
}

// NewHandler wires the verification flow. methods are the ways to verify
// (code, link); flows use the one opts.Method names.
func NewHandler(kit *flow.Kit, ids *identity.Manager, methods flow.Methods, opts Options) *Handler {
	if opts.Method == "" {
		opts.Method = onetime.MethodCode
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 5
	}
	if opts.CodeLifespan <= 0 {
		opts.CodeLifespan = time.Hour
	}
	if opts.LinkLifespan <= 0 {
		opts.LinkLifespan = time.Hour
	}
	return &Handler{kit: kit, ids: ids, methods: methods.For(flow.Verification), opts: opts}
}

// Enabled reports whether verification is on.
func (h *Handler) Enabled() bool { return h.opts.Enabled }

// Register adds the routes.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /self-service/verification/browser", func(w http.ResponseWriter, r *http.Request) { h.create(w, r, flow.TypeBrowser) })
	mux.HandleFunc("GET /self-service/verification/api", func(w http.ResponseWriter, r *http.Request) { h.create(w, r, flow.TypeAPI) })
	mux.HandleFunc("GET /self-service/verification/flows", func(w http.ResponseWriter, r *http.Request) { h.kit.Fetch(w, r, flow.Verification) })
	mux.HandleFunc("POST /self-service/verification", h.submit)
	// Links in messages arrive as GET.
	mux.HandleFunc("GET /self-service/verification", h.followLink)
}

// ErrDisabled answers when verification is off.
var ErrDisabled = wire.BadRequest.WithID("self_service_flow_disabled").WithReason("Address verification is disabled.")

// errFlowReplaced is Kratos's self_service_flow_replaced: the client must
// continue with the flow named by use_flow_id.
func errFlowReplaced(newFlow uuid.UUID) *wire.Error {
	return wire.Gone.WithID("self_service_flow_replaced").
		WithReason("This verification flow cannot be used any more; continue with the new flow.").
		WithDetail("use_flow_id", newFlow.String())
}

// tooManySubmissions is shown on the flow that replaces one whose codes
// were tried too often.
func tooManySubmissions() *text.Message {
	return text.ValidationGeneric("The code was submitted too often. Please request a new code.")
}

func (h *Handler) create(w http.ResponseWriter, r *http.Request, typ string) {
	if !h.opts.Enabled {
		h.kit.Fail(w, r, ErrDisabled)
		return
	}
	f, err := h.start(w, r, typ)
	if err == nil {
		err = h.opts.Before.Run(r.Context(), r, f, nil)
	}
	if err == nil {
		err = h.kit.Save(r.Context(), f)
	}
	h.kit.RespondCreated(w, r, f, err)
}

// start makes a new flow that asks for an address; the caller saves it.
func (h *Handler) start(w http.ResponseWriter, r *http.Request, typ string) (*flow.Flow, error) {
	f, err := h.kit.Start(w, r, flow.Verification, typ)
	if err != nil {
		return nil, err
	}
	f.Active = h.opts.Method
	if m := h.method(); m != nil {
		if err := m.AddNodes(r.Context(), f, flow.NodeContext{}); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// method is the configured method, or nil.
func (h *Handler) method() flow.Method { return h.methods.Named(h.opts.Method) }

// chosen reports whether p is a submission for m: it names m, or names
// no method and m takes it anyway (a code, the resend button's address).
func chosen(m flow.Method, p flow.Payload) bool {
	if m == nil {
		return false
	}
	if named := p.String("method"); named != "" {
		return named == m.ID()
	}
	im, ok := m.(flow.Implied)
	return ok && im.Implies(p)
}

// submit is POST /self-service/verification: an address to send a code or
// link to, or a code to redeem.
func (h *Handler) submit(w http.ResponseWriter, r *http.Request) {
	if !h.opts.Enabled {
		h.kit.Fail(w, r, ErrDisabled)
		return
	}
	f, ok := h.load(w, r)
	if !ok {
		return
	}
	h.kit.Submitting(r, f)
	p, err := flow.DecodePayload(w, r, nil)
	var fe flow.FormError
	if err != nil && !errors.As(err, &fe) {
		h.kit.Fail(w, r, err)
		return
	}
	if !h.usable(w, r, f) {
		return
	}
	m := h.method()
	isFor := fe == nil && chosen(m, p)
	var out *flow.Outcome
	var submitErr error
	submit := func() {
		if isFor {
			out, submitErr = m.Submit(r.Context(), &flow.Submission{Flow: f, Payload: p, ClientIP: h.opts.Guard.ClientIP(r)})
		}
	}
	// A code is its own proof, so Kratos takes it from anywhere (a native
	// app's flow finished in the browser the message opened); browsers
	// still show their CSRF token, which the code link binds to them, and
	// show it before the method does any work.
	if f.Type == flow.TypeBrowser {
		if !h.allowed(w, r, f, p, false) {
			return
		}
		submit()
	} else if submit(); !h.allowed(w, r, f, p, submitErr == nil && out != nil && out.Redeem != nil) {
		return
	}
	redeems := submitErr == nil && out != nil && out.Redeem != nil
	f.UI.ResetMessages()
	switch {
	case fe != nil:
		// Bytes no field may hold; the payload has only its CSRF token.
		h.kit.Reject(w, r, f, fe)
	case !isFor:
		h.kit.Reject(w, r, f, flow.FormMessage(text.NoVerificationStrategy()))
	case errors.As(submitErr, &fe):
		h.kit.Reject(w, r, f, fe)
	case submitErr != nil:
		h.kit.Fail(w, r, submitErr)
	case redeems:
		h.redeemCode(w, r, f, out.Redeem)
	case out.Send != nil:
		h.send(w, r, f, out.Send)
	default:
		h.kit.Reject(w, r, f, flow.FormMessage(text.NoVerificationStrategy()))
	}
}

// load reads the flow a submission or link names, answering if it cannot.
func (h *Handler) load(w http.ResponseWriter, r *http.Request) (*flow.Flow, bool) {
	id, err := uuid.Parse(r.URL.Query().Get("flow"))
	if err != nil {
		h.kit.Fail(w, r, wire.BadRequest.WithReason("The flow query parameter is missing or malformed."))
		return nil, false
	}
	f, err := flow.Get(r.Context(), h.kit.Store.Read(), flow.Verification, id)
	if err != nil {
		h.kit.Fail(w, r, err)
		return nil, false
	}
	return f, true
}

// usable answers expired and completed flows with their successor, as
// Kratos does before looking at what was submitted.
func (h *Handler) usable(w http.ResponseWriter, r *http.Request, f *flow.Flow) bool {
	switch {
	case f.Expired():
		h.replaceExpired(w, r, f)
		return false
	case f.State == flow.StatePassedChallenge:
		h.replace(w, r, f, f.Type, text.VerificationAlreadyDone())
		return false
	}
	return true
}

// allowed checks who may submit: the browser the flow is bound to (CSRF),
// or an app that sends no browser state, unless anyCaller.
func (h *Handler) allowed(w http.ResponseWriter, r *http.Request, f *flow.Flow, p flow.Payload, anyCaller bool) bool {
	if f.Type == flow.TypeBrowser {
		if err := h.kit.CSRF.Verify(r, p.String("csrf_token")); err != nil {
			h.kit.Fail(w, r, err)
			return false
		}
		return true
	}
	if reason := browserState(r); reason != "" && !anyCaller {
		f.UI.ResetMessages()
		f.UI.AddMessage("", text.ValidationGeneric(reason))
		wire.WriteJSON(w, http.StatusBadRequest, f.View())
		return false
	}
	return true
}

// browserState explains why a request looks like a browser's: API flows
// refuse Cookie and Origin headers (except Cloudflare's cookies), as
// flow.Kit.Receive does for the other flows.
func browserState(r *http.Request) string {
	if r.Header.Get("Origin") != "" {
		return "API flows must not be submitted by browsers: the request carries an Origin header. Use the browser flow instead."
	}
	for _, c := range r.Cookies() {
		n := c.Name
		if strings.HasPrefix(n, "__cf") || strings.HasPrefix(n, "_cf") || strings.HasPrefix(n, "cf_") {
			continue
		}
		return "API flows must not be submitted with cookies: the request carries a Cookie header. Use the browser flow instead."
	}
	return ""
}

// successor saves a new flow of typ that asks for an address again and
// carries msg, keeping old's return_to.
func (h *Handler) successor(w http.ResponseWriter, r *http.Request, old *flow.Flow, typ string, msg *text.Message) (*flow.Flow, error) {
	nf, err := h.start(w, r, typ)
	if err != nil {
		return nil, err
	}
	nf.ReturnTo = old.ReturnTo
	nf.UI.Messages = append(nf.UI.Messages, msg)
	return nf, h.kit.Save(r.Context(), nf)
}

// replaceExpired sends the client to a new flow telling that old expired:
// apps and AJAX to the new flow's JSON, browsers to the UI.
func (h *Handler) replaceExpired(w http.ResponseWriter, r *http.Request, old *flow.Flow) {
	nf, err := h.successor(w, r, old, old.Type, text.VerificationExpired(old.ExpiresAt))
	if err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	h.kit.Answer(w, r, nf, flow.Answer{SeeOther: h.kit.PublicURL + "self-service/verification/flows?id=" + url.QueryEscape(nf.ID.String())})
}

// replace answers with a new flow of typ carrying msg: 410
// self_service_flow_replaced for JSON callers, the UI otherwise (also for
// an app's flow whose link was opened in a browser), as Kratos does.
func (h *Handler) replace(w http.ResponseWriter, r *http.Request, old *flow.Flow, typ string, msg *text.Message) {
	nf, err := h.successor(w, r, old, typ, msg)
	if err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	// Apps' flows too go to the UI when a browser opened their link.
	h.kit.Answer(w, r, nf, flow.Answer{As: flow.TypeBrowser, Error: errFlowReplaced(nf.ID)})
}

// send runs a method's Send (the code or link and its message) in the
// transaction that stores the flow as the method left it.
func (h *Handler) send(w http.ResponseWriter, r *http.Request, f *flow.Flow, send func(context.Context, *store.Q) error) {
	if h.kit.Keep(w, r, f, send) {
		h.show(w, r, f)
	}
}

// show answers with the flow: JSON for apps and AJAX (200, also when the
// flow carries an error message), the UI for browsers.
func (h *Handler) show(w http.ResponseWriter, r *http.Request, f *flow.Flow) {
	h.kit.Answer(w, r, f, flow.Answer{JSON: f.View()})
}

// spend runs a method's Redeem and, when it answers a code, verifies the
// address in the same transaction. A refusal is committed (the attempt
// counts) unless it asks to be undone.
func (h *Handler) spend(r *http.Request, f *flow.Flow, redeem func(context.Context, *store.Q) (*onetime.Code, error)) (*flow.Refusal, error) {
	ctx := r.Context()
	var (
		refusal *flow.Refusal
		ev      *hook.Event
		owner   uuid.UUID
	)
	err := h.kit.Store.Write(ctx, func(q *store.Q) error {
		code, stop, err := flow.Spend(ctx, q, redeem, &refusal)
		if stop {
			return err
		}
		if err := h.verified(ctx, q, f, code); err != nil {
			return err
		}
		if !h.opts.Hooks.Runs(code.Method) {
			return nil
		}
		ev = &hook.Event{Flow: f, Method: code.Method, Request: r}
		owner = *code.IdentityID
		return h.opts.Hooks.Run(ctx, q, ev)
	})
	if refusal != nil && errors.Is(err, refusal) {
		err = nil
	}
	if err == nil && ev != nil && len(ev.After) > 0 {
		// Web hooks, after the commit, see the address verified.
		if ev.Identity, err = h.ids.Get(ctx, owner); err == nil {
			err = ev.RunAfter(ctx)
		}
	}
	return refusal, err
}

func (h *Handler) redeemCode(w http.ResponseWriter, r *http.Request, f *flow.Flow, redeem func(context.Context, *store.Q) (*onetime.Code, error)) {
	refusal, err := h.spend(r, f, redeem)
	switch {
	case errors.Is(err, flow.ErrCompleted):
		// Another submission verified with this flow meanwhile.
		h.replace(w, r, f, f.Type, text.VerificationAlreadyDone())
	case err != nil:
		h.kit.Fail(w, r, err)
	case refusal == nil:
		h.kit.Completed(r, f)
		h.show(w, r, f)
	case errors.Is(refusal, onetime.ErrTooManyAttempts):
		h.replace(w, r, f, f.Type, tooManySubmissions())
	default:
		// Wrong, used and expired codes read alike, as in Kratos; the
		// form stays as it was.
		f.UI.Messages = []*text.Message{refusal.Message}
		f.RefreshCSRF(h.kit.CSRF.Token(r))
		if err := h.kit.Update(r.Context(), f); errors.Is(err, flow.ErrCompleted) {
			// The code was right, and another submission used it first.
			h.replace(w, r, f, f.Type, text.VerificationAlreadyDone())
			return
		} else if err != nil {
			h.kit.Fail(w, r, err)
			return
		}
		h.show(w, r, f)
	}
}

// verified marks the address and completes the flow, in q's transaction.
// The completed flow's form is a GET to where the user continues.
func (h *Handler) verified(ctx context.Context, q *store.Q, f *flow.Flow, code *onetime.Code) error {
	if err := flow.Claim(ctx, q, f); err != nil {
		return err
	}
	if err := h.ids.SetAddressStatus(ctx, q, *code.IdentityID, code.Via, code.Value, identity.AddressStatusCompleted); err != nil {
		return err
	}
	f.State = flow.StatePassedChallenge
	f.UI.KeepOnlyCSRF()
	f.UI.Method = http.MethodGet
	f.UI.Action = h.continueURL(f)
	// UIs written for Kratos show this link to go on.
	f.UI.Add(flow.Anchor("code", "continue", f.UI.Action, text.LabelContinue()))
	f.UI.Messages = []*text.Message{text.VerificationSuccessful()}
	return flow.Update(ctx, q, f)
}

// continueURL is where the user goes after verifying: the flow's
// return_to, selfservice.flows.verification.after.default_browser_return_url,
// or the flow's own UI.
func (h *Handler) continueURL(f *flow.Flow) string {
	if f.ReturnTo != "" {
		return f.ReturnTo
	}
	if u := h.kit.AfterReturnTo[flow.Verification]; u != "" {
		return u
	}
	return h.kit.FlowUIURL(f)
}

// followLink is GET /self-service/verification, the link in a message:
// ?flow=&code= (code method) fills the code into the flow and shows it,
// ?flow=&token= (link method) verifies the address.
func (h *Handler) followLink(w http.ResponseWriter, r *http.Request) {
	if !h.opts.Enabled {
		h.kit.Fail(w, r, ErrDisabled)
		return
	}
	f, ok := h.load(w, r)
	if !ok || !h.usable(w, r, f) {
		return
	}
	var out *flow.Outcome
	if m := h.method(); m != nil {
		var err error
		out, err = m.Submit(r.Context(), &flow.Submission{Flow: f, Payload: flow.LinkPayload(r.URL.Query()), Link: true, ClientIP: h.opts.Guard.ClientIP(r)})
		if err != nil {
			h.kit.Fail(w, r, err)
			return
		}
	}
	switch {
	case out != nil && out.Redeem != nil:
		h.redeemLink(w, r, f, out.Redeem)
	case out != nil && out.Shown:
		h.bindAndShow(w, r, f)
	default:
		h.show(w, r, f)
	}
}

// bindAndShow binds a flow whose form a link filled in to this browser
// (the link may open in another one) and shows the UI, where the user
// submits it.
func (h *Handler) bindAndShow(w http.ResponseWriter, r *http.Request, f *flow.Flow) {
	f.RefreshCSRF(h.kit.CSRF.Ensure(w, r))
	if err := h.kit.Update(r.Context(), f); err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	h.kit.RedirectToUI(w, r, f)
}

func (h *Handler) redeemLink(w http.ResponseWriter, r *http.Request, f *flow.Flow, redeem func(context.Context, *store.Q) (*onetime.Code, error)) {
	refusal, err := h.spend(r, f, redeem)
	if errors.Is(err, flow.ErrCompleted) {
		// Another submission verified with this flow meanwhile.
		h.replace(w, r, f, f.Type, text.VerificationAlreadyDone())
		return
	}
	if err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	if refusal != nil {
		problem := refusal.Message
		if errors.Is(refusal, onetime.ErrExpired) && refusal.Code != nil {
			problem = text.VerificationExpired(refusal.Code.ExpiresAt)
		}
		// Links are opened by browsers: a new browser flow says what
		// went wrong.
		nf, err := h.successor(w, r, f, flow.TypeBrowser, problem)
		if err != nil {
			h.kit.Fail(w, r, err)
			return
		}
		h.kit.RedirectToUI(w, r, nf)
		return
	}
	h.kit.Completed(r, f)
	h.show(w, r, f)
}

// StartAfterRegistration creates a verification flow for a new identity and
// sends a message to each of its unverified addresses, as Kratos does
// after sign-up. It runs in the registration's transaction and answers
// nil when there is nothing to verify.
func (h *Handler) StartAfterRegistration(ctx context.Context, q *store.Q, r *http.Request, w http.ResponseWriter, typ string, i *identity.Identity) (*flow.Flow, error) {
	var todo []identity.VerifiableAddress
	for _, a := range i.VerifiableAddresses {
		if !a.Verified {
			todo = append(todo, a)
		}
	}
	f, err := h.startSent(ctx, q, r, w, typ, i, todo)
	if err != nil || f == nil || f.Type != flow.TypeBrowser {
		return f, err
	}
	// Signing up gives the browser a new CSRF token, as a new session
	// does; the flow belongs to that one. The registration answer must
	// not rotate the token again after this.
	f.RefreshCSRF(h.kit.CSRF.Rotate(w))
	return f, flow.Update(ctx, q, f)
}

// StartForLogin is what Kratos's require_verified_address hook does for an
// identity without a verified address: a verification flow of the login
// flow's type, with a code (or link) sent to the identity's first address.
// The login answers with it (continue_with show_verification_ui). It runs
// in the caller's transaction and answers nil when there is no address.
func (h *Handler) StartForLogin(ctx context.Context, q *store.Q, r *http.Request, w http.ResponseWriter, typ string, i *identity.Identity) (*flow.Flow, error) {
	for _, a := range i.VerifiableAddresses {
		if a.Value != "" {
			return h.startSent(ctx, q, r, w, typ, i, []identity.VerifiableAddress{a})
		}
	}
	return nil, nil
}

func (h *Handler) startSent(ctx context.Context, q *store.Q, r *http.Request, w http.ResponseWriter, typ string, i *identity.Identity, addresses []identity.VerifiableAddress) (*flow.Flow, error) {
	sender, ok := h.method().(flow.Sender)
	if len(addresses) == 0 || !ok {
		return nil, nil
	}
	f, err := h.start(w, r, typ)
	if err != nil {
		return nil, err
	}
	f.ReturnTo = ""
	if err := flow.Save(ctx, q, f); err != nil { // before its codes, which refer to it
		return nil, err
	}
	for _, a := range addresses {
		if err := sender.SendTo(ctx, q, f, i, a.Via, a.Value); err != nil {
			return nil, err
		}
	}
	sender.ShowSent(f, addresses[0].Value)
	return f, flow.Update(ctx, q, f)
}

// UIURL is where a browser shows verification flow f; API flows have none
// (Kratos leaves the url out of show_verification_ui for them).
func (h *Handler) UIURL(f *flow.Flow) string {
	if f.Type != flow.TypeBrowser {
		return ""
	}
	return h.kit.FlowUIURL(f)
}
