package oidc

import (
	"context"
	"errors"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/text"
)

// settings links a provider (through its sign-in page) or unlinks one.
// Both need a recent sign-in.
func (m *Method) settings(_ context.Context, s *flow.Submission) (*flow.Outcome, error) {
	link, unlink := s.Payload.String(fieldLink), s.Payload.String(fieldUnlink)
	switch {
	case link != "" && unlink != "":
		return nil, flow.FormMessage(text.ValidationGeneric("Link or unlink one provider at a time."))
	case link == "" && unlink == "":
		return nil, flow.FormMessage(text.NoSettingsStrategy())
	}
	if !s.Privileged {
		return nil, flow.ErrPrivilegedSessionRequired
	}
	i := s.Identity
	if link != "" {
		p := m.provider(link)
		if p == nil {
			return nil, flow.FormMessage(text.ValidationGeneric("There is no such provider to link."))
		}
		if linkedOf(i).Has(p.cfg.ID) {
			return nil, flow.FormMessage(text.ValidationGeneric("A " + label(p) + " account is linked to this account already."))
		}
		return m.begin(s, p)
	}
	if !linkedOf(i).Has(unlink) {
		return nil, flow.FormMessage(text.ValidationGeneric("There is no such provider to unlink."))
	}
	if m.Factors.FirstFactors(i) < 2 {
		return nil, onlyWayIn()
	}
	return &flow.Outcome{Identity: i, Commit: func(ctx context.Context, q *store.Q) (*identity.Identity, error) {
		c, err := m.ids.LockCredential(ctx, q, i.ID, ID)
		if err != nil {
			return nil, err
		}
		if c == nil {
			return nil, flow.FormMessage(text.ValidationGeneric("There is no such provider to unlink."))
		}
		current := i.WithCredential(ID, c, c.UpdatedAt)
		cfg, err := ParseCredentialConfig(c.Config)
		if err != nil {
			return nil, err
		}
		if !cfg.Remove(unlink) {
			return nil, flow.FormMessage(text.ValidationGeneric("There is no such provider to unlink."))
		}
		// Checked again as it is now, under the lock: two racing
		// unlinks of an account's last two ways in must not both succeed.
		if m.Factors.FirstFactors(current) < 2 {
			return nil, onlyWayIn()
		}
		return m.writeLinks(ctx, q, i, c, cfg)
	}}, nil
}

// link adds the account a provider signed in to the signed-in identity.
func (m *Method) link(ctx context.Context, s *flow.Submission, res *Result) (*flow.Outcome, error) {
	if !s.Privileged {
		return nil, flow.ErrPrivilegedSessionRequired
	}
	i := s.Identity
	owner, err := m.ids.FindByExactIdentifier(ctx, ID, Identifier(res.Provider, res.Claims.Subject))
	switch {
	case err == nil && owner.ID != i.ID:
		return nil, errLinkedElsewhere()
	case err == nil:
		return nil, flow.FormMessage(text.ValidationGeneric("This account at the provider is linked to this account already."))
	case !errors.Is(err, identity.ErrNotFound):
		return nil, err
	}
	entry, err := m.entry(res)
	if err != nil {
		return nil, err
	}
	return &flow.Outcome{Identity: i, AAL: identity.AAL1, Provider: res.Provider, Commit: func(ctx context.Context, q *store.Q) (*identity.Identity, error) {
		return m.addLink(ctx, q, i, entry)
	}}, nil
}

// onlyWayIn refuses unlinking the provider an account signs in with alone.
func onlyWayIn() error {
	return flow.FormMessage(text.ValidationGeneric("This provider cannot be unlinked: it is the only way to sign in to this account."))
}
