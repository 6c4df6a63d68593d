package courier

import (
	"context"
	"encoding/json"

	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/store"
)

// Mailer queues the self-service messages (recovery and verification) as
// courier templates. It satisfies the Mailer interfaces of both flows.
type Mailer struct{ c *Courier }

// Mailer returns the flows' view of the courier.
func (c *Courier) Mailer() *Mailer { return &Mailer{c: c} }

// identityMap gives templates the identity as the admin API shows it, so
// overrides can read {{ .Identity.traits.name }} as with Kratos.
func identityMap(i *identity.Identity) map[string]any {
	if i == nil {
		return nil
	}
	raw, err := json.Marshal(i)
	if err != nil {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	return m
}

func (m *Mailer) enqueue(ctx context.Context, q *store.Q, t Template) error {
	_, err := m.c.Enqueue(ctx, q, t)
	return err
}

func (m *Mailer) RecoveryCode(ctx context.Context, q *store.Q, to, code string, i *identity.Identity) error {
	return m.enqueue(ctx, q, RecoveryCodeValid{Address: Address{To: to}, Code: code, Identity: identityMap(i)})
}

func (m *Mailer) RecoveryLink(ctx context.Context, q *store.Q, to, link string, i *identity.Identity) error {
	return m.enqueue(ctx, q, RecoveryValid{Address: Address{To: to}, URL: link, Identity: identityMap(i)})
}

func (m *Mailer) RecoveryUnknown(ctx context.Context, q *store.Q, to, method string) error {
	if method == "link" {
		return m.enqueue(ctx, q, RecoveryInvalid{Address: Address{To: to}})
	}
	return m.enqueue(ctx, q, RecoveryCodeInvalid{Address: Address{To: to}})
}

func (m *Mailer) VerificationCode(ctx context.Context, q *store.Q, via, to, code, link string, i *identity.Identity) error {
	return m.enqueue(ctx, q, VerificationCodeValid{Address: Address{To: to, Via: via}, Code: code, URL: link, Identity: identityMap(i)})
}

func (m *Mailer) VerificationLink(ctx context.Context, q *store.Q, via, to, link string, i *identity.Identity) error {
	return m.enqueue(ctx, q, VerificationValid{Address: Address{To: to, Via: via}, URL: link, Identity: identityMap(i)})
}

func (m *Mailer) VerificationUnknown(ctx context.Context, q *store.Q, via, to, method string) error {
	if method == "link" {
		return m.enqueue(ctx, q, VerificationInvalid{Address: Address{To: to, Via: via}})
	}
	return m.enqueue(ctx, q, VerificationCodeInvalid{Address: Address{To: to, Via: via}})
}
