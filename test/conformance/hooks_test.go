package conformance

import (
	"net/http"
	"testing"
)

// revoke_active_sessions after login (Kratos's login after-hook): a new
// sign-in ends the identity's other sessions, in the same transaction.
func TestHooks_LoginRevokesOtherSessions(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, map[string]any{
			"selfservice.flows.login.after.password.hooks": []any{map[string]any{"hook": "revoke_active_sessions"}},
		})
		email := uniqueEmail("hook-revoke")
		s.createIdentity(t, withPassword(identityBody(email), testPassword))
		first := decodeSuccess(t, s.loginNative(t, email, testPassword).body)
		second := decodeSuccess(t, s.loginNative(t, email, testPassword).body)
		if status, _, _ := s.whoami(t, plain(s), tokenHeader(first.SessionToken)); status != http.StatusUnauthorized {
			t.Errorf("the first session after a second sign-in: whoami %d, want 401", status)
		}
		if status, _, _ := s.whoami(t, plain(s), tokenHeader(second.SessionToken)); status != http.StatusOK {
			t.Errorf("the new session: whoami %d, want 200", status)
		}
	})
}
