package session

import (
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

func TestOwnSessions(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		f := newFixture(t, s)
		ada, bob := f.identity(t, "ada@example.org"), f.identity(t, "bob@example.org")
		current, phone, laptop := f.issue(t, ada, nil), f.issue(t, ada, nil), f.issue(t, ada, nil)
		bobs := f.issue(t, bob, nil)
		valid := func(x *Session) bool {
			_, err := f.m.ByToken(ctx, x.Token)
			return err == nil
		}

		list, more, err := f.m.ActiveOf(ctx, ada.ID, 10)
		if err != nil || more || len(list) != 3 {
			t.Fatalf("ActiveOf: %d sessions, more %v, %v", len(list), more, err)
		}
		if list, more, _ := f.m.ActiveOf(ctx, ada.ID, 2); len(list) != 2 || !more {
			t.Errorf("ActiveOf(2): %d sessions, more %v", len(list), more)
		}

		for name, id := range map[string]uuid.UUID{"another identity's": bobs.ID, "itself": current.ID, "unknown": uuid.New()} {
			if err := f.m.RevokeOwn(ctx, current, id); !errors.Is(err, ErrSessionNotFound) {
				t.Errorf("RevokeOwn(%s) = %v, want ErrSessionNotFound", name, err)
			}
		}
		if !valid(bobs) || !valid(current) {
			t.Fatal("a refused revocation ended a session")
		}
		if err := f.m.RevokeOwn(ctx, current, phone.ID); err != nil || valid(phone) {
			t.Fatalf("RevokeOwn(phone) = %v, still valid %v", err, valid(phone))
		}
		if err := f.m.RevokeOwn(ctx, current, phone.ID); err != nil {
			t.Errorf("revoking an ended session again: %v", err)
		}
		if list, _, _ := f.m.ActiveOf(ctx, ada.ID, 10); len(list) != 2 {
			t.Errorf("ActiveOf after a revocation: %d", len(list))
		}

		n, err := f.m.RevokeOthersOf(ctx, current)
		if err != nil || n != 1 || valid(laptop) || !valid(current) || !valid(bobs) {
			t.Errorf("RevokeOthersOf = %d, %v; laptop %v, current %v, bob's %v", n, err, valid(laptop), valid(current), valid(bobs))
		}
		if !f.m.SatisfiesWhoami(current) {
			t.Error("an aal1 session of an identity without a second factor does not satisfy whoami")
		}
	})
}
