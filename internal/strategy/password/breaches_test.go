package password

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// fakeBreaches answers counts from a table and records what it was asked.
type fakeBreaches struct {
	counts map[string]int
	err    error
	asked  []string
}

func (f *fakeBreaches) Check(_ context.Context, password string) (int, error) {
	f.asked = append(f.asked, password)
	return f.counts[password], f.err
}

func TestBreachedPasswordsAreRefused(t *testing.T) {
	b := &fakeBreaches{counts: map[string]int{"correct horse battery": 3, "seen once only here": 1}}
	f := newFixture(t, nil, Policy{MinLength: 8, IdentifierSimilarity: true, Breaches: b, MaxBreaches: 1})

	m := only(t, f.st.check(ctx, "correct horse battery", nil), "password")
	if m.ID != 4000034 || m.Context["breaches"] != 3 {
		t.Errorf("breached password: %+v", m)
	}
	// max_breaches is how many appearances are still fine.
	if err := f.st.check(ctx, "seen once only here", nil); err != nil {
		t.Errorf("one breach with max_breaches 1: %v", err)
	}
	if err := f.st.check(ctx, "never seen anywhere", nil); err != nil {
		t.Errorf("clean password: %v", err)
	}

	// The cheap checks come first: a password they refuse is never sent.
	b.asked = nil
	if m := only(t, f.st.check(ctx, "short", nil), "password"); m.ID != 4000032 {
		t.Errorf("short password: %+v", m)
	}
	if m := only(t, f.st.check(ctx, "alice@example.org1", []string{"alice@example.org"}), "password"); m.ID != 4000031 {
		t.Errorf("similar password: %+v", m)
	}
	if len(b.asked) != 0 {
		t.Errorf("asked about passwords the local checks refuse: %d", len(b.asked))
	}
}

func TestBreachCheckFailures(t *testing.T) {
	down := errors.New("connection refused")

	ignoring := newFixture(t, nil, Policy{Breaches: &fakeBreaches{err: down}, IgnoreBreachErrors: true})
	if err := ignoring.st.check(ctx, "correct horse battery", nil); err != nil {
		t.Errorf("ignore_network_errors: %v", err)
	}

	strict := newFixture(t, nil, Policy{Breaches: &fakeBreaches{err: down}})
	err := strict.st.check(ctx, "correct horse battery", nil)
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != http.StatusBadGateway || !errors.Is(err, down) {
		t.Fatalf("strict: %v", err)
	}
	var fe flow.FormError
	if errors.As(err, &fe) {
		t.Errorf("an unavailable check is no form error: %v", err)
	}

	// A request that went away is not turned into an accepted password.
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	err = ignoring.st.check(canceled, "correct horse battery", nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("canceled request: %v", err)
	}
}

func TestCheckNewAsksAboutBreaches(t *testing.T) {
	b := &fakeBreaches{counts: map[string]int{"correct horse battery": 7}}
	f := newFixture(t, nil, Policy{MinLength: 8, Breaches: b})
	i := &identity.Identity{SchemaID: "default", Traits: json.RawMessage(`{"email":"new@example.org"}`),
		Credentials: map[string]*identity.Credential{identity.CredentialsPassword: {Identifiers: []string{"new@example.org"}}}}
	if m := only(t, f.st.CheckNew(ctx, i, "correct horse battery"), "password"); m.ID != 4000034 || m.Context["breaches"] != 7 {
		t.Errorf("breached new password: %+v", m)
	}
	if err := f.st.CheckNew(ctx, i, "another fine passphrase"); err != nil {
		t.Errorf("clean new password: %v", err)
	}
}
