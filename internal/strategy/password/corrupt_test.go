package password

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

// A stored credential that cannot be read is a server fault to report,
// never a missing password that makes the login look like a wrong guess.
func TestLoginRefusesACorruptCredential(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s, Policy{})
		pw := "the right password"
		i, err := f.ids.Create(ctx, identity.Draft{Traits: json.RawMessage(`{"email":"corrupt@example.org"}`), Password: &pw})
		if err != nil {
			t.Fatal(err)
		}
		cred := i.Credentials[identity.CredentialsPassword]
		if err := f.ids.SetCredentialConfig(ctx, cred.ID, json.RawMessage(`{"hashed_password":42}`)); err != nil {
			t.Fatal(err)
		}
		_, err = f.st.Login(ctx, flow.Payload{"identifier": "corrupt@example.org", "password": pw})
		var fe flow.FormError
		if err == nil || errors.As(err, &fe) {
			t.Fatalf("Login with a corrupt credential = %v, want a server error", err)
		}
	})
}
