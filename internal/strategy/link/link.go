// Package link is the link method of recovery and verification: it asks
// for an address and sends a link there; opening the link redeems its
// token. An address no account uses gets the same work and the same
// answers, so the method does not tell which accounts exist.
package link

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/lanyard-id/lanyard/internal/courier"
	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/onetime"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/text"
)

// ID is the method name in submissions and node groups.
const ID = onetime.MethodLink

// Options configure the method for one flow.
type Options struct {
	// Lifespan is how long a link is valid (default one hour).
	Lifespan time.Duration
	// NotifyUnknownRecipients sends a notice to an address no account uses.
	NotifyUnknownRecipients bool
}

// Method is the link method.
type Method struct {
	links flow.Config
	ids   *identity.Manager
	codes *onetime.Codes
	mail  courier.Outbox
	opts  Options
}

// New makes the link method; links builds the links in its messages.
func New(links flow.Config, ids *identity.Manager, codes *onetime.Codes, mail courier.Outbox, opts Options) *Method {
	if opts.Lifespan <= 0 {
		opts.Lifespan = time.Hour
	}
	return &Method{links: links, ids: ids, codes: codes, mail: mail, opts: opts}
}

// ID implements flow.Method.
func (m *Method) ID() string { return ID }

// Serves implements flow.Method.
func (m *Method) Serves(kind flow.Kind) bool {
	return kind == flow.Recovery || kind == flow.Verification
}

// Implies reports whether p, which names no method, is the resend
// button's address (a payload with a code is not for links).
func (m *Method) Implies(p flow.Payload) bool {
	return p.String("method") == "" && strings.TrimSpace(p.String("email")) != "" && strings.TrimSpace(p.String("code")) == ""
}

// AddNodes asks for the address (also once a link was sent, to send
// another).
func (m *Method) AddNodes(_ context.Context, f *flow.Flow, _ flow.NodeContext) error {
	flow.AskForAddress(f, ID, "")
	return nil
}

// Submit sends a link to the submitted address, or redeems the token of a
// link opened from a message.
func (m *Method) Submit(ctx context.Context, s *flow.Submission) (*flow.Outcome, error) {
	f, p := s.Flow, s.Payload
	if s.Link {
		token := p.String("token")
		if token == "" {
			return &flow.Outcome{}, nil
		}
		return &flow.Outcome{Redeem: func(ctx context.Context, q *store.Q) (*onetime.Code, error) {
			return m.redeem(ctx, q, f, token)
		}}, nil
	}
	return flow.SendToAddress(ctx, s, ID, m.ids, m.codes, flow.AddressSend{Deliver: m.send, Show: m.ShowSent})
}

// redeem spends a link's token. The token of another flow, or of an
// address no account owns, is refused and left as it was.
func (m *Method) redeem(ctx context.Context, q *store.Q, f *flow.Flow, token string) (*onetime.Code, error) {
	invalid := text.VerificationLinkInvalid()
	if f.Kind == flow.Recovery {
		invalid = text.RecoveryLinkInvalid()
	}
	code, err := m.codes.RedeemToken(ctx, q, string(f.Kind), token)
	switch {
	case err == nil && (code.FlowID != f.ID || code.IdentityID == nil):
		return nil, &flow.Refusal{Cause: onetime.ErrInvalid, Message: invalid, Undo: true}
	case errors.Is(err, onetime.ErrExpired) && code != nil && code.FlowID == f.ID:
		return nil, &flow.Refusal{Cause: err, Code: code, Message: invalid}
	case errors.Is(err, onetime.ErrInvalid):
		return nil, &flow.Refusal{Cause: onetime.ErrInvalid, Message: invalid}
	case err != nil:
		return nil, err
	}
	return code, nil
}

// SendTo implements flow.Sender.
func (m *Method) SendTo(ctx context.Context, q *store.Q, f *flow.Flow, owner *identity.Identity, via, address string) error {
	return m.send(ctx, q, f, owner, via, address, nil)
}

// send issues a link for one address and queues its message. An unknown
// address (owner nil) gets the same work, down to the queries, a token
// nobody receives and the rendering of a message that is not queued.
func (m *Method) send(ctx context.Context, q *store.Q, f *flow.Flow, owner *identity.Identity, via, address string, transient map[string]any) error {
	code := onetime.Code{Purpose: string(f.Kind), Method: ID, FlowID: f.ID, Via: via, Value: address, ExpiresAt: store.Now().Add(m.opts.Lifespan)}
	if owner != nil {
		code.IdentityID = &owner.ID
	}
	plain, err := m.codes.Issue(ctx, q, code)
	if err != nil {
		return err
	}
	msg := courier.Message{
		Template: courier.RecoveryValid, Via: via, To: address, URL: m.links.MessageLink(f, "token", plain), Identity: owner,
		RequestURL: f.RequestURL, TransientPayload: transient, ExpiresIn: m.opts.Lifespan,
	}
	noticeTemplate := courier.RecoveryInvalid
	if f.Kind == flow.Verification {
		msg.Template, noticeTemplate = courier.VerificationValid, courier.VerificationInvalid
	}
	if !m.opts.NotifyUnknownRecipients {
		noticeTemplate = ""
	}
	if err := courier.Deliver(ctx, q, m.mail, msg, owner != nil, noticeTemplate); err != nil {
		return err
	}
	if f.Kind != flow.Verification {
		return nil
	}
	return m.ids.MarkAddressSent(ctx, q, owner, via, address)
}

// ShowSent implements flow.Sender: the address form stays, to send
// another link.
func (m *Method) ShowSent(f *flow.Flow, address string) {
	f.State, f.Active = flow.StateSentEmail, ID
	flow.AskForAddress(f, ID, address)
	sent := text.VerificationLinkSent()
	if f.Kind == flow.Recovery {
		sent = text.RecoveryLinkSent()
	}
	f.UI.Messages = []*text.Message{sent}
}
