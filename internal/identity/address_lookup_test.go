package identity

import (
	"context"
	"errors"
	"testing"

	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

func TestFindByAddressEvenly(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		m := newManager(t, s)
		ctx := context.Background()
		want := mustCreate(t, m, Draft{Traits: traits("even@example.org"), Password: ptr("a-long-enough-passphrase")})
		for _, recovery := range []bool{true, false} {
			got, err := m.FindByAddressEvenly(ctx, recovery, "email", " Even@Example.org")
			if err != nil || got.ID != want.ID || len(got.RecoveryAddresses) != 1 || len(got.VerifiableAddresses) != 1 || got.Credentials[CredentialsPassword] == nil {
				t.Errorf("recovery=%v: %+v, %v; want the identity with its relations", recovery, got, err)
			}
			if _, err := m.FindByAddressEvenly(ctx, recovery, "email", "nobody@example.org"); !errors.Is(err, ErrNotFound) {
				t.Errorf("recovery=%v: an unknown address: %v, want ErrNotFound", recovery, err)
			}
		}
	})
}
