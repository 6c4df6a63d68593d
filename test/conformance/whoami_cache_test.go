package conformance

import (
	"context"
	"net/http"
	"testing"

	ory "github.com/ory/client-go"
)

// whoami keeps session rows in each process (sqlite.whoami_cache and
// postgres.whoami_cache, on by default). Two servers on one database must still
// answer every change made through the other at once: the new traits, a
// deactivated identity, a reactivated one, a revoked session. On SQLite the
// two are two processes on one file; on PostgreSQL two instances behind a
// balancer.
func TestWhoami_IdentityChangesVisibleAcrossServersAtOnce(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		one := stServer(t, store, nil)
		two := startServer(t, serverSpec{store: store, dsn: one.DSN, set: stSpec(store, nil).set})
		ctx := context.Background()
		u := stRegister(t, one, "whoami-cache")

		// Warm both servers' answers.
		for range 3 {
			for _, s := range []*Server{one, two} {
				stRequireWhoami(t, s, http.StatusOK, "warm-up on "+s.PublicURL, u)
			}
		}

		emailOf := func(s *Server) string {
			t.Helper()
			status, sess, res := s.whoami(t, plain(s), tokenHeader(u.Token))
			if status != http.StatusOK {
				t.Fatalf("whoami on %s: %d %s", s.PublicURL, status, res.body)
			}
			email, _ := sess.Identity.Traits.(map[string]any)["email"].(string)
			return email
		}
		renamed := uniqueEmail("whoami-renamed")
		update := func(s *Server, state string) {
			t.Helper()
			body := ory.UpdateIdentityBody{SchemaId: "default", State: state, Traits: map[string]any{"email": renamed}}
			_, res, err := s.Admin.IdentityAPI.UpdateIdentity(ctx, u.IdentityID).UpdateIdentityBody(body).Execute()
			requireOK(t, res, err, http.StatusOK)
		}

		update(two, "active")
		if got := emailOf(one); got != renamed {
			t.Errorf("after a trait change on the other server, whoami shows %q, want %q", got, renamed)
		}

		update(one, "inactive")
		stRequireWhoami(t, two, http.StatusUnauthorized, "identity deactivated on the other server", u)
		stRequireWhoami(t, one, http.StatusUnauthorized, "identity deactivated on this server", u)

		update(two, "active")
		stRequireWhoami(t, one, http.StatusOK, "identity reactivated on the other server", u)
		if got := emailOf(one); got != renamed {
			t.Errorf("after reactivation whoami shows %q, want %q", got, renamed)
		}

		stRequireWhoami(t, two, http.StatusOK, "warm before the revocation", u)
		res, err := one.Admin.IdentityAPI.DisableSession(ctx, u.SessionID).Execute()
		requireOK(t, res, err, http.StatusNoContent)
		stRequireWhoami(t, two, http.StatusUnauthorized, "session revoked on the other server", u)
		stRequireWhoami(t, one, http.StatusUnauthorized, "session revoked on this server", u)
	})
}
