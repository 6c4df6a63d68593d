// Package recovery is the account recovery flow: a code (or a link) sent to
// a recovery address signs its owner in with a fresh session and hands over
// to a settings flow to set a new password. Known and unknown addresses get
// the same answer, so the flow does not tell which accounts exist.
package recovery

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
	"github.com/lanyard-id/lanyard/internal/session"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/text"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// Mailer queues the recovery messages inside the caller's transaction.
type Mailer interface {
	Queue(ctx context.Context, q *store.Q, m courier.Message) error
	// Rehearse does the work of queuing m without queuing it, for an
	// address no account uses; notice, if any, is queued in its place.
	Rehearse(ctx context.Context, q *store.Q, m courier.Message, notice *courier.Message) error
}

// SettingsStarter creates the settings flow a recovered user lands in.
type SettingsStarter interface {
	StartFor(ctx context.Context, w http.ResponseWriter, r *http.Request, typ string, i *identity.Identity) (*flow.Flow, error)
	UIURL(f *flow.Flow) string
}

// Options are the recovery settings.
type Options struct {
	Enabled bool
	// Method is selfservice.flows.recovery.use: "code" or "link".
	Method                  string
	NotifyUnknownRecipients bool
	CodeLifespan            time.Duration
	LinkLifespan            time.Duration
	// MaxAttempts is how many codes may be submitted to one flow (5, as
	// Kratos allows); the next submission retires the flow.
	MaxAttempts int
	// ContinueWith is feature_flags.use_continue_with_transitions.
	ContinueWith     bool
	PrivilegedMaxAge time.Duration
	// Guard counts code guesses per address across flows; nil counts none.
	Guard *guard.Guard
}

// Handler serves the recovery endpoints.
type Handler struct {
	kit      *flow.Kit
	sessions *session.Manager
	ids      *identity.Manager
	codes    *onetime.Codes
	mail     Mailer
	settings SettingsStarter
	opts     Options
}

// NewHandler wires the recovery flow.
func NewHandler(kit *flow.Kit, sessions *session.Manager, ids *identity.Manager, codes *onetime.Codes, mail Mailer, settings SettingsStarter, opts Options) *Handler {
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
	if opts.PrivilegedMaxAge <= 0 {
		opts.PrivilegedMaxAge = time.Hour
	}
	return &Handler{kit: kit, sessions: sessions, ids: ids, codes: codes, mail: mail, settings: settings, opts: opts}
}

// Register adds the routes.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /self-service/recovery/browser", func(w http.ResponseWriter, r *http.Request) { h.create(w, r, flow.TypeBrowser) })
	mux.HandleFunc("GET /self-service/recovery/api", func(w http.ResponseWriter, r *http.Request) { h.create(w, r, flow.TypeAPI) })
	mux.HandleFunc("GET /self-service/recovery/flows", h.fetch)
	mux.HandleFunc("POST /self-service/recovery", h.submit)
	// Recovery links arrive as GET.
	mux.HandleFunc("GET /self-service/recovery", h.followLink)
}

// ErrDisabled answers the flow's endpoints when recovery is off. As with
// Kratos it is a plain 400 without an error id. Submissions to existing
// flows and the admin endpoints keep working, so that operators can hand
// out recovery codes while self-service recovery is off.
var ErrDisabled = wire.BadRequest.WithReason("Account recovery is not allowed because it is disabled.")

// Reasons a code or link cannot be used; they become a new flow's message.
var (
	errSubmittedTooOften = wire.BadRequest.WithReason("The code was submitted too often. Please request a new one.")
	errCodeUsed          = wire.BadRequest.WithReason("The code was used already. Please request a new one.")
)

// adminKey marks the flows the admin API created: no browser owns them
// until one opens them.
const adminKey = "admin_created"

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
		h.kit.AlreadySignedIn(w, r, typ, "")
		return
	}
	f, err := h.newFlow(w, r, typ)
	h.kit.RespondCreated(w, r, f, err)
}

// newFlow starts and stores a flow asking for the address.
func (h *Handler) newFlow(w http.ResponseWriter, r *http.Request, typ string) (*flow.Flow, error) {
	f, err := h.kit.Start(w, r, flow.Recovery, typ)
	if err != nil {
		return nil, err
	}
	f.Active = h.opts.Method
	flow.AskForAddress(f, f.Active, "")
	return f, h.kit.Save(r.Context(), f)
}

// methodOf is the method a flow was made for (admin links make link flows
// whatever the configured method).
func (h *Handler) methodOf(f *flow.Flow) string {
	if f.Active == onetime.MethodCode || f.Active == onetime.MethodLink {
		return f.Active
	}
	return h.opts.Method
}

// fetch answers GET /self-service/recovery/flows?id=.
func (h *Handler) fetch(w http.ResponseWriter, r *http.Request) {
	if !h.opts.Enabled {
		h.kit.Fail(w, r, ErrDisabled)
		return
	}
	if id, err := uuid.Parse(r.URL.Query().Get("id")); err == nil {
		if f, err := flow.Get(r.Context(), h.kit.Store.Read(), flow.Recovery, id); err == nil {
			claimed, err := h.claim(w, r, f)
			if err != nil {
				h.kit.Fail(w, r, err)
				return
			}
			if claimed { // bound to this browser just now
				wire.WriteJSON(w, http.StatusOK, f.View())
				return
			}
		}
	}
	h.kit.Fetch(w, r, flow.Recovery)
}

// claim binds a browser flow the admin API created to the first browser
// that opens it: such a flow has no CSRF binding yet, and the recovery link
// an operator hands out leads the user's browser to it.
func (h *Handler) claim(w http.ResponseWriter, r *http.Request, f *flow.Flow) (bool, error) {
	if f.Type != flow.TypeBrowser || f.CSRFHash != "" || f.Internal[adminKey] == nil || f.Expired() {
		return false, nil
	}
	f.RefreshCSRF(h.kit.CSRF.Ensure(w, r))
	return true, h.kit.Update(r.Context(), f)
}

func (h *Handler) submit(w http.ResponseWriter, r *http.Request) {
	sub, err := h.kit.Receive(w, r, flow.Recovery,
		func() (flow.Payload, error) { return flow.DecodePayload(w, r, nil) },
		func(old *flow.Flow) (*flow.Flow, error) { return h.newFlow(w, r, old.Type) })
	if err != nil {
		return
	}
	f, p := sub.Flow, sub.Payload
	f.UI.ResetMessages()
	method := h.methodOf(f)
	email := strings.TrimSpace(p.String("email"))

	// Once a code went out, a submission without an address is a code,
	// whoever sends it (as with Kratos, a signed-in browser too).
	if method == onetime.MethodCode && f.State == flow.StateSentEmail && email == "" {
		h.redeem(w, r, f, p.String("code"))
		return
	}
	current, err := h.sessions.Current(r.Context(), r)
	if err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	if current != nil {
		h.kit.AlreadySignedIn(w, r, f.Type, "")
		return
	}
	submitted := p.String("method")
	if submitted == "" && email != "" {
		submitted = method // the resend button sends only the address
	}
	if submitted != method {
		h.kit.Reject(w, r, f, flow.FormMessage(text.NoRecoveryStrategy()))
		return
	}
	transient, _ := p["transient_payload"].(map[string]any)
	h.send(w, r, f, method, email, transient)
}

// send issues a code (or link) for the address and queues the message. An
// unknown address gets the same work, down to the queries, a code nobody
// receives and the rendering of a message that is not queued, so that
// neither the answers nor their timing reveal which addresses exist.
func (h *Handler) send(w http.ResponseWriter, r *http.Request, f *flow.Flow, method, email string, transient map[string]any) {
	if email == "" || !strings.Contains(email, "@") {
		msg := text.ValidationRequired("email")
		if email != "" {
			msg = text.InvalidEmail(email)
		}
		f.State = flow.StateChooseMethod
		flow.AskForAddress(f, method, email)
		h.kit.Reject(w, r, f, flow.FormError{{Field: "email", Message: msg}})
		return
	}
	address := schema.NormalizeAddress("email", email)
	owner, err := h.ids.FindByAddressEvenly(r.Context(), true, "email", address)
	if err != nil && !errors.Is(err, identity.ErrNotFound) {
		h.kit.Fail(w, r, err)
		return
	}
	lifespan := h.opts.CodeLifespan
	if method == onetime.MethodLink {
		lifespan = h.opts.LinkLifespan
	}
	err = h.kit.Store.Write(r.Context(), func(q *store.Q) error {
		if err := h.codes.InvalidateFlow(r.Context(), q, f.ID); err != nil {
			return err
		}
		code := onetime.Code{Purpose: onetime.Recovery, Method: method, FlowID: f.ID, Via: "email", Value: address, ExpiresAt: store.Now().Add(lifespan)}
		if owner != nil {
			code.IdentityID = &owner.ID
		}
		plain, err := h.codes.Issue(r.Context(), q, code)
		if err != nil {
			return err
		}
		msg := courier.Message{
			Template: courier.RecoveryCodeValid, Via: courier.ViaEmail, To: address, Code: plain, Identity: owner,
			RequestURL: f.RequestURL, TransientPayload: transient, ExpiresIn: lifespan,
		}
		if method == onetime.MethodLink {
			msg.Template, msg.Code, msg.URL = courier.RecoveryValid, "", h.linkURL(f, plain)
		}
		if err := h.queue(r.Context(), q, msg, owner != nil); err != nil {
			return err
		}
		f.State, f.Active = flow.StateSentEmail, method
		if method == onetime.MethodCode {
			flow.AskForCode(f, text.LabelRecoveryCode(), email)
			f.UI.Messages = []*text.Message{text.RecoveryCodeSent()}
		} else {
			flow.AskForAddress(f, method, email)
			f.UI.Messages = []*text.Message{text.RecoveryLinkSent()}
		}
		f.RefreshCSRF(h.kit.CSRF.Token(r))
		return flow.Update(r.Context(), q, f)
	})
	if err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	h.show(w, r, f, http.StatusOK)
}

// queue queues msg to the address's owner. For an address no account
// uses (known false) it rehearses msg instead and queues, when unknown
// recipients are notified, the notice in its place.
func (h *Handler) queue(ctx context.Context, q *store.Q, msg courier.Message, known bool) error {
	if known {
		return h.mail.Queue(ctx, q, msg)
	}
	var notice *courier.Message
	if h.opts.NotifyUnknownRecipients {
		notice = &courier.Message{Template: courier.RecoveryCodeInvalid, Via: msg.Via, To: msg.To, RequestURL: msg.RequestURL, TransientPayload: msg.TransientPayload}
		if msg.Template == courier.RecoveryValid {
			notice.Template = courier.RecoveryInvalid
		}
	}
	return h.mail.Rehearse(ctx, q, msg, notice)
}

func (h *Handler) linkURL(f *flow.Flow, token string) string {
	q := url.Values{}
	q.Set("flow", f.ID.String())
	q.Set("token", token)
	return h.kit.LinkURL("self-service/recovery", q)
}

// show answers the flow: JSON for apps and AJAX, the UI for browsers.
func (h *Handler) show(w http.ResponseWriter, r *http.Request, f *flow.Flow, status int) {
	if f.Type == flow.TypeAPI || wire.WantsJSON(r) {
		wire.WriteJSON(w, status, f.View())
		return
	}
	h.kit.RedirectToUI(w, r, f)
}

// redeem checks a typed code. A wrong code shows the same flow again with
// 200, as Kratos does (the form is fine; only the code is not); a code that
// cannot be used any more, or one submission too many, retires the flow
// and offers a new one.
func (h *Handler) redeem(w http.ResponseWriter, r *http.Request, f *flow.Flow, plain string) {
	var (
		code      *onetime.Code
		redeemErr error
		done      *recoveredOwner
	)
	ip := h.opts.Guard.ClientIP(r)
	var refused *guard.Refused
	err := h.kit.Store.Write(r.Context(), func(q *store.Q) error {
		var err error
		code, err = h.codes.RedeemCode(r.Context(), q, onetime.Recovery, f.ID, strings.TrimSpace(plain), h.opts.MaxAttempts, h.opts.Guard.CodeGate(r.Context(), q, ip))
		if errors.Is(err, onetime.ErrInvalid) || errors.Is(err, onetime.ErrTooManyAttempts) || errors.As(err, &refused) {
			redeemErr = err // committed: the attempt counts
			return nil
		}
		if err != nil || code.IdentityID == nil {
			return err
		}
		if err := h.opts.Guard.Succeeded(r.Context(), q, guard.ScopeCode, code.Value, ip); err != nil {
			return err
		}
		done, err = h.complete(r, q, f, code)
		return err
	})
	if errors.Is(err, flow.ErrCompleted) {
		h.kit.AnswerCompleted(w, r, f)
		return
	}
	if err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	switch {
	case errors.Is(redeemErr, onetime.ErrTooManyAttempts):
		h.retry(w, r, f, f.Type, text.ValidationGeneric(errSubmittedTooOften.Reason), errSubmittedTooOften)
	case errors.Is(redeemErr, onetime.ErrExpired):
		h.retryExpired(w, r, f, f.Type, code.ExpiresAt)
	case errors.Is(redeemErr, onetime.ErrUsed):
		h.retry(w, r, f, f.Type, text.ValidationGeneric(errCodeUsed.Reason), errCodeUsed)
	case redeemErr != nil || code.IdentityID == nil:
		// A wrong code, the code of an address no account owns, or a
		// guess past the guard's limits.
		f.UI.Messages = []*text.Message{text.RecoveryCodeInvalid()}
		if refused != nil {
			f.UI.Messages = []*text.Message{refused.Verdict.Message()}
		}
		if f.Type == flow.TypeBrowser {
			f.RefreshCSRF(h.kit.CSRF.Token(r))
		}
		if err := h.kit.Update(r.Context(), f); errors.Is(err, flow.ErrCompleted) {
			h.kit.AnswerCompleted(w, r, f)
			return
		} else if err != nil {
			h.kit.Fail(w, r, err)
			return
		}
		h.show(w, r, f, http.StatusOK)
	default:
		h.recovered(w, r, f, f.Type, done)
	}
}

// retry answers with a new flow that carries msg, as Kratos does when a
// flow cannot go on: browsers are sent to the UI with it; apps and AJAX
// callers are redirected to fetch it, or (with continue_with transitions)
// get cause with a continue_with pointing at it.
func (h *Handler) retry(w http.ResponseWriter, r *http.Request, old *flow.Flow, typ string, msg *text.Message, cause *wire.Error) {
	nf, err := h.kit.Start(w, r, flow.Recovery, typ)
	if err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	nf.Active, nf.ReturnTo = h.opts.Method, old.ReturnTo
	flow.AskForAddress(nf, nf.Active, "")
	nf.UI.Messages = []*text.Message{msg}
	if err := h.kit.Save(r.Context(), nf); err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	switch {
	case typ == flow.TypeBrowser && !wire.WantsJSON(r):
		h.kit.RedirectToUI(w, r, nf)
	case h.opts.ContinueWith:
		wire.WriteError(w, r, cause.WithDetail("continue_with", []any{map[string]any{
			"action": "show_recovery_ui",
			"flow":   map[string]any{"id": nf.ID.String(), "url": h.kit.FlowUIURL(nf)},
		}}))
	default:
		http.Redirect(w, r, h.kit.PublicURL+"self-service/recovery/flows?"+url.Values{"id": {nf.ID.String()}}.Encode(), http.StatusSeeOther)
	}
}

// retryExpired offers a new flow because a code, link or flow expired.
func (h *Handler) retryExpired(w http.ResponseWriter, r *http.Request, old *flow.Flow, typ string, expiredAt time.Time) {
	ago := time.Since(expiredAt).Round(time.Second)
	cause := wire.Gone.WithID("self_service_flow_expired").
		WithReason("The recovery code or link expired %s ago; use the new flow.", ago).
		WithDetail("expired_at", expiredAt)
	h.retry(w, r, old, typ, text.RecoveryExpired(expiredAt), cause)
}

// errWrongFlow rolls back the redemption of a link made for another flow.
var errWrongFlow = errors.New("recovery: the link belongs to another flow")

// followLink redeems a recovery link (GET ?flow=&token=). A link is opened
// in a browser, so it always answers as to a browser: the session cookie
// and a redirect to the settings UI, or a new flow explaining what went
// wrong.
func (h *Handler) followLink(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	if token != "" {
		// Answer as to a browser even if the client asks for JSON.
		r = r.Clone(r.Context())
		r.Header.Del("Accept")
	}
	id, err := uuid.Parse(r.URL.Query().Get("flow"))
	if err != nil {
		h.kit.Fail(w, r, wire.BadRequest.WithReason("The recovery link is incomplete."))
		return
	}
	f, err := flow.Get(r.Context(), h.kit.Store.Read(), flow.Recovery, id)
	if err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	if token == "" {
		// A flow opened by URL, as one an admin created: show its form.
		if _, err := h.claim(w, r, f); err != nil {
			h.kit.Fail(w, r, err)
			return
		}
		h.show(w, r, f, http.StatusOK)
		return
	}
	if f.Expired() {
		h.retryExpired(w, r, f, flow.TypeBrowser, f.ExpiresAt)
		return
	}
	var (
		code *onetime.Code
		done *recoveredOwner
	)
	err = h.kit.Store.Write(r.Context(), func(q *store.Q) error {
		var err error
		code, err = h.codes.RedeemToken(r.Context(), q, onetime.Recovery, token)
		if err == nil && (code.FlowID != f.ID || code.IdentityID == nil) {
			return errWrongFlow
		}
		if err != nil {
			return err
		}
		done, err = h.complete(r, q, f, code)
		return err
	})
	switch {
	case errors.Is(err, flow.ErrCompleted):
		h.kit.AnswerCompleted(w, r, f)
	case errors.Is(err, onetime.ErrExpired) && code.FlowID == f.ID:
		h.retryExpired(w, r, f, flow.TypeBrowser, code.ExpiresAt)
	case errors.Is(err, onetime.ErrInvalid) || errors.Is(err, errWrongFlow):
		h.retry(w, r, f, flow.TypeBrowser, text.RecoveryLinkInvalid(), wire.BadRequest.WithReason("The recovery link is invalid or was used already."))
	case err != nil:
		h.kit.Fail(w, r, err)
	default:
		h.recovered(w, r, f, flow.TypeBrowser, done)
	}
}

// recoveredOwner is who a redeemed code signed in.
type recoveredOwner struct {
	identity *identity.Identity
	session  *session.Session
}

// complete finishes the recovery inside the transaction that spent the
// code: the flow completes, the owner gets a session, and the address is
// verified (receiving the code proved it), or none of it happens.
func (h *Handler) complete(r *http.Request, q *store.Q, f *flow.Flow, code *onetime.Code) (*recoveredOwner, error) {
	if err := flow.Claim(r.Context(), q, f); err != nil {
		return nil, err
	}
	i, err := h.ids.Get(r.Context(), *code.IdentityID)
	if err != nil {
		return nil, err
	}
	s, err := h.sessions.Issue(r.Context(), q, i, code.Method+"_recovery", session.AAL1, r)
	if err != nil {
		return nil, err
	}
	if code.Via != "" { // admin codes prove no address
		if err := h.ids.SetAddressStatus(r.Context(), q, i.ID, code.Via, code.Value, identity.AddressStatusCompleted); err != nil {
			return nil, err
		}
	}
	f.State = flow.StatePassedChallenge
	f.UI.Messages = nil
	return &recoveredOwner{identity: i, session: s}, flow.Update(r.Context(), q, f)
}

// recovered answers a completed recovery: it hands the signed-in owner
// over to a settings flow. typ is how to answer: the flow's type for
// codes, browser for links.
func (h *Handler) recovered(w http.ResponseWriter, r *http.Request, f *flow.Flow, typ string, done *recoveredOwner) {
	i, s := done.identity, done.session
	settingsFlow, err := h.settings.StartFor(r.Context(), w, r, typ, i)
	if err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	if typ == flow.TypeBrowser {
		// A new identity signed in: the browser gets a new CSRF token,
		// and the settings flow is bound to it.
		h.sessions.SetCookie(w, s)
		settingsFlow.RefreshCSRF(h.kit.CSRF.Rotate(w))
	}
	settingsFlow.ReturnTo = f.ReturnTo
	if settingsFlow.ReturnTo == "" {
		settingsFlow.ReturnTo = h.kit.AfterReturnTo[flow.Recovery]
	}
	until := s.AuthenticatedAt.Add(h.opts.PrivilegedMaxAge)
	settingsFlow.UI.Messages = []*text.Message{text.RecoverySuccessful(until)}
	if err := h.kit.Update(r.Context(), settingsFlow); err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	target := h.settings.UIURL(settingsFlow)
	if typ == flow.TypeBrowser && !wire.WantsJSON(r) {
		http.Redirect(w, r, target, http.StatusSeeOther)
		return
	}
	if !h.opts.ContinueWith {
		// Kratos's answer without continue_with transitions, for apps too
		// (which then get no session token).
		wire.WriteError(w, r, flow.ErrLocationChange(target))
		return
	}
	if typ == flow.TypeAPI {
		f.ContinueWith = append(f.ContinueWith, flow.SetSessionToken(s.Token))
	}
	f.ContinueWith = append(f.ContinueWith, map[string]any{
		"action": "show_settings_ui",
		"flow":   map[string]any{"id": settingsFlow.ID.String(), "url": target},
	})
	wire.WriteJSON(w, http.StatusOK, f.View())
}
