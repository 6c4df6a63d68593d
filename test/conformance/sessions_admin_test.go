package conformance

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	ory "github.com/ory/client-go"
)

// stAdminList walks every page of the admin session list.
func stAdminList(t *testing.T, s *Server, page func(ory.IdentityAPIListSessionsRequest) ory.IdentityAPIListSessionsRequest) []ory.Session {
	t.Helper()
	var all []ory.Session
	token := ""
	for n := 0; ; n++ {
		if n > 50 {
			t.Fatal("more than 50 pages: pagination does not end")
		}
		req := page(s.Admin.IdentityAPI.ListSessions(context.Background()))
		if token != "" {
			req = req.PageToken(token)
		}
		list, res, err := req.Execute()
		requireOK(t, res, err, http.StatusOK)
		all = append(all, list...)
		next := parseLink(res.Header.Get("Link"))["next"]
		if next == nil {
			return all
		}
		if token = next.Query().Get("page_token"); token == "" {
			t.Fatalf("rel=next has no page_token: %s", res.Header.Get("Link"))
		}
	}
}

func TestSessionsAdmin_ListFiltersAndExpands(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := stServer(t, store, nil)
		ctx := context.Background()
		a := stRegister(t, s, "st-admin-a")
		a2 := stLogin(t, s, a.Email, testPassword, http.Header{"User-Agent": {stAgent}})
		b := stRegister(t, s, "st-admin-b")
		revoked := stLogin(t, s, b.Email, testPassword, nil)
		res, err := s.Admin.IdentityAPI.DisableSession(ctx, revoked.SessionID).Execute()
		requireOK(t, res, err, http.StatusNoContent)

		all := []string{a.SessionID, a2.SessionID, b.SessionID, revoked.SessionID}
		everything := stAdminList(t, s, func(r ory.IdentityAPIListSessionsRequest) ory.IdentityAPIListSessionsRequest {
			return r.PageSize(2)
		})
		if got := stSessionIDs(everything); !stSameSet(got, all) {
			t.Errorf("all sessions over pages of 2 = %v, want %v", got, all)
		}
		active := stAdminList(t, s, func(r ory.IdentityAPIListSessionsRequest) ory.IdentityAPIListSessionsRequest {
			return r.Active(true)
		})
		if got := stSessionIDs(active); !stSameSet(got, all[:3]) {
			t.Errorf("active=true = %v, want %v", got, all[:3])
		}
		inactive := stAdminList(t, s, func(r ory.IdentityAPIListSessionsRequest) ory.IdentityAPIListSessionsRequest {
			return r.Active(false)
		})
		if got := stSessionIDs(inactive); !slices.Equal(got, []string{revoked.SessionID}) {
			t.Errorf("active=false = %v, want [%s]", got, revoked.SessionID)
		} else if inactive[0].Active == nil || *inactive[0].Active {
			t.Errorf("revoked session active = %v, want false", inactive[0].Active)
		}

		for _, sess := range everything {
			if sess.Identity != nil {
				t.Errorf("session %s carries the identity without expand=identity", sess.Id)
			}
		}
		expanded := stAdminList(t, s, func(r ory.IdentityAPIListSessionsRequest) ory.IdentityAPIListSessionsRequest {
			return r.Expand([]string{"identity", "devices"})
		})
		owner := map[string]string{a.SessionID: a.IdentityID, a2.SessionID: a.IdentityID, b.SessionID: b.IdentityID, revoked.SessionID: b.IdentityID}
		for _, sess := range expanded {
			if sess.Identity == nil || sess.Identity.Id != owner[sess.Id] {
				t.Errorf("session %s: identity = %s, want %s expanded", sess.Id, asJSON(sess.Identity), owner[sess.Id])
			}
			if sess.Id == a2.SessionID && (len(sess.Devices) == 0 || sess.Devices[0].GetUserAgent() != stAgent) {
				t.Errorf("session %s: devices = %s, want user_agent %q", sess.Id, asJSON(sess.Devices), stAgent)
			}
		}
	})
}

func TestSessionsAdmin_GetAndDisable(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := stServer(t, store, nil)
		ctx := context.Background()
		u := stRegister(t, s, "st-get")

		got, res, err := s.Admin.IdentityAPI.GetSession(ctx, u.SessionID).Expand([]string{"identity"}).Execute()
		requireOK(t, res, err, http.StatusOK)
		if got.Id != u.SessionID || got.Active == nil || !*got.Active || got.Identity == nil || got.Identity.Id != u.IdentityID {
			t.Errorf("getSession = %s, want active session %s of %s with the identity", asJSON(got), u.SessionID, u.IdentityID)
		}
		if got.ExpiresAt == nil || got.AuthenticatedAt == nil || got.IssuedAt == nil || len(got.AuthenticationMethods) == 0 {
			t.Errorf("getSession lacks timestamps or authentication methods: %s", asJSON(got))
		}

		_, res, err = s.Admin.IdentityAPI.GetSession(ctx, uuid.NewString()).Execute()
		status, body := sdkFailure(t, res, err)
		requireError(t, status, body, http.StatusNotFound)

		res, err = s.Admin.IdentityAPI.DisableSession(ctx, u.SessionID).Execute()
		requireOK(t, res, err, http.StatusNoContent)
		stRequireWhoami(t, s, http.StatusUnauthorized, "a session disabled by the admin", u)
		got, res, err = s.Admin.IdentityAPI.GetSession(ctx, u.SessionID).Execute()
		requireOK(t, res, err, http.StatusOK)
		if got.Active == nil || *got.Active {
			t.Errorf("disabled session active = %v, want false", got.Active)
		}

		res, err = s.Admin.IdentityAPI.DisableSession(ctx, uuid.NewString()).Execute()
		status, body = sdkFailure(t, res, err)
		requireError(t, status, body, http.StatusNotFound)
	})
}

func TestSessionsAdmin_ExtendRespectsEarliestPossibleExtend(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		ctx := context.Background()
		const lifespan = time.Hour

		t.Run("extends by the lifespan", func(t *testing.T) {
			t.Parallel()
			s := stServer(t, store, map[string]any{"session.lifespan": "1h"})
			u := stRegister(t, s, "st-extend")
			before, res, err := s.Admin.IdentityAPI.GetSession(ctx, u.SessionID).Execute()
			requireOK(t, res, err, http.StatusOK)
			time.Sleep(1100 * time.Millisecond)

			asked := time.Now()
			ext, res, err := s.Admin.IdentityAPI.ExtendSession(ctx, u.SessionID).Execute()
			requireOK(t, res, err, http.StatusOK)
			if ext.Id != u.SessionID || ext.ExpiresAt == nil {
				t.Fatalf("extendSession = %s, want session %s with expires_at", asJSON(ext), u.SessionID)
			}
			if !ext.ExpiresAt.After(*before.ExpiresAt) || !stNear(*ext.ExpiresAt, asked.Add(lifespan), 5*time.Second) {
				t.Errorf("expires_at = %v, want about now + 1h (%v), after the old %v", ext.ExpiresAt, asked.Add(lifespan), before.ExpiresAt)
			}
			_, sess, _ := s.whoami(t, plain(s), tokenHeader(u.Token))
			if sess == nil || !stNear(*sess.ExpiresAt, *ext.ExpiresAt, time.Second) {
				t.Errorf("whoami expires_at = %s, want the extended %v", asJSON(sess), ext.ExpiresAt)
			}

			_, res, err = s.Admin.IdentityAPI.ExtendSession(ctx, uuid.NewString()).Execute()
			status, body := sdkFailure(t, res, err)
			requireError(t, status, body, http.StatusNotFound)
		})

		t.Run("too early leaves expiry unchanged", func(t *testing.T) {
			t.Parallel()
			s := stServer(t, store, map[string]any{"session.lifespan": "1h", "session.earliest_possible_extend": "10m"})
			u := stRegister(t, s, "st-extend-early")
			before, res, err := s.Admin.IdentityAPI.GetSession(ctx, u.SessionID).Execute()
			requireOK(t, res, err, http.StatusOK)
			time.Sleep(1100 * time.Millisecond)
			ext, res, err := s.Admin.IdentityAPI.ExtendSession(ctx, u.SessionID).Execute()
			requireOK(t, res, err, http.StatusOK)
			if ext.ExpiresAt == nil || !stNear(*ext.ExpiresAt, *before.ExpiresAt, time.Millisecond) {
				t.Errorf("expires_at = %v, want unchanged %v: the session expires later than earliest_possible_extend from now", ext.ExpiresAt, before.ExpiresAt)
			}
		})
	})
}

func TestSessionsAdmin_IdentitySessions(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := stServer(t, store, nil)
		ctx := context.Background()
		u := stRegister(t, s, "st-ids")
		second := stLogin(t, s, u.Email, testPassword, nil)
		revoked := stLogin(t, s, u.Email, testPassword, nil)
		stranger := stRegister(t, s, "st-ids-stranger")
		res, err := s.Admin.IdentityAPI.DisableSession(ctx, revoked.SessionID).Execute()
		requireOK(t, res, err, http.StatusNoContent)

		list, res, err := s.Admin.IdentityAPI.ListIdentitySessions(ctx, u.IdentityID).Execute()
		requireOK(t, res, err, http.StatusOK)
		if got, want := stSessionIDs(list), []string{u.SessionID, second.SessionID, revoked.SessionID}; !stSameSet(got, want) {
			t.Errorf("listIdentitySessions = %v, want %v", got, want)
		}
		list, res, err = s.Admin.IdentityAPI.ListIdentitySessions(ctx, u.IdentityID).Active(true).Execute()
		requireOK(t, res, err, http.StatusOK)
		if got, want := stSessionIDs(list), []string{u.SessionID, second.SessionID}; !stSameSet(got, want) {
			t.Errorf("listIdentitySessions active=true = %v, want %v", got, want)
		}
		list, res, err = s.Admin.IdentityAPI.ListIdentitySessions(ctx, u.IdentityID).PageSize(1).Execute()
		requireOK(t, res, err, http.StatusOK)
		if len(list) != 1 || parseLink(res.Header.Get("Link"))["next"] == nil {
			t.Errorf("page_size=1: %d sessions, Link %q; want 1 and a rel=next", len(list), res.Header.Get("Link"))
		}

		unknown := uuid.NewString()
		_, res, err = s.Admin.IdentityAPI.ListIdentitySessions(ctx, unknown).Execute()
		status, body := sdkFailure(t, res, err)
		requireError(t, status, body, http.StatusNotFound)
		res, err = s.Admin.IdentityAPI.DeleteIdentitySessions(ctx, unknown).Execute()
		status, body = sdkFailure(t, res, err)
		requireError(t, status, body, http.StatusNotFound)

		res, err = s.Admin.IdentityAPI.DeleteIdentitySessions(ctx, u.IdentityID).Execute()
		requireOK(t, res, err, http.StatusNoContent)
		stRequireWhoami(t, s, http.StatusUnauthorized, "after deleteIdentitySessions", u, second)
		stRequireWhoami(t, s, http.StatusOK, "another identity after deleteIdentitySessions", stranger)
		list, res, err = s.Admin.IdentityAPI.ListIdentitySessions(ctx, u.IdentityID).Active(true).Execute()
		requireOK(t, res, err, http.StatusOK)
		if len(list) != 0 {
			t.Errorf("active sessions after deleteIdentitySessions = %v, want none", stSessionIDs(list))
		}
		// The identity itself stays.
		s.getIdentity(t, u.IdentityID)
	})
}

func TestSessionsRevocation_VisibleAcrossServersAtOnce(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		one := stServer(t, store, nil)
		two := startServer(t, serverSpec{store: store, dsn: one.DSN, set: map[string]any{
			"selfservice.flows.settings.ui_url":                          stSettingsUI,
			"selfservice.flows.login.ui_url":                             loginUI,
			"selfservice.flows.registration.after.password.hooks":        []any{map[string]any{"hook": "session"}},
			"selfservice.methods.password.config.haveibeenpwned_enabled": false,
		}})
		ctx := context.Background()
		u := stRegister(t, one, "st-cluster")
		viaAdmin := stLogin(t, two, u.Email, testPassword, nil)
		viaLogout := stLogin(t, one, u.Email, testPassword, nil)
		viaOthers := stLogin(t, two, u.Email, testPassword, nil)

		// Both servers know every session first, so a cache would be warm.
		for _, s := range []*Server{one, two} {
			stRequireWhoami(t, s, http.StatusOK, "before revocation on "+s.PublicURL, u, viaAdmin, viaLogout, viaOthers)
		}

		res, err := one.Admin.IdentityAPI.DisableSession(ctx, viaAdmin.SessionID).Execute()
		requireOK(t, res, err, http.StatusNoContent)
		stRequireWhoami(t, two, http.StatusUnauthorized, "disabled by the admin of the other server", viaAdmin)

		out := sendRequest(t, plain(two), http.MethodDelete, two.PublicURL+"/self-service/logout/api",
			map[string]any{"session_token": viaLogout.Token}, nil)
		if out.status != http.StatusNoContent {
			t.Fatalf("native logout on the second server: %d %s", out.status, out.body)
		}
		stRequireWhoami(t, one, http.StatusUnauthorized, "logged out on the other server", viaLogout)

		res, err = one.Public.FrontendAPI.DisableMySession(ctx, viaOthers.SessionID).XSessionToken(u.Token).Execute()
		requireOK(t, res, err, http.StatusNoContent)
		stRequireWhoami(t, two, http.StatusUnauthorized, "revoked by its owner on the other server", viaOthers)
		stRequireWhoami(t, two, http.StatusOK, "the revoking session", u)
	})
}
