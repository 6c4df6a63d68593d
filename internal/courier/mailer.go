package courier

import (
	"context"

	"github.com/lanyard-id/lanyard/internal/store"
)

// Mailer is the flows' view of the courier: it queues the self-service
// messages (recovery, verification, sign-in and sign-up codes) inside the
// flow's transaction.
type Mailer struct {
	c     *Courier
	limit MessageLimiter
}

// MessageLimiter caps the messages queued for one address (the guard's
// protection.courier limits): AllowMessage counts one message for address,
// in q's transaction, and answers whether it may be queued.
type MessageLimiter interface {
	AllowMessage(ctx context.Context, q *store.Q, address string) (bool, error)
}

// Mailer returns the flows' view of the courier.
func (c *Courier) Mailer() *Mailer { return &Mailer{c: c} }

// WithLimit returns a Mailer that asks l before each message, for known
// and unknown addresses alike. A message over the limit is rehearsed
// instead of queued, so that a capped address is answered alike and as
// fast as any other.
func (m *Mailer) WithLimit(l MessageLimiter) *Mailer { return &Mailer{c: m.c, limit: l} }

func (m *Mailer) allowed(ctx context.Context, q *store.Q, address string) (bool, error) {
	if m.limit == nil {
		return true, nil
	}
	return m.limit.AllowMessage(ctx, q, address)
}

// Queue queues msg in q's transaction.
func (m *Mailer) Queue(ctx context.Context, q *store.Q, msg Message) error {
	ok, err := m.allowed(ctx, q, msg.To)
	if err != nil {
		return err
	}
	if !ok {
		return m.c.Rehearse(ctx, q, msg, nil)
	}
	_, err = m.c.Enqueue(ctx, q, msg)
	return err
}

// Rehearse does Queue's work for msg without queuing it, and queues notice
// instead if there is one (see Courier.Rehearse).
func (m *Mailer) Rehearse(ctx context.Context, q *store.Q, msg Message, notice *Message) error {
	ok, err := m.allowed(ctx, q, msg.To)
	if err != nil {
		return err
	}
	if !ok {
		notice = nil
	}
	return m.c.Rehearse(ctx, q, msg, notice)
}

// Outbox is where the flows' methods send messages, inside the caller's
// transaction (a Mailer; a fake in tests).
type Outbox interface {
	Queue(ctx context.Context, q *store.Q, m Message) error
	// Rehearse does the work of queuing m without queuing it, for an
	// address no account uses; notice, if any, is queued in its place.
	Rehearse(ctx context.Context, q *store.Q, m Message, notice *Message) error
}

// Deliver queues msg when its recipient has an account (known). Otherwise
// it does the same work without queuing it, so that the answer and its
// timing tell nothing, and queues a notice of template noticeTemplate
// instead when that is set (notify_unknown_recipients).
func Deliver(ctx context.Context, q *store.Q, o Outbox, msg Message, known bool, noticeTemplate string) error {
	if known {
		return o.Queue(ctx, q, msg)
	}
	var notice *Message
	if noticeTemplate != "" {
		notice = &Message{Template: noticeTemplate, Via: msg.Via, To: msg.To, RequestURL: msg.RequestURL, TransientPayload: msg.TransientPayload}
	}
	return o.Rehearse(ctx, q, msg, notice)
}
