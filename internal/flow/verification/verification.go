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

	"github.com/lanyard-id/lanyard/internal/courier"
	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/guard"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/onetime"
	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/text"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// Mailer queues the verification messages inside the caller's
// transaction; via is the address's channel ("email" or "sms").
type Mailer interface {
	Queue(ctx context.Context, q *store.Q, m courier.Message) error
	// Rehearse does the work of queuing m without queuing it, for an
	// address no account uses; notice, if any, is queued in its place.
	Rehearse(ctx context.Context, q *store.Q, m courier.Message, notice *courier.Message) error
}

// Options are the verification settings.
type Options struct {
	Enabled bool
	// Method is selfservice.flows.verification.use: "code" or "link".
	Method                  string
	NotifyUnknownRecipients bool
	CodeLifespan            time.Duration
	LinkLifespan            time.Duration
	// MaxAttempts is how many codes may be submitted to one flow
	// (selfservice.methods.code.config.max_submissions, default 5); the
	// next submission replaces the flow, even with the right code.
	MaxAttempts int
	// Guard counts code guesses per address across flows; nil counts none.
	Guard *guard.Guard
}

// Handler serves the verification endpoints.
type Handler struct {
	kit   *flow.Kit
	ids   *identity.Manager
	codes *onetime.Codes
	mail  Mailer
	opts  Options
}

// NewHandler wires the verification flow.
func NewHandler(kit *flow.Kit, ids *identity.Manager, codes *onetime.Codes, mail Mailer, opts Options) *Handler {
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
	return &Handler{kit: kit, ids: ids, codes: codes, mail: mail, opts: opts}
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
	flow.AskForAddress(f, h.opts.Method, "")
	return f, nil
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
	p, err := flow.DecodePayload(w, r, nil)
	var fe flow.FormError
	if err != nil && !errors.As(err, &fe) {
		h.kit.Fail(w, r, err)
		return
	}
	if !h.usable(w, r, f) {
		return
	}
	code := strings.TrimSpace(p.String("code"))
	method := p.String("method")
	if method == "" && code != "" {
		method = onetime.MethodCode
	}
	if method == "" && p.String("email") != "" {
		method = f.Active
	}
	// A code is its own proof, so Kratos takes it from anywhere (a native
	// app's flow finished in the browser the message opened); browsers
	// still show their CSRF token, which the code link binds to them.
	if !h.allowed(w, r, f, p, code != "" && method == onetime.MethodCode) {
		return
	}
	f.UI.ResetMessages()
	switch {
	case fe != nil:
		// Bytes no field may hold; the payload has only its CSRF token.
		h.kit.Reject(w, r, f, fe)
	case method != h.opts.Method:
		h.kit.Reject(w, r, f, flow.FormMessage(text.NoVerificationStrategy()))
	case code != "" && method == onetime.MethodCode:
		h.redeemCode(w, r, f, code)
	default:
		transient, _ := p["transient_payload"].(map[string]any)
		h.sendTo(w, r, f, p.String("email"), transient)
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
	if nf.Type == flow.TypeAPI || wire.WantsJSON(r) {
		http.Redirect(w, r, h.kit.PublicURL+"self-service/verification/flows?id="+url.QueryEscape(nf.ID.String()), http.StatusSeeOther)
		return
	}
	h.kit.RedirectToUI(w, r, nf)
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
	if wire.WantsJSON(r) {
		wire.WriteError(w, r, errFlowReplaced(nf.ID))
		return
	}
	h.kit.RedirectToUI(w, r, nf)
}

func (h *Handler) sendTo(w http.ResponseWriter, r *http.Request, f *flow.Flow, email string, transient map[string]any) {
	email = strings.TrimSpace(email)
	if email == "" {
		h.kit.Reject(w, r, f, flow.FormError{{Field: "email", Message: text.ValidationRequired("email")}})
		return
	}
	if !strings.Contains(email, "@") {
		flow.AskForAddress(f, h.opts.Method, email)
		h.kit.Reject(w, r, f, flow.FormError{{Field: "email", Message: text.InvalidEmail(email)}})
		return
	}
	address := schema.NormalizeAddress("email", email)
	owner, err := h.ids.FindByAddressEvenly(r.Context(), false, "email", address)
	if err != nil && !errors.Is(err, identity.ErrNotFound) {
		h.kit.Fail(w, r, err)
		return
	}
	err = h.kit.Store.Write(r.Context(), func(q *store.Q) error {
		if err := h.codes.InvalidateFlow(r.Context(), q, f.ID); err != nil {
			return err
		}
		if err := h.send(r.Context(), q, f, owner, "email", address, transient); err != nil {
			return err
		}
		h.sent(f, email)
		f.RefreshCSRF(h.kit.CSRF.Token(r))
		return flow.Update(r.Context(), q, f)
	})
	if err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	h.show(w, r, f)
}

// send issues a code for one address and queues its message. An unknown
// address (owner nil) gets the same work, down to the queries, a code
// nobody receives and the rendering of a message that is not queued, so
// that neither the answers nor their timing tell which addresses exist.
func (h *Handler) send(ctx context.Context, q *store.Q, f *flow.Flow, owner *identity.Identity, via, address string, transient map[string]any) error {
	lifespan := h.opts.CodeLifespan
	if h.opts.Method == onetime.MethodLink {
		lifespan = h.opts.LinkLifespan
	}
	code := onetime.Code{Purpose: onetime.Verification, Method: h.opts.Method, FlowID: f.ID, Via: via, Value: address, ExpiresAt: store.Now().Add(lifespan)}
	if owner != nil {
		code.IdentityID = &owner.ID
	}
	plain, err := h.codes.Issue(ctx, q, code)
	if err != nil {
		return err
	}
	msg := courier.Message{
		Template: courier.VerificationCodeValid, Via: via, To: address, Code: plain, URL: h.link(f, "code", plain), Identity: owner,
		RequestURL: f.RequestURL, TransientPayload: transient, ExpiresIn: lifespan,
	}
	if h.opts.Method == onetime.MethodLink {
		msg.Template, msg.Code, msg.URL = courier.VerificationValid, "", h.link(f, "token", plain)
	}
	if owner != nil {
		if err := h.mail.Queue(ctx, q, msg); err != nil {
			return err
		}
		return h.ids.SetAddressStatus(ctx, q, owner.ID, via, address, identity.AddressStatusSent)
	}
	var notice *courier.Message
	if h.opts.NotifyUnknownRecipients {
		notice = &courier.Message{Template: courier.VerificationCodeInvalid, Via: via, To: address, RequestURL: f.RequestURL, TransientPayload: transient}
		if h.opts.Method == onetime.MethodLink {
			notice.Template = courier.VerificationInvalid
		}
	}
	if err := h.mail.Rehearse(ctx, q, msg, notice); err != nil {
		return err
	}
	// The statements an owner's address gets; no identity has the nil id.
	return h.ids.SetAddressStatus(ctx, q, uuid.Nil, via, address, identity.AddressStatusSent)
}

// sent moves the flow on after a message went out.
func (h *Handler) sent(f *flow.Flow, email string) {
	f.State = flow.StateSentEmail
	f.UI.Messages = nil
	if h.opts.Method == onetime.MethodCode {
		flow.AskForCode(f, text.LabelVerificationCode(), email)
		f.UI.Messages = append(f.UI.Messages, text.VerificationCodeSent())
	} else {
		flow.AskForAddress(f, h.opts.Method, email)
		f.UI.Messages = append(f.UI.Messages, text.VerificationLinkSent())
	}
}

func (h *Handler) link(f *flow.Flow, param, secret string) string {
	q := url.Values{}
	q.Set("flow", f.ID.String())
	q.Set(param, secret)
	return h.kit.LinkURL("self-service/verification", q)
}

// show answers with the flow: JSON for apps and AJAX (200, also when the
// flow carries an error message), the UI for browsers.
func (h *Handler) show(w http.ResponseWriter, r *http.Request, f *flow.Flow) {
	if f.Type == flow.TypeAPI || wire.WantsJSON(r) {
		wire.WriteJSON(w, http.StatusOK, f.View())
		return
	}
	h.kit.RedirectToUI(w, r, f)
}

func (h *Handler) redeemCode(w http.ResponseWriter, r *http.Request, f *flow.Flow, plain string) {
	var redeemErr error
	var refused *guard.Refused
	ip := h.opts.Guard.ClientIP(r)
	err := h.kit.Store.Write(r.Context(), func(q *store.Q) error {
		code, err := h.codes.RedeemCode(r.Context(), q, onetime.Verification, f.ID, plain, h.opts.MaxAttempts, h.opts.Guard.CodeGate(r.Context(), q, ip))
		switch {
		case errors.Is(err, onetime.ErrInvalid) || errors.Is(err, onetime.ErrTooManyAttempts) || errors.As(err, &refused):
			redeemErr = err // committed: the submission counts
			return nil
		case err != nil:
			return err
		case code.IdentityID == nil:
			// The code went to an address no account uses.
			redeemErr = onetime.ErrInvalid
			return nil
		}
		if err := h.opts.Guard.Succeeded(r.Context(), q, guard.ScopeCode, code.Value, ip); err != nil {
			return err
		}
		return h.verified(r.Context(), q, f, code)
	})
	if errors.Is(err, flow.ErrCompleted) {
		// Another submission verified with this flow meanwhile.
		h.replace(w, r, f, f.Type, text.VerificationAlreadyDone())
		return
	}
	if err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	switch {
	case errors.Is(redeemErr, onetime.ErrTooManyAttempts):
		h.replace(w, r, f, f.Type, tooManySubmissions())
	case redeemErr != nil:
		// Wrong, used and expired codes read alike, as in Kratos; the
		// form stays as it was.
		f.UI.Messages = []*text.Message{text.VerificationCodeInvalid()}
		if refused != nil {
			f.UI.Messages = []*text.Message{refused.Verdict.Message()}
		}
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
	default:
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
	query := r.URL.Query()
	switch {
	case query.Get("code") != "" && h.opts.Method == onetime.MethodCode:
		h.fillIn(w, r, f, strings.TrimSpace(query.Get("code")))
	case query.Get("token") != "" && h.opts.Method == onetime.MethodLink:
		h.redeemToken(w, r, f, query.Get("token"))
	default:
		h.show(w, r, f)
	}
}

// fillIn puts a code from a link into the flow's form, binds the flow to
// this browser (the link may open in another one) and shows the UI, where
// the user submits it.
func (h *Handler) fillIn(w http.ResponseWriter, r *http.Request, f *flow.Flow, code string) {
	if f.UI.Find("code") != nil {
		f.UI.SetValue("code", code)
	}
	f.RefreshCSRF(h.kit.CSRF.Ensure(w, r))
	if err := h.kit.Update(r.Context(), f); err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	h.kit.RedirectToUI(w, r, f)
}

// errOtherFlow rolls back the redemption of a token issued for another
// flow, so that it stays usable there.
var errOtherFlow = errors.New("verification: the token belongs to another flow")

func (h *Handler) redeemToken(w http.ResponseWriter, r *http.Request, f *flow.Flow, token string) {
	var problem *text.Message
	err := h.kit.Store.Write(r.Context(), func(q *store.Q) error {
		code, err := h.codes.RedeemToken(r.Context(), q, onetime.Verification, token)
		switch {
		case err == nil && (code.FlowID != f.ID || code.IdentityID == nil):
			return errOtherFlow
		case errors.Is(err, onetime.ErrExpired) && code != nil && code.FlowID == f.ID:
			problem = text.VerificationExpired(code.ExpiresAt)
			return nil
		case errors.Is(err, onetime.ErrInvalid):
			problem = text.VerificationLinkInvalid()
			return nil
		case err != nil:
			return err
		}
		return h.verified(r.Context(), q, f, code)
	})
	if errors.Is(err, errOtherFlow) {
		err, problem = nil, text.VerificationLinkInvalid()
	}
	if errors.Is(err, flow.ErrCompleted) {
		// Another submission verified with this flow meanwhile.
		h.replace(w, r, f, f.Type, text.VerificationAlreadyDone())
		return
	}
	if err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	if problem != nil {
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
	if len(addresses) == 0 {
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
		if err := h.send(ctx, q, f, i, a.Via, a.Value, nil); err != nil {
			return nil, err
		}
	}
	h.sent(f, addresses[0].Value)
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
