package identity

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/store"
)

// FindByAddressEvenly is FindByAddress for requests whose answer must not
// tell whether an account uses the address (recovery and verification): it
// runs the same queries whether or not one does, reading the relations of
// an id no identity has when none owns the address, so that how long it
// takes does not tell either.
func (m *Manager) FindByAddressEvenly(ctx context.Context, recovery bool, via, value string) (*Identity, error) {
	table := "identity_verifiable_addresses"
	if recovery {
		table = "identity_recovery_addresses"
	}
	q := m.store.Read()
	var id uuid.UUID // stays uuid.Nil, which no identity has, when no one owns the address
	err := q.QueryRow(ctx, `SELECT identity_id FROM `+table+` WHERE via = $1 AND value = $2`,
		via, schema.NormalizeAddress(via, value)).Scan(&id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	rows, err := q.Query(ctx, `SELECT `+identityColumns+` FROM identities WHERE id = $1`, id)
	if err != nil {
		return nil, err
	}
	found, err := scanIdentities(rows)
	if err != nil {
		return nil, err
	}
	subjects := found
	if len(found) == 0 {
		subjects = []*Identity{{ID: id, Credentials: map[string]*Credential{}}}
	}
	if err := loadRelations(ctx, q, subjects); err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, ErrNotFound
	}
	return found[0], nil
}
