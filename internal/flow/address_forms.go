package flow

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/onetime"
	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/text"
)

// The forms recovery and verification share: first an address to send a
// code or link to, then (for codes) the code.

// KeepOnlyCSRF empties the form but for its csrf_token, before a step
// renders its own inputs.
func (c *Container) KeepOnlyCSRF() {
	c.Nodes = []*Node{c.Find("csrf_token")}
}

// AskForAddress renders the email input and the submit of method.
func AskForAddress(f *Flow, method, email string) {
	f.UI.KeepOnlyCSRF()
	var value any
	if email != "" {
		value = email
	}
	f.UI.Add(
		Input(method, "email", "email", value, text.LabelEmail()).Required().Autocomplete("email"),
		Submit(method, "method", method, text.LabelContinue()),
	)
}

// AskForCode renders the six-digit code input, labelled by codeLabel, and
// a button that sends another code to email unless email is "".
func AskForCode(f *Flow, codeLabel *text.Message, email string) {
	f.UI.KeepOnlyCSRF()
	code := Input("code", "code", "text", nil, codeLabel).Required().Autocomplete("one-time-code")
	code.Attributes.Pattern, code.Attributes.Maxlength = "[0-9]+", 6
	f.UI.Add(
		code,
		Input("code", "method", "hidden", "code", nil),
		Submit("code", "method", "code", text.LabelContinue()),
	)
	if email != "" {
		f.UI.Add(Submit("code", "email", email, text.LabelResendCode()))
	}
}

// CheckAddress reads the address a recovery or verification form was
// given, for method's form, and answers it normalised, or a FormError on
// the email field. A rejected address is shown again in the address form
// (recovery also shows the form for an empty one, leaving a sent state).
func CheckAddress(f *Flow, method, email string) (string, error) {
	email = strings.TrimSpace(email)
	if email != "" && strings.Contains(email, "@") {
		return schema.NormalizeAddress("email", email), nil
	}
	msg := text.ValidationRequired("email")
	if email != "" {
		msg = text.InvalidEmail(email)
	}
	if f.Kind == Recovery {
		f.State = StateChooseMethod
		AskForAddress(f, method, email)
	} else if email != "" {
		AskForAddress(f, method, email)
	}
	return "", FormError{{Field: "email", Message: msg}}
}

// MessageLink is the link a recovery or verification message carries to
// flow f: GET /self-service/<kind>?flow=&<param>=secret.
func (c Config) MessageLink(f *Flow, param, secret string) string {
	q := url.Values{}
	q.Set("flow", f.ID.String())
	q.Set(param, secret)
	return c.LinkURL("self-service/"+string(f.Kind), q)
}

// LinkPayload is the payload of a link opened from a message: its query.
func LinkPayload(q url.Values) Payload {
	p := Payload{}
	for k := range q {
		p[k] = q.Get(k)
	}
	return p
}

// AddressSend is how a recovery or verification method sends to an
// address: deliver issues the code or link of f for owner (nil: nobody
// owns the address, which gets the same work) and queues its message;
// show moves the form to what it shows once sent.
type AddressSend struct {
	Deliver func(ctx context.Context, q *store.Q, f *Flow, owner *identity.Identity, via, address string, transient map[string]any) error
	Show    func(f *Flow, email string)
}

// SendToAddress answers a submission of the address form of method: the
// address checked (a FormError when it is not one), its owner looked up
// with the same work whether there is one or not, and an outcome whose
// Send retires the flow's earlier codes and links before sending anew.
func SendToAddress(ctx context.Context, s *Submission, method string, ids *identity.Manager, codes *onetime.Codes, a AddressSend) (*Outcome, error) {
	f := s.Flow
	email := strings.TrimSpace(s.Payload.String("email"))
	address, err := CheckAddress(f, method, email)
	if err != nil {
		return nil, err
	}
	owner, err := ids.FindByAddressEvenly(ctx, f.Kind == Recovery, "email", address)
	if err != nil && !errors.Is(err, identity.ErrNotFound) {
		return nil, err
	}
	transient, _ := s.Payload["transient_payload"].(map[string]any)
	return &Outcome{Send: func(ctx context.Context, q *store.Q) error {
		if err := codes.InvalidateFlow(ctx, q, f.ID); err != nil {
			return err
		}
		if err := a.Deliver(ctx, q, f, owner, "email", address, transient); err != nil {
			return err
		}
		a.Show(f, email)
		return nil
	}}, nil
}
