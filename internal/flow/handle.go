package flow

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/text"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// Start creates a flow of kind for a request to the browser or api init
// endpoint, checking return_to. The caller adds the method nodes and saves
// it with Save.
func (k *Kit) Start(w http.ResponseWriter, r *http.Request, kind Kind, typ string) (*Flow, error) {
	returnTo, err := k.CheckReturnTo(r.URL.Query().Get("return_to"))
	if err != nil {
		return nil, err
	}
	f := New(kind, typ, r, k.PublicURL, k.LifespanOf(kind))
	f.ReturnTo = returnTo
	offerExchange(f, r)
	var token []byte
	if typ == TypeBrowser {
		token = k.CSRF.Ensure(w, r)
	}
	f.AddCSRF(token)
	return f, nil
}

// Save stores a new flow.
func (k *Kit) Save(ctx context.Context, f *Flow) error {
	return k.Store.WritePipelined(ctx, func(q *store.Q) error { return Save(ctx, q, f) })
}

// Update writes a flow back.
func (k *Kit) Update(ctx context.Context, f *Flow) error {
	return k.Store.WritePipelined(ctx, func(q *store.Q) error { return Update(ctx, q, f) })
}

// RespondCreated answers a new flow: JSON for apps and AJAX, a redirect to
// the UI for browsers; or err, when making the flow failed.
func (k *Kit) RespondCreated(w http.ResponseWriter, r *http.Request, f *Flow, err error) {
	if err != nil {
		k.Fail(w, r, err)
		return
	}
	if f.Type == TypeAPI || wire.WantsJSON(r) {
		wire.WriteJSON(w, http.StatusOK, f.View())
		return
	}
	k.RedirectToUI(w, r, f)
}

// Fail answers an error: JSON for apps and AJAX, a redirect to the error
// UI for browsers.
func (k *Kit) Fail(w http.ResponseWriter, r *http.Request, err error) {
	k.failed(r)
	if wire.WantsJSON(r) || strings.HasSuffix(r.URL.Path, "/api") {
		wire.WriteError(w, r, err)
		return
	}
	k.BrowserError(w, r, err)
}

// Fetch answers GET /self-service/<kind>/flows?id=: browsers may read
// only the flows bound to their CSRF cookie.
func (k *Kit) Fetch(w http.ResponseWriter, r *http.Request, kind Kind) {
	id, err := uuid.Parse(r.URL.Query().Get("id"))
	if err != nil {
		wire.WriteError(w, r, ErrFlowNotFound)
		return
	}
	f, err := Get(r.Context(), k.Store.Read(), kind, id)
	if err != nil {
		wire.WriteError(w, r, err)
		return
	}
	if f.Type == TypeBrowser && !k.CSRF.MatchesFlow(r, f.CSRFHash) {
		wire.WriteError(w, r, ErrCSRF(r, "The flow was started by another browser, or its anti-CSRF cookie is missing."))
		return
	}
	if f.Expired() {
		e := wire.Gone.WithID("self_service_flow_expired").
			WithReason("The %s flow expired; start a new one.", kind).
			WithDetail("redirect_to", k.PublicURL+"self-service/"+string(kind)+"/"+f.Type).
			WithDetail("expired_at", f.ExpiresAt)
		wire.WriteError(w, r, e)
		return
	}
	wire.WriteJSON(w, http.StatusOK, f.View())
}

// Submission is a flow being submitted to, with its decoded payload and
// what the flow knows that a method may need.
type Submission struct {
	Flow    *Flow
	Payload Payload
	// Schema is the identity schema the submission is checked against.
	Schema *schema.Schema
	// Identity is the signed-in identity a settings flow changes.
	Identity *identity.Identity
	// Traits are the traits of a registration (submitted or kept from its
	// first step).
	Traits map[string]any
	// Privileged reports whether the session signed in recently enough
	// for changes to credentials and addresses (settings).
	Privileged bool
	// ClientIP is the caller's address as the brute-force guard sees it
	// (recovery and verification codes).
	ClientIP string
	// Link reports that the submission is a link opened from a message
	// (GET with the link's query as the payload), not a form.
	Link bool
	// Resumed reports that the submission came through Kit.Resume: a
	// method's own endpoint (a provider's callback) and not the flow's
	// form. Carried is what that endpoint handed on to the method.
	Resumed bool
	Carried any
}

// errAnswered means the response was already written.
var errAnswered = errors.New("flow: response already written")

// IsAnswered reports whether Receive or Reject already wrote the response.
func IsAnswered(err error) bool { return errors.Is(err, errAnswered) }

// Receive loads the flow a submission names and checks it: it exists, has
// not expired (else a new flow is started and offered), and the request is
// what its type allows (CSRF for browsers, no cookies for apps). decode
// reads the body. Any failure is answered here and reported as an error
// for which IsAnswered holds.
func (k *Kit) Receive(w http.ResponseWriter, r *http.Request, kind Kind, decode func() (Payload, error), restart func(old *Flow) (*Flow, error)) (*Submission, error) {
	id, err := uuid.Parse(r.URL.Query().Get("flow"))
	if err != nil {
		wire.WriteError(w, r, wire.BadRequest.WithReason("The flow query parameter is missing or malformed."))
		return nil, errAnswered
	}
	f, err := Get(r.Context(), k.Store.Read(), kind, id)
	if err != nil {
		k.Fail(w, r, err)
		return nil, errAnswered
	}
	k.Submitting(r, f)
	p, err := decode()
	var fe FormError
	if errors.As(err, &fe) && f.Type == TypeAPI {
		// Bytes no form field may hold: the field says so. A browser's
		// payload is trusted with nothing before its CSRF token checks out.
		f.UI.ResetMessages()
		k.Reject(w, r, f, fe)
		return nil, errAnswered
	}
	if err != nil && !errors.As(err, &fe) {
		k.Fail(w, r, err)
		return nil, errAnswered
	}
	if f.Type == TypeBrowser {
		if err := k.CSRF.Verify(r, p.String("csrf_token")); err != nil {
			k.Fail(w, r, err)
			return nil, errAnswered
		}
		if fe != nil {
			f.UI.ResetMessages()
			k.Reject(w, r, f, fe)
			return nil, errAnswered
		}
	} else if reason := apiRequestProblem(r); reason != "" {
		f.UI.ResetMessages()
		f.UI.AddMessage("", text.ValidationGeneric(reason))
		wire.WriteJSON(w, http.StatusBadRequest, f.View())
		return nil, errAnswered
	}
	if f.Expired() {
		k.Restart(w, r, f, f.ExpiresAt, restart)
		return nil, errAnswered
	}
	if f.State == StatePassedChallenge {
		k.AnswerCompleted(w, r, f)
		return nil, errAnswered
	}
	return &Submission{Flow: f, Payload: p}, nil
}

// Restart answers a submission to f that came too late (the flow, or the
// code it carries, expired at expiredAt) with a new flow of the same kind,
// made by restart: a redirect to its UI for browsers, else 410 naming it.
func (k *Kit) Restart(w http.ResponseWriter, r *http.Request, f *Flow, expiredAt time.Time, restart func(old *Flow) (*Flow, error)) {
	nf, err := restart(f)
	if err == nil {
		nf.ReturnTo = f.ReturnTo
		nf.UI.Messages = append(nf.UI.Messages, expiredMessage(f.Kind, expiredAt))
		err = k.Update(r.Context(), nf)
	}
	if err != nil {
		k.Fail(w, r, err)
		return
	}
	if f.Type == TypeBrowser && !wire.WantsJSON(r) {
		k.RedirectToUI(w, r, nf)
		return
	}
	wire.WriteError(w, r, ErrExpired(f, nf.ID))
}

// AnswerCompleted answers a submission for a flow that is completed, or
// that another submission completed while this one was being handled
// (ErrCompleted): the flow as it is now, with Kratos's message for it,
// and nothing changed.
func (k *Kit) AnswerCompleted(w http.ResponseWriter, r *http.Request, f *Flow) {
	now, err := Get(r.Context(), k.Store.Read(), f.Kind, f.ID)
	if err != nil {
		k.Fail(w, r, err)
		return
	}
	if now.State != StatePassedChallenge {
		// A settings flow that another submission changed meanwhile.
		now.UI.ResetMessages()
		now.UI.AddMessage("", text.ValidationGeneric("This flow was changed by another request at the same time. Please review it and submit again."))
		k.answerFlow(w, r, now, http.StatusConflict)
		return
	}
	now.UI.ResetMessages()
	now.UI.AddMessage("", completedMessage(now.Kind))
	k.answerFlow(w, r, now, http.StatusBadRequest)
}

// answerFlow shows f without writing it: JSON for apps and AJAX, the error
// UI for browsers (the stored flow does not carry this answer's message).
func (k *Kit) answerFlow(w http.ResponseWriter, r *http.Request, f *Flow, status int) {
	if f.Type == TypeAPI || wire.WantsJSON(r) {
		wire.WriteJSON(w, status, f.View())
		return
	}
	e := wire.BadRequest
	if status == http.StatusConflict {
		e = wire.Conflict
	}
	k.BrowserError(w, r, e.WithReason("%s", f.UI.Messages[0].Text))
}

func completedMessage(kind Kind) *text.Message {
	switch kind {
	case Login:
		return text.LoginCompleted()
	case Registration:
		return text.RegistrationCompleted()
	case Recovery:
		return text.RecoveryCompleted()
	case Verification:
		return text.VerificationAlreadyDone()
	}
	return text.ValidationGeneric("This flow was completed already; start a new one.")
}

// expiredMessage tells the user why they see a new flow.
func expiredMessage(kind Kind, expiredAt time.Time) *text.Message {
	a := time.Since(expiredAt).Round(time.Second).String()
	switch kind {
	case Login:
		return text.LoginExpired(expiredAt)
	case Registration:
		return text.RegistrationExpired(expiredAt)
	case Settings:
		return text.SettingsExpired(expiredAt)
	case Recovery:
		return text.RecoveryExpired(expiredAt)
	case Verification:
		return text.VerificationExpired(expiredAt)
	}
	return text.ValidationGeneric("The flow expired " + a + " ago, please try again.")
}

// apiRequestProblem refuses native-app submissions that carry browser
// state: a Cookie or Origin header means a browser is talking to an API
// flow, which would bypass CSRF protection.
func apiRequestProblem(r *http.Request) string {
	if r.Header.Get("Origin") != "" {
		return "API flows must not be submitted by browsers: the request carries an Origin header. Use the browser flow instead."
	}
	for _, c := range r.Cookies() {
		n := c.Name
		if strings.HasPrefix(n, "__cf") || strings.HasPrefix(n, "_cf") || strings.HasPrefix(n, "cf_") {
			continue // set by Cloudflare in front of native apps
		}
		return "API flows must not be submitted with cookies: the request carries a Cookie header. Use the browser flow instead."
	}
	return ""
}

// Reject shows the flow again with the submission's mistakes: 400 with the
// flow for apps and AJAX, back to the UI for browsers.
func (k *Kit) Reject(w http.ResponseWriter, r *http.Request, f *Flow, fe FormError) {
	k.RejectAs(w, r, f, fe, func() any { return f.View() })
}

// RejectAs is Reject for flows whose JSON carries more than the flow (the
// settings flow shows its identity).
func (k *Kit) RejectAs(w http.ResponseWriter, r *http.Request, f *Flow, fe FormError, view func() any) {
	if len(fe) > 0 {
		k.rejected(r, f)
	}
	k.hold(w, r, f, fe, nil, view)
}

// Hold shows f again as a step of the flow that is not its end (a code
// was sent, the form moved on): 400 with the flow for apps and AJAX, as
// Kratos answers, back to the UI for browsers. within, when set, runs in
// the transaction that writes the flow back.
func (k *Kit) Hold(w http.ResponseWriter, r *http.Request, f *Flow, within func(ctx context.Context, q *store.Q) error) {
	k.hold(w, r, f, nil, within, func() any { return f.View() })
}

func (k *Kit) hold(w http.ResponseWriter, r *http.Request, f *Flow, fe FormError, within func(ctx context.Context, q *store.Q) error, view func() any) {
	fe.Apply(f)
	if !k.Keep(w, r, f, within) {
		return
	}
	if f.Type == TypeAPI || wire.WantsJSON(r) {
		wire.WriteJSON(w, http.StatusBadRequest, view())
		return
	}
	k.RedirectToUI(w, r, f)
}

// Keep writes f back as a step of the flow shows it, with a fresh CSRF
// token for browsers; within, when set, runs in the same transaction. It
// reports whether f was stored; when not, the failure (or a flow another
// submission completed meanwhile) has been answered.
func (k *Kit) Keep(w http.ResponseWriter, r *http.Request, f *Flow, within func(ctx context.Context, q *store.Q) error) bool {
	if f.Type == TypeBrowser {
		f.RefreshCSRF(k.CSRF.cookieToken(r))
	}
	err := k.Store.WritePipelined(r.Context(), func(q *store.Q) error {
		if within != nil {
			if err := within(r.Context(), q); err != nil {
				return err
			}
		}
		return Update(r.Context(), q, f)
	})
	switch {
	case errors.Is(err, ErrCompleted):
		k.AnswerCompleted(w, r, f)
		return false
	case err != nil:
		k.Fail(w, r, err)
		return false
	}
	return true
}

// ErrSessionAlreadyAvailable is Kratos's session_already_available.
var ErrSessionAlreadyAvailable = wire.BadRequest.WithID("session_already_available").
	WithReason("A valid session was detected and thus this flow is not available. Sign out first, or refresh the session with refresh=true.")

// AlreadySignedIn answers a flow request made with a valid session: an
// error for apps and AJAX, a redirect to the return address for browsers.
func (k *Kit) AlreadySignedIn(w http.ResponseWriter, r *http.Request, typ string, returnTo string) {
	if typ == TypeAPI || wire.WantsJSON(r) {
		wire.WriteError(w, r, ErrSessionAlreadyAvailable)
		return
	}
	if returnTo == "" {
		returnTo = k.defaultReturnTo()
	}
	http.Redirect(w, r, returnTo, http.StatusSeeOther)
}

// Answer is how a flow answers what a submission achieved. Kit.Answer is
// the one place that tells apps and AJAX callers (JSON) from browser forms
// (303); the built-in UI will be a third way of answering the same Answer.
type Answer struct {
	// Status and JSON are the answer for apps and AJAX (Status 0: 200).
	Status int
	JSON   any
	// Error, when set, is what apps and AJAX get instead of JSON, in the
	// error shape (e.g. browser_location_change_required).
	Error error
	// SeeOther, when set, sends apps and AJAX callers (303) on to read
	// another flow (one that replaced f) instead of JSON.
	SeeOther string
	// Redirect is where a browser form goes; empty: the flow's UI.
	Redirect string
	// As answers as for flows of this type; empty: f's type. Links in
	// messages are opened in browsers, whatever flow they belong to.
	As string
}

// Answer answers a for flow f.
func (k *Kit) Answer(w http.ResponseWriter, r *http.Request, f *Flow, a Answer) {
	typ := a.As
	if typ == "" {
		typ = f.Type
	}
	if typ == TypeAPI || wire.WantsJSON(r) {
		if a.Error != nil {
			wire.WriteError(w, r, a.Error)
			return
		}
		if a.SeeOther != "" {
			http.Redirect(w, r, a.SeeOther, http.StatusSeeOther)
			return
		}
		status := a.Status
		if status == 0 {
			status = http.StatusOK
		}
		wire.WriteJSON(w, status, a.JSON)
		return
	}
	if a.Redirect == "" {
		k.RedirectToUI(w, r, f)
		return
	}
	http.Redirect(w, r, a.Redirect, http.StatusSeeOther)
}
