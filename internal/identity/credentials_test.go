package identity

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

func TestLockCredential(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		m := newManager(t, s)
		i := mustCreate(t, m, Draft{Traits: traits("lock@example.org"), Password: ptr("a-long-enough-password")})
		lock := func(id uuid.UUID, typ string) (c *Credential, err error) {
			err = s.Write(ctx, func(q *store.Q) error {
				c, err = m.LockCredential(ctx, q, id, typ)
				return err
			})
			return c, err
		}

		got, err := lock(i.ID, CredentialsPassword)
		want := i.Credentials[CredentialsPassword]
		if err != nil || got == nil || got.ID != want.ID || got.Type != CredentialsPassword || got.Version != want.Version ||
			!slices.Equal(got.Identifiers, []string{"lock@example.org"}) || !jsonEqual(got.Config, string(want.Config)) ||
			!got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
			t.Fatalf("password credential: %+v, %v; want %+v", got, err, want)
		}
		// Identifiers come in the order Get reads them.
		keys := &Credential{Type: CredentialsWebAuthn, Identifiers: []string{"zed", "abe"}, Config: json.RawMessage(`{"credentials":[]}`), Version: 3}
		if err := s.Write(ctx, func(q *store.Q) error { return m.PutCredential(ctx, q, i.ID, keys) }); err != nil {
			t.Fatal(err)
		}
		stored, err := m.Get(ctx, i.ID)
		if err != nil {
			t.Fatal(err)
		}
		got, err = lock(i.ID, CredentialsWebAuthn)
		if err != nil || got == nil || got.Version != 3 || !slices.Equal(got.Identifiers, stored.Credentials[CredentialsWebAuthn].Identifiers) {
			t.Errorf("webauthn credential: %+v, %v; stored %+v", got, err, stored.Credentials[CredentialsWebAuthn])
		}
		// Locking changes nothing.
		if after, _ := m.Get(ctx, i.ID); !after.UpdatedAt.Equal(stored.UpdatedAt) {
			t.Errorf("updated_at moved from %v to %v", stored.UpdatedAt, after.UpdatedAt)
		}

		if got, err := lock(i.ID, CredentialsTOTP); got != nil || err != nil {
			t.Errorf("no such credential: %+v, %v; want nil, nil", got, err)
		}
		if _, err := lock(uuid.New(), CredentialsPassword); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown identity: %v; want ErrNotFound", err)
		}
	})
}

func TestWithCredential(t *testing.T) {
	password := &Credential{Type: CredentialsPassword}
	i := &Identity{ID: uuid.New(), Credentials: map[string]*Credential{CredentialsPassword: password}}
	at := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

	totp := &Credential{Type: CredentialsTOTP}
	added := i.WithCredential(CredentialsTOTP, totp, at)
	if added.Credentials[CredentialsTOTP] != totp || added.Credentials[CredentialsPassword] != password || !added.UpdatedAt.Equal(at) || added.ID != i.ID {
		t.Errorf("added: %+v", added)
	}
	removed := added.WithCredential(CredentialsPassword, nil, at.Add(time.Second))
	if _, ok := removed.Credentials[CredentialsPassword]; ok || removed.Credentials[CredentialsTOTP] != totp || !removed.UpdatedAt.Equal(at.Add(time.Second)) {
		t.Errorf("removed: %+v", removed)
	}
	// The originals may be shared (cached): they stay as they were.
	if len(i.Credentials) != 1 || !i.UpdatedAt.IsZero() || len(added.Credentials) != 2 {
		t.Errorf("the copies changed their source: %+v, %+v", i, added)
	}
	if got := (&Identity{}).WithCredential(CredentialsTOTP, totp, at); got.Credentials[CredentialsTOTP] != totp {
		t.Errorf("without credentials loaded: %+v", got)
	}
}

func TestIdentifiers(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		m := newManager(t, s)
		i := mustCreate(t, m, Draft{Traits: traits("Ids@Example.org")})
		for _, typ := range []string{CredentialsPassword, CredentialsWebAuthn, CredentialsCode} {
			if got := m.Identifiers(i, typ); !slices.Equal(got, []string{"ids@example.org"}) {
				t.Errorf("%s identifiers: %v", typ, got)
			}
		}
		if x := m.Extracted(i); x == nil || x.PasskeyDisplayName != "Ids@Example.org" {
			t.Errorf("extracted: %+v", x)
		}
		if got := m.Identifiers(i, CredentialsTOTP); got != nil {
			t.Errorf("totp identifiers: %v", got)
		}
		for name, broken := range map[string]*Identity{
			"unknown schema":      {SchemaID: "nope", Traits: i.Traits},
			"traits not JSON":     {SchemaID: i.SchemaID, Traits: json.RawMessage(`{`)},
			"traits out of shape": {SchemaID: i.SchemaID, Traits: json.RawMessage(`{"email":"not an address"}`)},
		} {
			if x, ids := m.Extracted(broken), m.Identifiers(broken, CredentialsPassword); x != nil || ids != nil {
				t.Errorf("%s: %+v, %v", name, x, ids)
			}
		}
	})
}
