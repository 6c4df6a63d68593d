package passkey

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/securitykey"
	"github.com/lanyard-id/lanyard/internal/store"
)

// held is an identity's passkey (or webauthn) credential as its
// completing transaction reads it.
type held struct {
	identifiers []string
	version     int
	keys        securitykey.Credentials
}

// lockKeys reads identity identityID's credential of type typ in q's
// transaction, after locking the identity's row, the lock every credential
// write takes first (identity.Manager.PutCredential): what it reads stays
// current until the transaction writes it back, so that racing sign-ins
// and settings changes of one identity's passkeys never undo each other.
// It answers nil when the identity has no such credential.
func lockKeys(ctx context.Context, q *store.Q, identityID uuid.UUID, typ string) (*held, error) {
	res, err := q.Exec(ctx, `UPDATE identities SET updated_at = updated_at WHERE id = $1`, identityID)
	if err != nil {
		return nil, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, err
	} else if n == 0 {
		return nil, identity.ErrNotFound
	}
	var (
		credID uuid.UUID
		config string
		out    = &held{identifiers: []string{}}
	)
	err = q.QueryRow(ctx, `SELECT id, config, version FROM identity_credentials WHERE identity_id = $1 AND type = $2`, identityID, typ).
		Scan(&credID, &config, &out.version)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if out.keys, err = securitykey.Read(json.RawMessage(config)); err != nil {
		return nil, err
	}
	rows, err := q.Query(ctx, `SELECT identifier FROM identity_credential_identifiers WHERE credential_id = $1 ORDER BY created_at, identifier`, credID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out.identifiers = append(out.identifiers, id)
	}
	return out, rows.Err()
}

// putKeys writes h as identity identityID's credential of type typ, in
// q's transaction, and answers the credential as written.
func (m *Method) putKeys(ctx context.Context, q *store.Q, identityID uuid.UUID, typ string, h *held) (*identity.Credential, error) {
	raw, err := config(h.keys)
	if err != nil {
		return nil, err
	}
	c := &identity.Credential{Type: typ, Identifiers: h.identifiers, Config: raw, Version: h.version}
	if err := m.ids.PutCredential(ctx, q, identityID, c); err != nil {
		return nil, err
	}
	return c, nil
}

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
