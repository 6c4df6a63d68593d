package webauthn

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/securitykey"
	"github.com/lanyard-id/lanyard/internal/store"
)

// stored is an identity's webauthn credential as its completing
// transaction reads it.
type stored struct {
	identifiers []string
	cfg         securitykey.Credentials
}

// lockCredential reads identity identityID's webauthn credential in q's
// transaction, after locking the identity's row, the lock every credential
// write takes first (identity.Manager.PutCredential): what it reads stays
// current until the transaction writes it back, so that racing sign-ins
// and settings changes of one identity's keys never undo each other. It
// answers nil when the identity has no such credential.
func lockCredential(ctx context.Context, q *store.Q, identityID uuid.UUID) (*stored, error) {
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
	)
	err = q.QueryRow(ctx, `SELECT id, config FROM identity_credentials WHERE identity_id = $1 AND type = $2`, identityID, ID).Scan(&credID, &config)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	cfg, err := securitykey.Read(json.RawMessage(config))
	if err != nil {
		return nil, err
	}
	rows, err := q.Query(ctx, `SELECT identifier FROM identity_credential_identifiers WHERE credential_id = $1 ORDER BY created_at, identifier`, credID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := &stored{cfg: cfg, identifiers: []string{}}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out.identifiers = append(out.identifiers, id)
	}
	return out, rows.Err()
}

// putKeys writes cfg as identity identityID's webauthn credential with
// identifiers, in q's transaction, and answers the credential as written.
func (m *Method) putKeys(ctx context.Context, q *store.Q, identityID uuid.UUID, identifiers []string, cfg securitykey.Credentials) (*identity.Credential, error) {
	raw, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	c := &identity.Credential{Type: ID, Identifiers: identifiers, Config: raw, Version: credentialVersion}
	if err := m.ids.PutCredential(ctx, q, identityID, c); err != nil {
		return nil, err
	}
	return c, nil
}
