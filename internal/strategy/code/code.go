// Package code is the one-time code method of recovery and verification:
// it asks for an address, sends a six-digit code there, and redeems the
// code typed back. An address no account uses gets the same work and the
// same answers, so the method does not tell which accounts exist.
package code

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/lanyard-id/lanyard/internal/courier"
	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/guard"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/onetime"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/text"
)

// ID is the method name in submissions and node groups.
const ID = onetime.MethodCode

// Options configure the method for one flow.
type Options struct {
	// Lifespan is how long a code is valid (default one hour).
	Lifespan time.Duration
	// MaxAttempts is how many codes may be submitted to one flow (default
	// 5); the next submission retires the flow's codes.
	MaxAttempts int
	// NotifyUnknownRecipients sends a notice to an address no account uses.
	NotifyUnknownRecipients bool
	// Guard counts code guesses per address across flows; nil counts none.
	Guard *guard.Guard
}

// Method is the code method.
type Method struct {
	links flow.Config
	ids   *identity.Manager
	codes *onetime.Codes
	mail  courier.Outbox
	opts  Options
}

// New makes the code method; links builds the links in its messages.
func New(links flow.Config, ids *identity.Manager, codes *onetime.Codes, mail courier.Outbox, opts Options) *Method {
	withDefaults(&opts.Lifespan, &opts.MaxAttempts)
	return &Method{links: links, ids: ids, codes: codes, mail: mail, opts: opts}
}

// ID implements flow.Method.
func (m *Method) ID() string { return ID }

// Serves implements flow.Method.
func (m *Method) Serves(kind flow.Kind) bool {
	return kind == flow.Recovery || kind == flow.Verification
}

// Implies reports whether p, which names no method, is for codes: a code,
// or the resend button's address.
func (m *Method) Implies(p flow.Payload) bool {
	return p.String("method") == "" && (strings.TrimSpace(p.String("code")) != "" || strings.TrimSpace(p.String("email")) != "")
}

// AddNodes asks for the address, or for the code once one was sent (a
// flow an operator created with a code).
func (m *Method) AddNodes(_ context.Context, f *flow.Flow, _ flow.NodeContext) error {
	if f.State == flow.StateSentEmail {
		flow.AskForCode(f, codeLabel(f.Kind), "")
		return nil
	}
	flow.AskForAddress(f, ID, "")
	return nil
}

func codeLabel(kind flow.Kind) *text.Message {
	if kind == flow.Recovery {
		return text.LabelRecoveryCode()
	}
	return text.LabelVerificationCode()
}

// Submit sends a code to the submitted address, or redeems the submitted
// code. A verification link opened from a message fills its code into the
// form instead of using it, so that mail scanners following links verify
// nothing.
func (m *Method) Submit(ctx context.Context, s *flow.Submission) (*flow.Outcome, error) {
	f, p := s.Flow, s.Payload
	plain := strings.TrimSpace(p.String("code"))
	email := strings.TrimSpace(p.String("email"))
	if s.Link {
		if plain == "" || f.Kind != flow.Verification {
			return &flow.Outcome{}, nil
		}
		if f.UI.Find("code") != nil {
			f.UI.SetValue("code", plain)
		}
		return &flow.Outcome{Shown: true}, nil
	}
	// Recovery: once a code went out, a submission without an address is
	// a code. Verification: a submission with a code is one.
	redeems := plain != ""
	if f.Kind == flow.Recovery {
		redeems = f.State == flow.StateSentEmail && email == ""
	}
	if redeems {
		return &flow.Outcome{Redeem: func(ctx context.Context, q *store.Q) (*onetime.Code, error) {
			return m.redeem(ctx, q, f, plain, s.ClientIP)
		}}, nil
	}
	return flow.SendToAddress(ctx, s, ID, m.ids, m.codes, flow.AddressSend{Deliver: m.send, Show: m.ShowSent})
}

// redeem spends a typed code. Wrong codes, the codes of addresses no
// account owns and guesses past the guard's limits are refused alike.
func (m *Method) redeem(ctx context.Context, q *store.Q, f *flow.Flow, plain, ip string) (*onetime.Code, error) {
	invalid := text.VerificationCodeInvalid()
	if f.Kind == flow.Recovery {
		invalid = text.RecoveryCodeInvalid()
	}
	var refused *guard.Refused
	code, err := m.codes.RedeemCode(ctx, q, string(f.Kind), f.ID, plain, m.opts.MaxAttempts, m.opts.Guard.CodeGate(ctx, q, ip))
	switch {
	case errors.As(err, &refused):
		return nil, &flow.Refusal{Cause: onetime.ErrInvalid, Message: refused.Verdict.Message()}
	case errors.Is(err, onetime.ErrInvalid) || errors.Is(err, onetime.ErrTooManyAttempts):
		return nil, &flow.Refusal{Cause: err, Code: code, Message: invalid}
	case err != nil:
		return nil, err
	case code.IdentityID == nil:
		return nil, &flow.Refusal{Cause: onetime.ErrInvalid, Message: invalid}
	}
	if err := m.opts.Guard.Succeeded(ctx, q, guard.ScopeCode, code.Value, ip); err != nil {
		return nil, err
	}
	return code, nil
}

// SendTo implements flow.Sender.
func (m *Method) SendTo(ctx context.Context, q *store.Q, f *flow.Flow, owner *identity.Identity, via, address string) error {
	return m.send(ctx, q, f, owner, via, address, nil)
}

// send issues a code for one address and queues its message. An unknown
// address (owner nil) gets the same work, down to the queries, a code
// nobody receives and the rendering of a message that is not queued.
func (m *Method) send(ctx context.Context, q *store.Q, f *flow.Flow, owner *identity.Identity, via, address string, transient map[string]any) error {
	plain, err := issue(ctx, q, m.codes, string(f.Kind), f, owner, via, address, m.opts.Lifespan)
	if err != nil {
		return err
	}
	msg := courier.Message{
		Template: courier.RecoveryCodeValid, Via: via, To: address, Code: plain, Identity: owner,
		RequestURL: f.RequestURL, TransientPayload: transient, ExpiresIn: m.opts.Lifespan,
	}
	noticeTemplate := courier.RecoveryCodeInvalid
	if f.Kind == flow.Verification {
		msg.Template, msg.URL = courier.VerificationCodeValid, m.links.MessageLink(f, "code", plain)
		noticeTemplate = courier.VerificationCodeInvalid
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

// ShowSent implements flow.Sender: the form asks for the code, with a
// button sending another one to address.
func (m *Method) ShowSent(f *flow.Flow, address string) {
	f.State, f.Active = flow.StateSentEmail, ID
	flow.AskForCode(f, codeLabel(f.Kind), address)
	sent := text.VerificationCodeSent()
	if f.Kind == flow.Recovery {
		sent = text.RecoveryCodeSent()
	}
	f.UI.Messages = []*text.Message{sent}
}

// withDefaults fills in Kratos's defaults: codes live an hour, and a flow
// takes five of them.
func withDefaults(lifespan *time.Duration, maxAttempts *int) {
	if *lifespan <= 0 {
		*lifespan = time.Hour
	}
	if *maxAttempts <= 0 {
		*maxAttempts = 5
	}
}

// issue stores a code of f for purpose, to one address of owner (nil: an
// address nobody owns, or an identity still to be made), and answers its
// plain text for the message.
func issue(ctx context.Context, q *store.Q, codes *onetime.Codes, purpose string, f *flow.Flow, owner *identity.Identity, via, address string, lifespan time.Duration) (string, error) {
	code := onetime.Code{Purpose: purpose, Method: ID, FlowID: f.ID, Via: via, Value: address, ExpiresAt: store.Now().Add(lifespan)}
	if owner != nil {
		code.IdentityID = &owner.ID
	}
	return codes.Issue(ctx, q, code)
}
