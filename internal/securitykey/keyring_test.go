package securitykey

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

var bg = context.Background()

// newIdentities is an identity manager on s for identities without
// passwords (it has no hasher).
func newIdentities(t *testing.T, s *store.Store) *identity.Manager {
	t.Helper()
	reg, err := schema.Load(bg, nil, "default")
	if err != nil {
		t.Fatal(err)
	}
	return identity.NewManager(s, reg, nil, "https://auth.example.org/")
}

func TestKeyring(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ids := newIdentities(t, s)
		i, err := ids.Create(bg, identity.Draft{Traits: json.RawMessage(`{"email":"ring@example.org"}`)})
		if err != nil {
			t.Fatal(err)
		}
		one, two := Key{ID: []byte{1}, DisplayName: "one"}, Key{ID: []byte{2}}

		// A new credential: Kratos's shape and version.
		var written *identity.Identity
		err = s.Write(bg, func(q *store.Q) (err error) {
			r := NewKeyring(ids, i, identity.CredentialsWebAuthn)
			r.Identifiers, r.Keys, r.UserHandle = []string{"ring@example.org"}, []Key{one}, []byte("handle")
			written, err = r.Write(bg, q)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		stored, _ := ids.Get(bg, i.ID)
		c := stored.Credentials[identity.CredentialsWebAuthn]
		if c == nil || c.Version != CredentialVersion || !slices.Equal(c.Identifiers, []string{"ring@example.org"}) {
			t.Fatalf("written credential: %+v", c)
		}
		if cfg, err := Read(c.Config); err != nil || len(cfg.Keys) != 1 || string(cfg.UserHandle) != "handle" {
			t.Errorf("written config %s: %+v, %v", c.Config, cfg, err)
		}
		if w := written.Credentials[identity.CredentialsWebAuthn]; w == nil || w.ID != c.ID || !written.UpdatedAt.Equal(stored.UpdatedAt) {
			t.Errorf("the identity as written: %+v; stored %+v", written, stored)
		}
		if i.Credentials[identity.CredentialsWebAuthn] != nil {
			t.Error("Write changed the identity it was given")
		}

		// Read back under the lock, changed, written back with the version
		// it was stored with.
		raw, _ := json.Marshal(Credentials{Keys: []Key{one}, UserHandle: []byte("handle")})
		c.Version = 2
		c.Config = raw
		if err := s.Write(bg, func(q *store.Q) error { return ids.PutCredential(bg, q, i.ID, c) }); err != nil {
			t.Fatal(err)
		}
		err = s.Write(bg, func(q *store.Q) error {
			r, err := Lock(bg, ids, q, stored, identity.CredentialsWebAuthn)
			if err != nil {
				return err
			}
			if k, ok := r.Find(one.ID); !ok || k.DisplayName != "one" || string(r.UserHandle) != "handle" || !slices.Equal(r.Identifiers, c.Identifiers) {
				t.Errorf("locked: %+v", r)
			}
			if _, ok := r.Find(two.ID); ok {
				t.Error("found a key the credential does not have")
			}
			r.Keys = append(r.Keys, two)
			current, err := r.Current()
			if err != nil {
				return err
			}
			if cfg, _ := Read(current.Credentials[identity.CredentialsWebAuthn].Config); len(cfg.Keys) != 2 {
				t.Errorf("current: %+v", cfg)
			}
			_, err = r.Write(bg, q)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		stored, _ = ids.Get(bg, i.ID)
		c = stored.Credentials[identity.CredentialsWebAuthn]
		if cfg, _ := Read(c.Config); c.Version != 2 || len(cfg.Keys) != 2 {
			t.Errorf("after adding a key: version %d, %+v", c.Version, cfg)
		}

		// Without keys the credential goes.
		err = s.Write(bg, func(q *store.Q) (err error) {
			r, err := Lock(bg, ids, q, stored, identity.CredentialsWebAuthn)
			if err != nil {
				return err
			}
			r.Keys = nil
			written, err = r.Write(bg, q)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if stored, _ = ids.Get(bg, i.ID); stored.Credentials[identity.CredentialsWebAuthn] != nil || written.Credentials[identity.CredentialsWebAuthn] != nil {
			t.Errorf("emptied: stored %+v, written %+v", stored.Credentials, written.Credentials)
		}

		// A credential the identity lacks holds nothing; an identity that
		// does not exist is not found; a corrupt config is an error.
		err = s.Write(bg, func(q *store.Q) error {
			r, err := Lock(bg, ids, q, stored, identity.CredentialsPasskey)
			if err != nil || len(r.Keys) != 0 || r.Identifiers == nil || len(r.Identifiers) != 0 {
				t.Errorf("no passkey credential: %+v, %v", r, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		err = s.Write(bg, func(q *store.Q) error {
			_, err := Lock(bg, ids, q, &identity.Identity{ID: uuid.New()}, identity.CredentialsPasskey)
			return err
		})
		if !errors.Is(err, identity.ErrNotFound) {
			t.Errorf("unknown identity: %v", err)
		}
		corrupt := &identity.Credential{Type: identity.CredentialsPasskey, Config: json.RawMessage(`{"credentials":5}`)}
		err = s.Write(bg, func(q *store.Q) error {
			if err := ids.PutCredential(bg, q, i.ID, corrupt); err != nil {
				return err
			}
			_, err := Lock(bg, ids, q, stored, identity.CredentialsPasskey)
			return err
		})
		if err == nil {
			t.Error("a corrupt config was locked")
		}
	})
}

func TestKeyName(t *testing.T) {
	if got := (Key{DisplayName: "YubiKey"}).Name(); got != "YubiKey" {
		t.Errorf("named: %q", got)
	}
	if got := (Key{}).Name(); got != "unnamed" {
		t.Errorf("unnamed: %q", got)
	}
}
