package identity

import (
	"context"

	"github.com/lanyard-id/lanyard/internal/store"
)

// Amend rewrites identity i, just written in q's transaction, with the
// fields of d (what a registration web hook changed before the identity
// was stored). Its credentials stay; identifiers and addresses follow the
// new traits.
func (m *Manager) Amend(ctx context.Context, q *store.Q, i *Identity, d Draft) (*Identity, error) {
	p, err := m.prepareNoHash(ctx, d, "")
	if err != nil {
		return nil, err
	}
	// As stored in q, with every credential the method wrote.
	before, err := getIdentity(ctx, q, i.ID)
	if err != nil {
		return nil, err
	}
	result := p.build(i.ID, before, store.Now())
	if err := updateIdentity(ctx, q, result, before); err != nil {
		return nil, mapWriteError(err)
	}
	return result, nil
}
