package identity

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/store"
)

// PutCredential stores c as identity identityID's credential of type
// c.Type, replacing the one it had, inside the caller's transaction: how a
// method adds a second factor (TOTP, lookup secrets) in settings. A
// replaced credential keeps its id and creation time. It moves the
// identity's updated_at, so that every cached copy, whose credentials
// decide whoami's assurance check, is reloaded. A taken identifier is
// ErrConflict, an unknown identity ErrNotFound.
func (m *Manager) PutCredential(ctx context.Context, q *store.Q, identityID uuid.UUID, c *Credential) error {
	now := store.Now()
	res, err := q.Exec(ctx, `UPDATE identities SET updated_at = $2 WHERE id = $1`, identityID, now)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	c.UpdatedAt = now
	var existing uuid.UUID
	var created store.Time
	err = q.QueryRow(ctx, `SELECT id, created_at FROM identity_credentials WHERE identity_id = $1 AND type = $2`, identityID, c.Type).Scan(&existing, &created)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if c.ID == uuid.Nil {
			c.ID = uuid.New()
		}
		if c.CreatedAt.IsZero() {
			c.CreatedAt = now
		}
		return mapWriteError(insertCredential(ctx, q, identityID, c))
	case err != nil:
		return err
	}
	c.ID, c.CreatedAt = existing, created.Time
	if _, err := q.Exec(ctx, `UPDATE identity_credentials SET config = $2, version = $3, updated_at = $4 WHERE id = $1`,
		c.ID, string(c.Config), c.Version, c.UpdatedAt); err != nil {
		return err
	}
	if _, err := q.Exec(ctx, `DELETE FROM identity_credential_identifiers WHERE credential_id = $1`, c.ID); err != nil {
		return err
	}
	return mapWriteError(insertIdentifiers(ctx, q, identityID, c))
}

// DeleteCredential removes identity identityID's credential of type typ,
// if it has one, inside the caller's transaction (unlinking a second
// factor). Like PutCredential it moves the identity's updated_at, so that
// cached copies are reloaded. An unknown identity is ErrNotFound.
func (m *Manager) DeleteCredential(ctx context.Context, q *store.Q, identityID uuid.UUID, typ string) error {
	res, err := q.Exec(ctx, `UPDATE identities SET updated_at = $2 WHERE id = $1`, identityID, store.Now())
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	_, err = q.Exec(ctx, `DELETE FROM identity_credentials WHERE identity_id = $1 AND type = $2`, identityID, typ)
	return err
}
