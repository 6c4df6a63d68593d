// Package verification is the address verification flow: a code (or a
// link) sent to a verifiable address proves its owner holds it.
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
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/onetime"
	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/text"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// Mailer queues the verification messages inside the caller's transaction.
type Mailer interface {
	VerificationCode(ctx context.Context, q *store.Q, to, code, link string, i *identity.Identity) error
	VerificationLink(ctx context.Context, q *store.Q, to, link string, i *identity.Identity) error
	// VerificationUnknown tells an address that no account uses it.
	VerificationUnknown(ctx context.Context, q *store.Q, to, method string) error
}

// Options are the verification settings.
type Options struct {
	Enabled bool
	// Method is selfservice.flows.verification.use: "code" or "link".
	Method                  string
	NotifyUnknownRecipients bool
	CodeLifespan            time.Duration
	LinkLifespan            time.Duration
	MaxAttempts             int
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

func (h *Handler) create(w http.ResponseWriter, r *http.Request, typ string) {
	if !h.opts.Enabled {
		h.kit.Fail(w, r, ErrDisabled)
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
	f, err := h.kit.Start(w, r, flow.Verification, typ)
	if err != nil {
		return nil, err
	}
	f.Active = h.opts.Method
	h.askForAddress(f, "")
	return f, h.kit.Save(r.Context(), f)
}

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

func (h *Handler) askForCode(f *flow.Flow, email string) {
	csrf := f.UI.Find("csrf_token")
	f.UI.Nodes = []*flow.Node{csrf}
	f.UI.Add(
		flow.Input(onetime.MethodCode, "code", "text", nil, text.LabelVerificationCode()).Required().Autocomplete("one-time-code"),
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
	sub, err := h.kit.Receive(w, r, flow.Verification,
		func() (flow.Payload, error) { return flow.DecodePayload(w, r, nil) },
		func(old *flow.Flow) (*flow.Flow, error) { return h.newFlow(w, r, old.Type) })
	if err != nil {
		return
	}
	f, p := sub.Flow, sub.Payload
	f.UI.ResetMessages()
	method := p.String("method")
	if method == "" && p.String("email") != "" {
		method = f.Active
	}
	switch {
	case method != h.opts.Method:
		h.kit.Reject(w, r, f, flow.FormMessage(text.NoVerificationStrategy()))
	case p.String("code") != "" && method == onetime.MethodCode:
		h.redeemCode(w, r, f, p.String("code"))
	default:
		h.sendTo(w, r, f, p.String("email"))
	}
}

func (h *Handler) sendTo(w http.ResponseWriter, r *http.Request, f *flow.Flow, email string) {
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
	owner, err := h.ids.FindByAddress(r.Context(), false, "email", address)
	if err != nil && !errors.Is(err, identity.ErrNotFound) {
		h.kit.Fail(w, r, err)
		return
	}
	err = h.kit.Store.Write(r.Context(), func(q *store.Q) error {
		if err := h.codes.InvalidateFlow(r.Context(), q, f.ID); err != nil {
			return err
		}
		if err := h.send(r.Context(), q, f, owner, "email", address); err != nil {
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
// address (owner nil) gets a code nobody receives, so that answers and
// timing are alike.
func (h *Handler) send(ctx context.Context, q *store.Q, f *flow.Flow, owner *identity.Identity, via, address string) error {
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
	switch {
	case owner != nil && h.opts.Method == onetime.MethodCode:
		err = h.mail.VerificationCode(ctx, q, address, plain, h.link(f, "code", plain), owner)
	case owner != nil:
		err = h.mail.VerificationLink(ctx, q, address, h.link(f, "token", plain), owner)
	case h.opts.NotifyUnknownRecipients:
		err = h.mail.VerificationUnknown(ctx, q, address, h.opts.Method)
	}
	if err != nil || owner == nil {
		return err
	}
	return h.ids.SetAddressStatus(ctx, q, owner.ID, via, address, identity.AddressStatusSent)
}

// sent moves the flow on after a message went out.
func (h *Handler) sent(f *flow.Flow, email string) {
	f.State = flow.StateSentEmail
	if h.opts.Method == onetime.MethodCode {
		h.askForCode(f, email)
		f.UI.Messages = append(f.UI.Messages, text.VerificationCodeSent())
	} else {
		h.askForAddress(f, email)
		f.UI.Messages = append(f.UI.Messages, text.VerificationLinkSent())
	}
}

func (h *Handler) link(f *flow.Flow, param, secret string) string {
	q := url.Values{}
	q.Set("flow", f.ID.String())
	q.Set(param, secret)
	return h.kit.PublicURL + "self-service/verification?" + q.Encode()
}

func (h *Handler) show(w http.ResponseWriter, r *http.Request, f *flow.Flow) {
	if f.Type == flow.TypeAPI || wire.WantsJSON(r) {
		wire.WriteJSON(w, http.StatusOK, f.View())
		return
	}
	h.kit.RedirectToUI(w, r, f)
}

func (h *Handler) redeemCode(w http.ResponseWriter, r *http.Request, f *flow.Flow, plain string) {
	var code *onetime.Code
	var redeemErr error
	err := h.kit.Store.Write(r.Context(), func(q *store.Q) error {
		var err error
		code, err = h.codes.RedeemCode(r.Context(), q, onetime.Verification, f.ID, strings.TrimSpace(plain), h.opts.MaxAttempts)
		switch {
		case errors.Is(err, onetime.ErrInvalid) || errors.Is(err, onetime.ErrTooManyAttempts):
			redeemErr = err // committed: the failed attempt counts
			return nil
		case err != nil:
			return err
		case code.IdentityID == nil:
			redeemErr = onetime.ErrInvalid
			return nil
		}
		return h.verified(r.Context(), q, f, code)
	})
	if err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	switch {
	case errors.Is(redeemErr, onetime.ErrTooManyAttempts):
		f.State = flow.StateChooseMethod
		h.askForAddress(f, "")
		h.kit.Reject(w, r, f, flow.FormMessage(text.VerificationCodeInvalid()))
	case redeemErr != nil:
		h.kit.Reject(w, r, f, flow.FormError{{Field: "code", Message: text.VerificationCodeInvalid()}})
	default:
		h.show(w, r, f)
	}
}

// verified marks the address and completes the flow, in q's transaction.
func (h *Handler) verified(ctx context.Context, q *store.Q, f *flow.Flow, code *onetime.Code) error {
	if err := h.ids.SetAddressStatus(ctx, q, *code.IdentityID, code.Via, code.Value, identity.AddressStatusCompleted); err != nil {
		return err
	}
	f.State = flow.StatePassedChallenge
	csrf := f.UI.Find("csrf_token")
	f.UI.Nodes = []*flow.Node{csrf}
	f.UI.Messages = []*text.Message{text.VerificationSuccessful()}
	return flow.Update(ctx, q, f)
}

// followLink redeems a link from a message: ?flow=&code= (code method) or
// ?flow=&token= (link method).
func (h *Handler) followLink(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(r.URL.Query().Get("flow"))
	if err != nil {
		h.kit.Fail(w, r, wire.BadRequest.WithReason("The verification link is incomplete."))
		return
	}
	f, err := flow.Get(r.Context(), h.kit.Store.Read(), flow.Verification, id)
	if err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	if code := r.URL.Query().Get("code"); code != "" {
		h.redeemCode(w, r, f, code)
		return
	}
	token := r.URL.Query().Get("token")
	if token == "" {
		h.show(w, r, f)
		return
	}
	var invalid bool
	err = h.kit.Store.Write(r.Context(), func(q *store.Q) error {
		code, err := h.codes.RedeemToken(r.Context(), q, onetime.Verification, token)
		if errors.Is(err, onetime.ErrInvalid) || (err == nil && (code.FlowID != f.ID || code.IdentityID == nil)) {
			invalid = true
			return nil
		}
		if err != nil {
			return err
		}
		return h.verified(r.Context(), q, f, code)
	})
	if err != nil {
		h.kit.Fail(w, r, err)
		return
	}
	if invalid {
		f.UI.ResetMessages()
		f.State = flow.StateChooseMethod
		h.askForAddress(f, "")
		h.kit.Reject(w, r, f, flow.FormMessage(text.VerificationLinkInvalid()))
		return
	}
	h.show(w, r, f)
}

// StartAfterRegistration creates a verification flow for a new identity and
// sends a message to each of its verifiable addresses, as Kratos does
// after sign-up. It runs in the registration's transaction.
func (h *Handler) StartAfterRegistration(ctx context.Context, q *store.Q, r *http.Request, w http.ResponseWriter, typ string, i *identity.Identity) (*flow.Flow, error) {
	f, err := h.kit.Start(w, r, flow.Verification, typ)
	if err != nil {
		return nil, err
	}
	f.Active = h.opts.Method
	f.ReturnTo = ""
	h.askForAddress(f, "")
	if err := flow.Save(ctx, q, f); err != nil { // before its codes, which refer to it
		return nil, err
	}
	first := ""
	for _, a := range i.VerifiableAddresses {
		if a.Verified {
			continue
		}
		if err := h.send(ctx, q, f, i, a.Via, a.Value); err != nil {
			return nil, err
		}
		if first == "" {
			first = a.Value
		}
	}
	if first == "" {
		return nil, nil
	}
	h.sent(f, first)
	return f, flow.Update(ctx, q, f)
}

// UIURL is where a browser shows verification flow f.
func (h *Handler) UIURL(f *flow.Flow) string {
	return h.kit.FlowUIURL(f)
}
