package passkey

import (
	"context"
	"encoding/base64"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/store"
)

// findByWebAuthnHandle finds the identity whose webauthn credential has
// the user handle, as Kratos's passkey login does for keys saved before
// passkeys had a method of their own. The identity package has no such
// lookup, and the handle is not an identifier: it is read from the
// credential's config.
func (m *Method) findByWebAuthnHandle(ctx context.Context, handle []byte) (*identity.Identity, error) {
	if m.Store == nil {
		return nil, identity.ErrNotFound
	}
	q := m.Store.Read()
	// Configs are JSONB on PostgreSQL; on SQLite a config that is not JSON
	// must not fail the query for everybody.
	query := `SELECT identity_id FROM identity_credentials WHERE type = $1 AND config->>'user_handle' = $2 LIMIT 2`
	if q.Dialect() == store.SQLite {
		query = `SELECT identity_id FROM identity_credentials WHERE type = $1
AND CASE WHEN json_valid(config) THEN json_extract(config, '$.user_handle') END = $2 LIMIT 2`
	}
	rows, err := q.Query(ctx, query, identity.CredentialsWebAuthn, base64.StdEncoding.EncodeToString(handle))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var found []uuid.UUID
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		found = append(found, id)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(found) != 1 {
		// None, or a handle two accounts share: neither signs in with it.
		return nil, identity.ErrNotFound
	}
	return m.ids.Get(ctx, found[0])
}
