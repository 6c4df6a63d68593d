// Package identitytest builds identity managers for tests in other packages;
// only tests import it.
package identitytest

import (
	"context"
	"testing"

	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/hasher"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/store"
)

// NewManager answers a manager over s with the default identity schema and a
// bcrypt hasher at the lowest cost, so that tests hashing passwords stay fast.
// The hasher comes back too, for tests that hash or verify directly.
func NewManager(t testing.TB, s *store.Store, publicURL string) (*identity.Manager, *hasher.Hasher) {
	t.Helper()
	reg, err := schema.Load(context.Background(), nil, "default")
	if err != nil {
		t.Fatal(err)
	}
	h, err := hasher.New(config.Hashers{Algorithm: "bcrypt", Bcrypt: config.Bcrypt{Cost: 4}})
	if err != nil {
		t.Fatal(err)
	}
	return identity.NewManager(s, reg, h, publicURL), h
}
