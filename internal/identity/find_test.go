package identity

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

// TestFindByIdentifierReadsWhatGetReads checks that the lookup a password
// login makes (on PostgreSQL one statement for the identity and all its
// relations) answers the identity exactly as Get reads it: every address,
// credential and identifier, in the same order.
func TestFindByIdentifierReadsWhatGetReads(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		m := newTwoAddressManager(t, s)
		verifiedAt := time.Date(2024, 3, 4, 5, 6, 7, 0, time.UTC)
		created := mustCreate(t, m, Draft{
			Traits:            json.RawMessage(`{"email": "Main@example.org", "backup": "backup@example.org"}`),
			Password:          ptr("pw-12345678"),
			VerifiedAddresses: map[string]*time.Time{"email:main@example.org": &verifiedAt},
			MetadataPublic:    json.RawMessage(`{"plan":"gold"}`),
		})
		want, err := m.Get(ctx, created.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(want.VerifiableAddresses) != 2 || len(want.RecoveryAddresses) != 2 || want.Credentials[CredentialsPassword] == nil {
			t.Fatalf("the identity lacks what the test compares: %+v", want)
		}
		got, err := m.FindByIdentifier(ctx, CredentialsPassword, "MAIN@example.org")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("FindByIdentifier read\n%+v\nGet read\n%+v", got, want)
		}
	})
}
