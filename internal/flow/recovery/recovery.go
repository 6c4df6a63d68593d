// Package recovery is the account recovery flow: a code (or a link) sent to
// a recovery address signs its owner in with a fresh session and hands over
// to a settings flow to set a new password. The methods (code, link) ask
// for the address, send and redeem; the flow completes what they redeem.
package recovery

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/guard"
	"github.com/lanyard-id/lanyard/internal/hook"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/onetime"
	"github.com/lanyard-id/lanyard/internal/session"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/text"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// SettingsStarter creates the settings flow a recovered user lands in.
type SettingsStarter interface {
	StartFor(ctx context.Context, w http.ResponseWriter, r *http.Request, typ string, i *identity.Identity) (*flow.Flow, error)
	UIURL(f *flow.Flow) string
}

// Options are the recovery settings. NotifyUnknownRecipients, the
// lifespans and MaxAttempts configure the code and link methods the flow
// is given, made from the same settings; the flow itself reads the
// lifespans only for admin codes and links.
type Options struct {
	Enabled bool
	// Method is selfservice.flows.recovery.use: the method new flows use.
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
	// Guard tells the client's address, by which the methods count code
	// guesses; nil counts none.
	Guard *guard.Guard
	// Hooks are selfservice.flows.recovery.after.hooks.
	Hooks *hook.Runner
	// Before are selfservice.flows.recovery.before.hooks, run as a flow is created.
	Before *hook.Before
}

// Handler serves the recovery endpoints.
type Handler struct {
	kit      *flow.Kit
	sessions *session.Manager
	ids      *identity.Manager
	codes    *onetime.Codes
	methods  flow.Methods
	settings SettingsStarter
	opts     Options
}

// NewHandler wires the recovery flow. methods are the ways to recover
// (code, link); a flow uses the one it was made for (the admin API makes
// flows of either), new flows opts.Method. codes issues admin codes.
func NewHandler(kit *flow.Kit, sessions *session.Manager, ids *identity.Manager, codes *onetime.Codes, settings SettingsStarter, methods flow.Methods, opts Options) *Handler {
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
	return &Handler{kit: kit, sessions: sessions, ids: ids, codes: codes, methods: methods.For(flow.Recovery), settings: settings, opts: opts}
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
	if err := h.askForAddress(r.Context(), f); err != nil {
		return nil, err
	}
	if err := h.opts.Before.Run(r.Context(), r, f, nil); err != nil {
		return nil, err
	}
	return f, h.kit.Save(r.Context(), f)
}

// askForAddress makes f a flow of the configured method, showing its
// first form.
func (h *Handler) askForAddress(ctx context.Context, f *flow.Flow) error {
	f.Active = h.opts.Method
	if m := h.methods.Named(f.Active); m != nil {
		return m.AddNodes(ctx, f, flow.NodeContext{})
	}
	return nil
}

// methodOf is the method a flow was made for (the admin API makes flows
// of either method whatever the configured one), or nil.
func (h *Handler) methodOf(f *flow.Flow) flow.Method {
	if m := h.methods.Named(f.Active); m != nil {
		return m
	}
	return h.methods.Named(h.opts.Method)
}

// chosen reports whether p is a submission for m: it names m, or names
// no method and m takes it anyway (the resend button sends an address).
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
	sub.ClientIP = h.opts.Guard.ClientIP(r)
	m := h.methodOf(f)
	var out *flow.Outcome
	var submitErr error
	if chosen(m, p) {
		out, submitErr = m.Submit(r.Context(), sub)
	}
	// A code is its own proof: whoever sends it (as with Kratos, a
	// signed-in browser too) redeems it.
	if submitErr == nil && out != nil && out.Redeem != nil {
		h.redeemCode(w, r, f, out.Redeem)
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
	var fe flow.FormError
	switch {
	case !chosen(m, p):
		h.kit.Reject(w, r, f, flow.FormMessage(text.NoRecoveryStrategy()))
	case errors.As(submitErr, &fe):
		h.kit.Reject(w, r, f, fe)
	case submitErr != nil:
		h.kit.Fail(w, r, submitErr)
	case out == nil || out.Send == nil:
		h.kit.Reject(w, r, f, flow.FormMessage(text.NoRecoveryStrategy()))
	default:
		h.send(w, r, f, out.Send)
	}
}

// send runs a method's Send (the code or link and its message) in the
// transaction that stores the flow as the method left it.
func (h *Handler) send(w http.ResponseWriter, r *http.Request, f *flow.Flow, send func(context.Context, *store.Q) error) {
	if h.kit.Keep(w, r, f, send) {
		h.show(w, r, f)
	}
}

// show answers the flow: JSON for apps and AJAX, the UI for browsers.
func (h *Handler) show(w http.ResponseWriter, r *http.Request, f *flow.Flow) {
	h.kit.Answer(w, r, f, flow.Answer{JSON: f.View()})
}

// spend runs a method's Redeem and, when it answers a code, completes the
// recovery in the same transaction. A refusal is committed (the attempt
// counts) unless it asks to be undone.
func (h *Handler) spend(r *http.Request, f *flow.Flow, redeem func(context.Context, *store.Q) (*onetime.Code, error)) (*recoveredOwner, *flow.Refusal, error) {
	var (
		done    *recoveredOwner
		refusal *flow.Refusal
	)
	err := h.kit.Store.Write(r.Context(), func(q *store.Q) error {
		code, stop, err := flow.Spend(r.Context(), q, redeem, &refusal)
		if stop {
			return err
		}
		done, err = h.complete(r, q, f, code)
		return err
	})
	if refusal != nil && errors.Is(err, refusal) {
		err = nil
	}
	if err == nil && done != nil && len(done.event.After) > 0 {
		// Web hooks, after the commit, see the owner as recovery left it.
		if done.event.Identity, err = h.ids.Get(r.Context(), done.identity.ID); err == nil {
			err = done.event.RunAfter(r.Context())
		}
	}
	return done, refusal, err
}

// redeemCode answers a typed code. A wrong code shows the same flow again
// with 200, as Kratos does (the form is fine; only the code is not); a code
// that cannot be used any more, or one submission too many, retires the
// flow and offers a new one.
func (h *Handler) redeemCode(w http.ResponseWriter, r *http.Request, f *flow.Flow, redeem func(context.Context, *store.Q) (*onetime.Code, error)) {
	done, refusal, err := h.spend(r, f, redeem)
	switch {
	case errors.Is(err, flow.ErrCompleted):
		h.kit.AnswerCompleted(w, r, f)
	case err != nil:
		h.kit.Fail(w, r, err)
	case refusal == nil:
		h.recovered(w, r, f, f.Type, done)
	case errors.Is(refusal, onetime.ErrTooManyAttempts):
		h.retry(w, r, f, f.Type, text.ValidationGeneric(errSubmittedTooOften.Reason), errSubmittedTooOften)
	case errors.Is(refusal, onetime.ErrExpired) && refusal.Code != nil:
		h.retryExpired(w, r, f, f.Type, refusal.Code.ExpiresAt)
	case errors.Is(refusal, onetime.ErrUsed):
		h.retry(w, r, f, f.Type, text.ValidationGeneric(errCodeUsed.Reason), errCodeUsed)
	default:
		f.UI.Messages = []*text.Message{refusal.Message}
		if h.kit.Keep(w, r, f, nil) {
			h.show(w, r, f)
		}
	}
}

// retry answers with a new flow that carries msg, as Kratos does when a
// flow cannot go on: browsers are sent to the UI with it; apps and AJAX
// callers are redirected to fetch it, or (with continue_with transitions)
// get cause with a continue_with pointing at it.
func (h *Handler) retry(w http.ResponseWriter, r *http.Request, old *flow.Flow, typ string, msg *text.Message, cause *wire.Error) {
	nf, err := h.kit.Start(w, r, flow.Recovery, typ)
	if err == nil {
		nf.ReturnTo = old.ReturnTo
		err = h.askForAddress(r.Context(), nf)
	}
	if err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	nf.UI.Messages = []*text.Message{msg}
	if err := h.kit.Save(r.Context(), nf); err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	a := flow.Answer{As: typ, SeeOther: h.kit.PublicURL + "self-service/recovery/flows?" + url.Values{"id": {nf.ID.String()}}.Encode()}
	if h.opts.ContinueWith {
		a.Error = cause.WithDetail("continue_with", []any{map[string]any{
			"action": "show_recovery_ui",
			"flow":   map[string]any{"id": nf.ID.String(), "url": h.kit.FlowUIURL(nf)},
		}})
	}
	h.kit.Answer(w, r, nf, a)
}

// retryExpired offers a new flow because a code, link or flow expired.
func (h *Handler) retryExpired(w http.ResponseWriter, r *http.Request, old *flow.Flow, typ string, expiredAt time.Time) {
	ago := time.Since(expiredAt).Round(time.Second)
	cause := wire.Gone.WithID("self_service_flow_expired").
		WithReason("The recovery code or link expired %s ago; use the new flow.", ago).
		WithDetail("expired_at", expiredAt)
	h.retry(w, r, old, typ, text.RecoveryExpired(expiredAt), cause)
}

// errLinkInvalid is the cause of the new flow offered for a link that
// cannot be used.
var errLinkInvalid = wire.BadRequest.WithReason("The recovery link is invalid or was used already.")

// followLink answers a link from a message (GET ?flow=&token=). A link is
// opened in a browser, so it always answers as to a browser: the session
// cookie and a redirect to the settings UI, or a new flow explaining what
// went wrong. Without more than the flow id it shows the flow.
func (h *Handler) followLink(w http.ResponseWriter, r *http.Request) {
	query := r.URL.Query()
	opened := false // the link carries more than the flow id
	for k := range query {
		opened = opened || (k != "flow" && query.Get(k) != "")
	}
	if opened {
		// Answer as to a browser even if the client asks for JSON.
		r = r.Clone(r.Context())
		r.Header.Del("Accept")
	}
	id, err := uuid.Parse(query.Get("flow"))
	if err != nil {
		h.kit.Fail(w, r, wire.BadRequest.WithReason("The recovery link is incomplete."))
		return
	}
	f, err := flow.Get(r.Context(), h.kit.Store.Read(), flow.Recovery, id)
	if err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	if !opened {
		// A flow opened by URL, as one an admin created: show its form.
		if _, err := h.claim(w, r, f); err != nil {
			h.kit.Fail(w, r, err)
			return
		}
		h.show(w, r, f)
		return
	}
	if f.Expired() {
		h.retryExpired(w, r, f, flow.TypeBrowser, f.ExpiresAt)
		return
	}
	var out *flow.Outcome
	if m := h.methodOf(f); m != nil {
		out, err = m.Submit(r.Context(), &flow.Submission{Flow: f, Payload: flow.LinkPayload(query), Link: true, ClientIP: h.opts.Guard.ClientIP(r)})
		if err != nil {
			h.kit.Fail(w, r, err)
			return
		}
	}
	if out == nil || out.Redeem == nil {
		// No method redeems what the link carries.
		h.retry(w, r, f, flow.TypeBrowser, text.RecoveryLinkInvalid(), errLinkInvalid)
		return
	}
	done, refusal, err := h.spend(r, f, out.Redeem)
	switch {
	case errors.Is(err, flow.ErrCompleted):
		h.kit.AnswerCompleted(w, r, f)
	case err != nil:
		h.kit.Fail(w, r, err)
	case refusal == nil:
		h.recovered(w, r, f, flow.TypeBrowser, done)
	case errors.Is(refusal, onetime.ErrExpired) && refusal.Code != nil:
		h.retryExpired(w, r, f, flow.TypeBrowser, refusal.Code.ExpiresAt)
	default:
		h.retry(w, r, f, flow.TypeBrowser, refusal.Message, errLinkInvalid)
	}
}

// recoveredOwner is who a redeemed code signed in.
type recoveredOwner struct {
	identity *identity.Identity
	session  *session.Session
	event    *hook.Event
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
	ev := &hook.Event{Flow: f, Method: code.Method, AAL: session.AAL1, Identity: i, Session: s, Request: r}
	if err := h.opts.Hooks.Run(r.Context(), q, ev); err != nil {
		return nil, err
	}
	f.State = flow.StatePassedChallenge
	f.UI.Messages = nil
	return &recoveredOwner{identity: i, session: s, event: ev}, flow.Update(r.Context(), q, f)
}

// recovered answers a completed recovery: it hands the signed-in owner
// over to a settings flow. typ is how to answer: the flow's type for
// codes, browser for links.
func (h *Handler) recovered(w http.ResponseWriter, r *http.Request, f *flow.Flow, typ string, done *recoveredOwner) {
	h.kit.Completed(r, f)
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
	a := flow.Answer{As: typ, Redirect: target}
	if !h.opts.ContinueWith {
		// Kratos's answer without continue_with transitions, for apps too
		// (which then get no session token).
		a.Error = flow.ErrLocationChange(target)
	} else {
		if typ == flow.TypeAPI {
			f.ContinueWith = append(f.ContinueWith, flow.SetSessionToken(s.Token))
		}
		f.ContinueWith = append(f.ContinueWith, map[string]any{
			"action": "show_settings_ui",
			"flow":   map[string]any{"id": settingsFlow.ID.String(), "url": target},
		})
		a.JSON = f.View()
	}
	h.kit.Answer(w, r, f, a)
}
