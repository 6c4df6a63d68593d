package identity

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"time"

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
	res, err := q.Exec(ctx, `UPDATE identities SET updated_at = $2, revision = revision + 1 WHERE id = $1`, identityID, now)
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
	res, err := q.Exec(ctx, `UPDATE identities SET updated_at = $2, revision = revision + 1 WHERE id = $1`, identityID, store.Now())
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	_, err = q.Exec(ctx, `DELETE FROM identity_credentials WHERE identity_id = $1 AND type = $2`, identityID, typ)
	return err
}

// LockCredential reads identity identityID's credential of type typ inside
// the caller's transaction, after locking the identity's row: the lock
// PutCredential and DeleteCredential take first, so that what it reads
// stays current until the transaction writes it back, and racing changes
// of one credential never undo each other. It answers nil when the
// identity has no such credential, ErrNotFound when there is no identity.
func (m *Manager) LockCredential(ctx context.Context, q *store.Q, identityID uuid.UUID, typ string) (*Credential, error) {
	if err := lockIdentity(ctx, q, identityID); err != nil {
		return nil, err
	}
	c := &Credential{Type: typ, Identifiers: []string{}}
	var (
		config           string
		created, updated store.Time
	)
	err := q.QueryRow(ctx, `SELECT id, config, version, created_at, updated_at FROM identity_credentials WHERE identity_id = $1 AND type = $2`,
		identityID, typ).Scan(&c.ID, &config, &c.Version, &created, &updated)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c.Config, c.CreatedAt, c.UpdatedAt = json.RawMessage(config), created.Time, updated.Time
	rows, err := q.Query(ctx, `SELECT identifier FROM identity_credential_identifiers WHERE credential_id = $1 ORDER BY created_at, identifier`, c.ID)
	if err != nil {
		return nil, err
	}
	err = eachRow(rows, func() error {
		var identifier string
		if err := rows.Scan(&identifier); err != nil {
			return err
		}
		c.Identifiers = append(c.Identifiers, identifier)
		return nil
	})
	return c, err
}

// lockIdentity locks identity id's row until the caller's transaction
// ends, changing nothing; ErrNotFound when there is no such identity.
func lockIdentity(ctx context.Context, q *store.Q, id uuid.UUID) error {
	res, err := q.Exec(ctx, `UPDATE identities SET updated_at = updated_at WHERE id = $1`, id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return ErrNotFound
	}
	return nil
}

// WithCredential is a copy of i as written after its credential of type
// typ became c (nil: removed) at updatedAt. i itself may be shared (a
// cached identity) and stays as it is.
func (i *Identity) WithCredential(typ string, c *Credential, updatedAt time.Time) *Identity {
	out := *i
	out.Credentials = maps.Clone(i.Credentials)
	if out.Credentials == nil {
		out.Credentials = map[string]*Credential{}
	}
	if c == nil {
		delete(out.Credentials, typ)
	} else {
		out.Credentials[typ] = c
	}
	out.UpdatedAt = updatedAt
	return &out
}
