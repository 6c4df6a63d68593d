package securitykey

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/store"
)

// CredentialVersion is the version Kratos stores webauthn and passkey
// credentials with.
const CredentialVersion = 1

// Keyring is one identity's webauthn or passkey credential as the
// transaction that changes it holds it: read under the identity's row lock
// (Lock), or new (NewKeyring), then written back (Write).
type Keyring struct {
	Identifiers []string
	Keys        []Key
	UserHandle  []byte

	ids     *identity.Manager
	owner   *identity.Identity
	typ     string
	version int
}

// NewKeyring is a credential of type typ that i does not have yet, with no
// identifiers and no keys.
func NewKeyring(ids *identity.Manager, i *identity.Identity, typ string) *Keyring {
	return &Keyring{Identifiers: []string{}, ids: ids, owner: i, typ: typ, version: CredentialVersion}
}

// Lock reads i's credential of type typ as it is now, in q's transaction,
// locking i's row until the transaction ends (identity.Manager.LockCredential):
// racing sign-ins and settings changes of one identity's keys then never
// undo each other. Without such a credential it answers NewKeyring's.
func Lock(ctx context.Context, ids *identity.Manager, q *store.Q, i *identity.Identity, typ string) (*Keyring, error) {
	c, err := ids.LockCredential(ctx, q, i.ID, typ)
	if err != nil || c == nil {
		return NewKeyring(ids, i, typ), err
	}
	cfg, err := Read(c.Config)
	if err != nil {
		return nil, err
	}
	return &Keyring{Identifiers: c.Identifiers, Keys: cfg.Keys, UserHandle: cfg.UserHandle,
		ids: ids, owner: i, typ: typ, version: c.Version}, nil
}

// Find answers the key with id.
func (r *Keyring) Find(id []byte) (Key, bool) {
	for _, k := range r.Keys {
		if bytes.Equal(k.ID, id) {
			return k, true
		}
	}
	return Key{}, false
}

// Current is the identity with the credential as r holds it, unwritten:
// for deciding on what is stored now rather than on what the submission
// saw.
func (r *Keyring) Current() (*identity.Identity, error) {
	c, err := r.credential()
	if err != nil {
		return nil, err
	}
	return r.owner.WithCredential(r.typ, c, r.owner.UpdatedAt), nil
}

// Write stores the credential as r holds it, in q's transaction, and
// answers the identity as written. A credential left without keys is
// removed.
func (r *Keyring) Write(ctx context.Context, q *store.Q) (*identity.Identity, error) {
	if len(r.Keys) == 0 {
		if err := r.ids.DeleteCredential(ctx, q, r.owner.ID, r.typ); err != nil {
			return nil, err
		}
		return r.owner.WithCredential(r.typ, nil, store.Now()), nil
	}
	c, err := r.credential()
	if err != nil {
		return nil, err
	}
	if err := r.ids.PutCredential(ctx, q, r.owner.ID, c); err != nil {
		return nil, err
	}
	return r.owner.WithCredential(r.typ, c, c.UpdatedAt), nil
}

func (r *Keyring) credential() (*identity.Credential, error) {
	cfg := Credentials{Keys: r.Keys, UserHandle: r.UserHandle}
	if cfg.Keys == nil {
		cfg.Keys = []Key{}
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	return &identity.Credential{Type: r.typ, Identifiers: r.Identifiers, Config: raw, Version: r.version, UpdatedAt: r.owner.UpdatedAt}, nil
}
