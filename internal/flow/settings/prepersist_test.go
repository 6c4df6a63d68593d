package settings

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/session"
)

// named is a settings method that is only its id.
type named string

func (m named) ID() string                                                 { return string(m) }
func (named) Serves(kind flow.Kind) bool                                   { return kind == flow.Settings }
func (named) AddNodes(context.Context, *flow.Flow, flow.NodeContext) error { return nil }
func (named) Submit(context.Context, *flow.Submission) (*flow.Outcome, error) {
	return &flow.Outcome{}, nil
}

func TestUpcomingIsTheIdentityAsTheChangeLeavesIt(t *testing.T) {
	current := &identity.Identity{ID: uuid.New(), SchemaID: "default", Traits: json.RawMessage(`{"email":"old@example.org"}`)}
	s := &session.Session{Identity: current}
	h := &Handler{}
	submitted := flow.Payload{"traits": map[string]any{"email": "new@example.org"}}

	got, err := h.upcoming(s, named(flow.ProfileMethod), &flow.Outcome{Identity: current}, submitted)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Traits) != `{"email":"new@example.org"}` || got.ID != current.ID || got.SchemaID != "default" {
		t.Errorf("a profile change shows %s of %s, want the submitted traits of the same identity", got.Traits, got.ID)
	}
	if string(current.Traits) != `{"email":"old@example.org"}` {
		t.Errorf("the session's identity was changed in place: %s", current.Traits)
	}

	// Methods that change credentials show the identity as it is.
	for _, m := range []string{"password", "totp", "lookup_secret", "webauthn"} {
		got, err := h.upcoming(s, named(m), &flow.Outcome{Identity: current}, submitted)
		if err != nil || got != current {
			t.Errorf("%s: upcoming = %v (%v), want the current identity", m, got, err)
		}
	}
	// Without an identity in the outcome, the session's.
	if got, _ := h.upcoming(s, named("password"), &flow.Outcome{}, nil); got != current {
		t.Errorf("upcoming without an outcome identity = %v, want the session's", got)
	}
	// A profile submission without traits changes none.
	if got, _ := h.upcoming(s, named(flow.ProfileMethod), &flow.Outcome{}, flow.Payload{}); got != current {
		t.Errorf("upcoming of a profile submission without traits = %v, want the current identity", got)
	}
}
