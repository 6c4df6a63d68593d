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

	"github.com/lanyard-id/lanyard/internal/flow"
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
	RecoveryCode(ctx context.Context, q *store.Q, to, code string, i *identity.Identity) error
	RecoveryLink(ctx context.Context, q *store.Q, to, link string, i *identity.Identity) error
	// RecoveryUnknown tells an address that no account uses it.
	RecoveryUnknown(ctx context.Context, q *store.Q, to, method string) error
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
	MaxAttempts             int
	// ContinueWith is feature_flags.use_continue_with_transitions.
	ContinueWith     bool
	PrivilegedMaxAge time.Duration
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
	return &Handler{kit: kit, sessions: sessions, ids: ids, codes: codes, mail: mail, settings: settings, opts: opts}
}

// Register adds the routes.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /self-service/recovery/browser", func(w http.ResponseWriter, r *http.Request) { h.create(w, r, flow.TypeBrowser) })
	mux.HandleFunc("GET /self-service/recovery/api", func(w http.ResponseWriter, r *http.Request) { h.create(w, r, flow.TypeAPI) })
	mux.HandleFunc("GET /self-service/recovery/flows", func(w http.ResponseWriter, r *http.Request) { h.kit.Fetch(w, r, flow.Recovery) })
	mux.HandleFunc("POST /self-service/recovery", h.submit)
	// Recovery links arrive as GET.
	mux.HandleFunc("GET /self-service/recovery", h.followLink)
}

// ErrDisabled answers when recovery is off.
var ErrDisabled = wire.BadRequest.WithID("self_service_flow_disabled").WithReason("Account recovery is disabled.")

func (h *Handler) create(w http.ResponseWriter, r *http.Request, typ string) {
	if !h.opts.Enabled {
		h.kit.Fail(w, r, ErrDisabled)
		return
	}
	if current, _ := h.sessions.FromRequest(r.Context(), r); current != nil {
		h.kit.AlreadySignedIn(w, r, typ, "")
		return
	}
	f, err := h.newFlow(w, r, typ)
	if err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	h.kit.RespondCreated(w, r, f)
}

func (h *Handler) newFlow(w http.ResponseWriter, r *http.Request, typ string) (*flow.Flow, error) {
	f, err := h.kit.Start(w, r, flow.Recovery, typ)
	if err != nil {
		return nil, err
	}
	f.Active = h.opts.Method
	h.askForAddress(f, "")
	return f, h.kit.Save(r.Context(), f)
}

// askForAddress renders the first form: the email address and a submit.
func (h *Handler) askForAddress(f *flow.Flow, email string) {
	csrf := f.UI.Find("csrf_token")
	f.UI.Nodes = []*flow.Node{csrf}
	var value any
	if email != "" {
		value = email
	}
	f.UI.Add(
		flow.Input(h.opts.Method, "email", "email", value, text.LabelEmail()).Required().Autocomplete("email"),
		flow.Submit(h.opts.Method, "method", h.opts.Method, text.LabelContinue()),
	)
}

// askForCode renders the form after a code was sent.
func (h *Handler) askForCode(f *flow.Flow, email string) {
	csrf := f.UI.Find("csrf_token")
	f.UI.Nodes = []*flow.Node{csrf}
	f.UI.Add(
		flow.Input(onetime.MethodCode, "code", "text", nil, text.LabelRecoveryCode()).Required().Autocomplete("one-time-code"),
		flow.Input(onetime.MethodCode, "method", "hidden", onetime.MethodCode, nil),
		flow.Submit(onetime.MethodCode, "method", onetime.MethodCode, text.LabelContinue()),
		flow.Submit(onetime.MethodCode, "email", email, text.LabelResendCode()),
	)
}

func (h *Handler) submit(w http.ResponseWriter, r *http.Request) {
	if !h.opts.Enabled {
		h.kit.Fail(w, r, ErrDisabled)
		return
	}
	sub, err := h.kit.Receive(w, r, flow.Recovery,
		func() (flow.Payload, error) { return flow.DecodePayload(w, r, nil) },
		func(old *flow.Flow) (*flow.Flow, error) { return h.newFlow(w, r, old.Type) })
	if err != nil {
		return
	}
	f, p := sub.Flow, sub.Payload
	if current, _ := h.sessions.FromRequest(r.Context(), r); current != nil {
		h.kit.AlreadySignedIn(w, r, f.Type, "")
		return
	}
	f.UI.ResetMessages()
	method := p.String("method")
	if method == "" && p.String("email") != "" {
		method = f.Active // the resend button sends only the address
	}
	switch {
	case method != h.opts.Method:
		h.kit.Reject(w, r, f, flow.FormMessage(text.NoRecoveryStrategy()))
	case p.String("code") != "" && method == onetime.MethodCode:
		h.redeem(w, r, f, p.String("code"))
	default:
		h.send(w, r, f, p.String("email"))
	}
}

// send issues a code (or link) for the address and queues the message. An
// unknown address is treated alike, down to storing a code nobody receives,
// so that answers and timing do not reveal which addresses exist.
func (h *Handler) send(w http.ResponseWriter, r *http.Request, f *flow.Flow, email string) {
	email = strings.TrimSpace(email)
	if email == "" {
		h.kit.Reject(w, r, f, flow.FormError{{Field: "email", Message: text.ValidationRequired("email")}})
		return
	}
	if !strings.Contains(email, "@") {
		h.askForAddress(f, email)
		h.kit.Reject(w, r, f, flow.FormError{{Field: "email", Message: text.InvalidEmail(email)}})
		return
	}
	address := schema.NormalizeAddress("email", email)
	owner, err := h.ids.FindByAddress(r.Context(), true, "email", address)
	if err != nil && !errors.Is(err, identity.ErrNotFound) {
		h.kit.Fail(w, r, err)
		return
	}
	lifespan := h.opts.CodeLifespan
	if h.opts.Method == onetime.MethodLink {
		lifespan = h.opts.LinkLifespan
	}
	err = h.kit.Store.Write(r.Context(), func(q *store.Q) error {
		if err := h.codes.InvalidateFlow(r.Context(), q, f.ID); err != nil {
			return err
		}
		code := onetime.Code{Purpose: onetime.Recovery, Method: h.opts.Method, FlowID: f.ID, Via: "email", Value: address, ExpiresAt: store.Now().Add(lifespan)}
		if owner != nil {
			code.IdentityID = &owner.ID
		}
		plain, err := h.codes.Issue(r.Context(), q, code)
		if err != nil {
			return err
		}
		switch {
		case owner != nil && h.opts.Method == onetime.MethodCode:
			err = h.mail.RecoveryCode(r.Context(), q, address, plain, owner)
		case owner != nil:
			err = h.mail.RecoveryLink(r.Context(), q, address, h.linkURL(f, plain), owner)
		case h.opts.NotifyUnknownRecipients:
			err = h.mail.RecoveryUnknown(r.Context(), q, address, h.opts.Method)
		}
		if err != nil {
			return err
		}
		f.State = flow.StateSentEmail
		if h.opts.Method == onetime.MethodCode {
			h.askForCode(f, email)
			f.UI.Messages = append(f.UI.Messages, text.RecoveryCodeSent())
		} else {
			h.askForAddress(f, email)
			f.UI.Messages = append(f.UI.Messages, text.RecoveryLinkSent())
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

func (h *Handler) linkURL(f *flow.Flow, token string) string {
	q := url.Values{}
	q.Set("flow", f.ID.String())
	q.Set("token", token)
	return h.kit.PublicURL + "self-service/recovery?" + q.Encode()
}

// show answers the flow: JSON for apps and AJAX, the UI for browsers.
func (h *Handler) show(w http.ResponseWriter, r *http.Request, f *flow.Flow, status int) {
	if f.Type == flow.TypeAPI || wire.WantsJSON(r) {
		wire.WriteJSON(w, status, f.View())
		return
	}
	h.kit.RedirectToUI(w, r, f)
}

// redeem checks a typed code.
func (h *Handler) redeem(w http.ResponseWriter, r *http.Request, f *flow.Flow, plain string) {
	var code *onetime.Code
	var redeemErr error
	err := h.kit.Store.Write(r.Context(), func(q *store.Q) error {
		var err error
		code, err = h.codes.RedeemCode(r.Context(), q, onetime.Recovery, f.ID, strings.TrimSpace(plain), h.opts.MaxAttempts)
		if errors.Is(err, onetime.ErrInvalid) || errors.Is(err, onetime.ErrTooManyAttempts) {
			redeemErr = err // committed: the failed attempt counts
			return nil
		}
		return err
	})
	if err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	if errors.Is(redeemErr, onetime.ErrTooManyAttempts) {
		f.State = flow.StateChooseMethod
		h.askForAddress(f, "")
		h.kit.Reject(w, r, f, flow.FormMessage(text.RecoveryCodeInvalid()))
		return
	}
	if redeemErr != nil || code.IdentityID == nil {
		h.kit.Reject(w, r, f, flow.FormError{{Field: "code", Message: text.RecoveryCodeInvalid()}})
		return
	}
	h.recovered(w, r, f, code)
}

// followLink redeems a recovery link (GET ?flow=&token=); browsers only.
func (h *Handler) followLink(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
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
		// A flow opened by URL, as one an admin created: this browser
		// claims it and is shown its form.
		if f.Type == flow.TypeBrowser {
			f.RefreshCSRF(h.kit.CSRF.Ensure(w, r))
			if err := h.kit.Update(r.Context(), f); err != nil {
				h.kit.Fail(w, r, err)
				return
			}
		}
		h.show(w, r, f, http.StatusOK)
		return
	}
	var code *onetime.Code
	err = h.kit.Store.Write(r.Context(), func(q *store.Q) error {
		var err error
		code, err = h.codes.RedeemToken(r.Context(), q, onetime.Recovery, token)
		return err
	})
	if errors.Is(err, onetime.ErrInvalid) || (err == nil && (code.FlowID != f.ID || code.IdentityID == nil)) {
		f.UI.ResetMessages()
		h.askForAddress(f, "")
		f.State = flow.StateChooseMethod
		h.kit.Reject(w, r, f, flow.FormMessage(text.RecoveryLinkInvalid()))
		return
	}
	if err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	h.recovered(w, r, f, code)
}

// recovered signs the owner in, marks the address verified (receiving the
// code proved it), and hands over to a settings flow.
func (h *Handler) recovered(w http.ResponseWriter, r *http.Request, f *flow.Flow, code *onetime.Code) {
	i, err := h.ids.Get(r.Context(), *code.IdentityID)
	if err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	var s *session.Session
	err = h.kit.Store.Write(r.Context(), func(q *store.Q) error {
		var err error
		if s, err = h.sessions.Issue(r.Context(), q, i, code.Method+"_recovery", r); err != nil {
			return err
		}
		if err := h.ids.SetAddressStatus(r.Context(), q, i.ID, code.Via, code.Value, identity.AddressStatusCompleted); err != nil {
			return err
		}
		f.State = flow.StatePassedChallenge
		return flow.Update(r.Context(), q, f)
	})
	if err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	settingsFlow, err := h.settings.StartFor(r.Context(), w, r, f.Type, i)
	if err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	until := s.AuthenticatedAt.Add(h.opts.PrivilegedMaxAge).Format(time.RFC3339)
	settingsFlow.UI.Messages = append(settingsFlow.UI.Messages, text.RecoverySuccessful(until))
	if err := h.kit.Update(r.Context(), settingsFlow); err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	target := h.settings.UIURL(settingsFlow)
	if f.Type == flow.TypeBrowser {
		h.sessions.SetCookie(w, s)
		h.kit.CSRF.Rotate(w)
	}

	if h.opts.ContinueWith {
		if f.Type == flow.TypeAPI {
			f.ContinueWith = append(f.ContinueWith, flow.SetSessionToken(s.Token))
		}
		f.ContinueWith = append(f.ContinueWith, map[string]any{
			"action": "show_settings_ui",
			"flow":   map[string]any{"id": settingsFlow.ID.String(), "url": target},
		})
		if f.Type == flow.TypeBrowser && !wire.WantsJSON(r) {
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		wire.WriteJSON(w, http.StatusOK, f.View())
		return
	}
	if f.Type == flow.TypeBrowser && !wire.WantsJSON(r) {
		http.Redirect(w, r, target, http.StatusSeeOther)
		return
	}
	wire.WriteError(w, r, flow.ErrLocationChange(target))
}
