package conformance

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	ory "github.com/ory/client-go"
)

// browserRegister registers email through a browser JSON submission and
// leaves the session cookie in b's jar.
func browserRegister(t *testing.T, b *browser, email string) nativeSuccess {
	t.Helper()
	f, _ := b.browserFlow(t, "registration", nil)
	res := b.do(t, http.MethodPost, b.s.submitURL("registration", f.ID), map[string]any{
		"csrf_token": f.csrf(t), "method": "password", "password": testPassword,
		"traits": map[string]any{"email": email},
	}, nil)
	if res.status != http.StatusOK {
		t.Fatalf("browser registration of %s: %d %s", email, res.status, res.body)
	}
	return decodeSuccess(t, res.body)
}

func TestSelfserviceSession_WhoamiWithoutValidCredentials(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, nil)
		s.registerNative(t, "whoami@example.org")
		for name, h := range map[string]http.Header{
			"nothing":        nil,
			"unknown token":  tokenHeader("ory_st_" + strings.Repeat("a", 32)),
			"garbage token":  tokenHeader("not a token at all"),
			"unknown bearer": {"Authorization": {"Bearer ory_st_" + strings.Repeat("b", 32)}},
			"forged cookie":  {"Cookie": {"ory_kratos_session=MTcwMDAwMDAwMHxmb3JnZWR8"}},
		} {
			status, _, res := s.whoami(t, plain(s), h)
			e := requireError(t, status, res.body, http.StatusUnauthorized)
			if e.Error.ID != "" {
				t.Errorf("%s: error.id = %q, want none (whoami hides it)", name, e.Error.ID)
			}
			if res.header.Get("X-Kratos-Authenticated-Identity-Id") != "" {
				t.Errorf("%s: X-Kratos-Authenticated-Identity-Id set on a 401", name)
			}
		}
		_, res, err := s.Public.FrontendAPI.ToSession(context.Background()).Execute()
		status, body := sdkFailure(t, res, err)
		requireError(t, status, body, http.StatusUnauthorized)
	})
}

func TestSelfserviceSession_LifespanAndCookieNameFromConfig(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, map[string]any{
			"session.lifespan":    "2h",
			"session.cookie.name": "my_app_session",
		})
		b := newBrowser(t, s)
		f, _ := b.browserFlow(t, "registration", nil)
		res := b.do(t, http.MethodPost, s.submitURL("registration", f.ID), map[string]any{
			"csrf_token": f.csrf(t), "method": "password", "password": testPassword,
			"traits": map[string]any{"email": "lifespan@example.org"},
		}, nil)
		if res.status != http.StatusOK {
			t.Fatalf("browser registration: %d %s", res.status, res.body)
		}
		c := setCookie(res, "my_app_session")
		if c == nil {
			t.Fatalf("no cookie my_app_session: %v", res.header.Values("Set-Cookie"))
		}
		if setCookie(res, "ory_kratos_session") != nil {
			t.Errorf("the default cookie name is still used next to session.cookie.name")
		}
		if c.MaxAge < int((2*time.Hour-time.Minute).Seconds()) || c.MaxAge > int((2*time.Hour).Seconds()) {
			t.Errorf("cookie Max-Age = %d, want about 2h (7200 s) as session.lifespan says", c.MaxAge)
		}
		ok := decodeSuccess(t, res.body)
		requireLifespan(t, ok.Session, 2*time.Hour)

		_, sess, who := s.whoami(t, b.http, nil)
		if sess == nil {
			t.Fatalf("whoami with the renamed cookie: %d %s", who.status, who.body)
		}
		// The renamed cookie is the one whoami reads.
		_, _, who = s.whoami(t, plain(s), http.Header{"Cookie": {"ory_kratos_session=" + c.Value}})
		if who.status != http.StatusUnauthorized {
			t.Errorf("whoami with the value under the default name: %d, want 401", who.status)
		}

		native := s.registerNative(t, "lifespan-native@example.org")
		requireLifespan(t, native.Session, 2*time.Hour)
	})
}

func requireLifespan(t *testing.T, sess *ory.Session, lifespan time.Duration) {
	t.Helper()
	if sess == nil || sess.ExpiresAt == nil || sess.AuthenticatedAt == nil {
		t.Fatalf("session without expires_at/authenticated_at: %s", asJSON(sess))
	}
	if d := sess.ExpiresAt.Sub(*sess.AuthenticatedAt); d < lifespan-time.Minute || d > lifespan+time.Minute {
		t.Errorf("expires_at - authenticated_at = %s, want %s", d, lifespan)
	}
}

func TestSelfserviceLogout_NativeRevokesSessionToken(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, nil)
		ctx := context.Background()
		reg := s.registerNative(t, "native-logout@example.org")
		other := s.loginNative(t, "native-logout@example.org", testPassword)
		if other.status != http.StatusOK {
			t.Fatalf("second login: %d %s", other.status, other.body)
		}
		otherToken := decodeSuccess(t, other.body).SessionToken

		logout := func(token string) (*http.Response, error) {
			return s.Public.FrontendAPI.PerformNativeLogout(ctx).
				PerformNativeLogoutBody(ory.PerformNativeLogoutBody{SessionToken: token}).Execute()
		}
		res, err := logout(reg.SessionToken)
		requireOK(t, res, err, http.StatusNoContent)
		if status, _, who := s.whoami(t, plain(s), tokenHeader(reg.SessionToken)); status != http.StatusUnauthorized {
			t.Errorf("whoami after logout: %d %s, want 401", status, who.body)
		}
		// Only that session ends.
		if status, _, who := s.whoami(t, plain(s), tokenHeader(otherToken)); status != http.StatusOK {
			t.Errorf("whoami with the other session's token: %d %s, want 200", status, who.body)
		}
		// Logging out twice is fine.
		res, err = logout(reg.SessionToken)
		requireOK(t, res, err, http.StatusNoContent)

		res, err = logout("ory_st_" + strings.Repeat("z", 32))
		status, body := sdkFailure(t, res, err)
		requireError(t, status, body, http.StatusForbidden)

		raw := sendRequest(t, plain(s), http.MethodDelete, s.PublicURL+"/self-service/logout/api", map[string]any{"session_token": ""}, nil)
		requireError(t, raw.status, raw.body, http.StatusBadRequest)
		raw = sendRequest(t, plain(s), http.MethodDelete, s.PublicURL+"/self-service/logout/api", `{"session_token":`, nil)
		requireError(t, raw.status, raw.body, http.StatusBadRequest)
	})
}

func TestSelfserviceLogout_BrowserFlowRevokesCookieSession(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, nil)
		ctx := context.Background()

		// Without a session there is nothing to log out.
		_, res, err := newBrowser(t, s).sdk.FrontendAPI.CreateBrowserLogoutFlow(ctx).Execute()
		status, body := sdkFailure(t, res, err)
		requireError(t, status, body, http.StatusUnauthorized)

		for _, tc := range []struct {
			name, returnTo, want string
			json                 bool
		}{
			{name: "default return", want: defaultReturn},
			{name: "return_to", returnTo: appURL + "/signed-out", want: appURL + "/signed-out"},
			{name: "json", json: true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				b := newBrowser(t, s)
				browserRegister(t, b, uniqueEmail("logout"))
				cookie := b.cookie("ory_kratos_session")
				if cookie == nil {
					t.Fatal("no session cookie after registration")
				}
				req := b.sdk.FrontendAPI.CreateBrowserLogoutFlow(ctx)
				if tc.returnTo != "" {
					req = req.ReturnTo(tc.returnTo)
				}
				flow, res, err := req.Execute()
				requireOK(t, res, err, http.StatusOK)
				if !strings.HasPrefix(flow.LogoutToken, "ory_lo_") {
					t.Errorf("logout_token = %q, want the ory_lo_ prefix", flow.LogoutToken)
				}
				u, err := url.Parse(flow.LogoutUrl)
				if err != nil || withoutQuery(u) != s.PublicURL+"/self-service/logout" || u.Query().Get("token") != flow.LogoutToken {
					t.Fatalf("logout_url = %q, want %s/self-service/logout?token=<logout_token>", flow.LogoutUrl, s.PublicURL)
				}

				var out response
				if tc.json {
					// The SDK asks for JSON, which answers 204 instead of a redirect.
					res, err := b.sdk.FrontendAPI.UpdateLogoutFlow(ctx).Token(flow.LogoutToken).Execute()
					requireOK(t, res, err, http.StatusNoContent)
					out = response{status: res.StatusCode, header: res.Header}
				} else {
					out = b.do(t, http.MethodGet, flow.LogoutUrl, nil, nil)
					if loc := redirectTarget(t, out); loc.String() != tc.want {
						t.Errorf("Location = %s, want %s", loc, tc.want)
					}
				}
				if c := setCookie(out, "ory_kratos_session"); c == nil || c.MaxAge >= 0 && c.Value != "" {
					t.Errorf("logout did not clear the session cookie: %v", out.header.Values("Set-Cookie"))
				}
				// The old cookie value no longer names a session.
				if status, _, who := s.whoami(t, plain(s), http.Header{"Cookie": {"ory_kratos_session=" + cookie.Value}}); status != http.StatusUnauthorized {
					t.Errorf("whoami with the old cookie after logout: %d %s, want 401", status, who.body)
				}
			})
		}

		// A logout return_to outside the allow list is refused.
		b := newBrowser(t, s)
		browserRegister(t, b, uniqueEmail("logout-forbidden"))
		_, res, err = b.sdk.FrontendAPI.CreateBrowserLogoutFlow(ctx).ReturnTo("https://evil.example.org/").Execute()
		status, body = sdkFailure(t, res, err)
		if e := requireError(t, status, body, http.StatusBadRequest); e.Error.ID != "self_service_flow_return_to_forbidden" {
			t.Errorf("error.id = %q, want self_service_flow_return_to_forbidden", e.Error.ID)
		}
	})
}

func TestSelfserviceLogout_AfterURLFromConfig(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, map[string]any{"selfservice.flows.logout.after.default_browser_return_url": logoutReturn})
		b := newBrowser(t, s)
		browserRegister(t, b, "logout-after@example.org")
		flow, res, err := b.sdk.FrontendAPI.CreateBrowserLogoutFlow(context.Background()).Execute()
		requireOK(t, res, err, http.StatusOK)
		out := b.do(t, http.MethodGet, flow.LogoutUrl, nil, nil)
		if loc := redirectTarget(t, out); loc.String() != logoutReturn {
			t.Errorf("Location = %s, want %s (selfservice.flows.logout.after.default_browser_return_url)", loc, logoutReturn)
		}
		if status, _, who := s.whoami(t, b.http, nil); status != http.StatusUnauthorized {
			t.Errorf("whoami after logout: %d %s, want 401", status, who.body)
		}
	})
}

func TestSelfserviceSession_ExpiredSessionIsRejected(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, map[string]any{"session.lifespan": "2s"})
		reg := s.registerNative(t, "short-session@example.org")
		if status, _, who := s.whoami(t, plain(s), tokenHeader(reg.SessionToken)); status != http.StatusOK {
			t.Fatalf("whoami right after registration: %d %s", status, who.body)
		}
		time.Sleep(2500 * time.Millisecond)
		status, _, who := s.whoami(t, plain(s), tokenHeader(reg.SessionToken))
		requireError(t, status, who.body, http.StatusUnauthorized)
		// An expired session no longer blocks a new login.
		if res := s.loginNative(t, "short-session@example.org", testPassword); res.status != http.StatusOK {
			t.Errorf("login after the session expired: %d %s", res.status, res.body)
		}
	})
}

func TestSelfserviceSession_InactiveIdentityHasNoSession(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, nil)
		reg := s.registerNative(t, "deactivated@example.org")
		_, res, err := s.Admin.IdentityAPI.PatchIdentity(context.Background(), reg.Identity.Id).JsonPatch([]ory.JsonPatch{
			{Op: "replace", Path: "/state", Value: "inactive"},
		}).Execute()
		requireOK(t, res, err, http.StatusOK)

		status, _, who := s.whoami(t, plain(s), tokenHeader(reg.SessionToken))
		requireError(t, status, who.body, http.StatusUnauthorized)

		login := s.loginNative(t, "deactivated@example.org", testPassword)
		if login.status == http.StatusOK {
			t.Fatalf("an inactive identity logged in: %s", login.body)
		}
		if login.status >= 500 {
			t.Errorf("login of an inactive identity: server error %d: %s", login.status, login.body)
		}
		if strings.Contains(string(login.body), "ory_st_") {
			t.Errorf("the refused login handed out a session token: %s", login.body)
		}
	})
}

func TestSelfserviceSession_ResponsesAreNotCacheable(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, nil)
		b := newBrowser(t, s)
		_, flowRes := b.browserFlow(t, "registration", nil)
		reg := browserRegister(t, b, "nocache@example.org")
		_, _, who := s.whoami(t, b.http, nil)
		login := s.loginNative(t, "nocache@example.org", testPassword)
		for name, res := range map[string]response{"browser flow": flowRes, "whoami": who, "native login": login} {
			cc := res.header.Get("Cache-Control")
			if !strings.Contains(cc, "no-store") || !strings.Contains(cc, "private") {
				t.Errorf("%s: Cache-Control = %q, want private, no-cache, no-store, must-revalidate", name, cc)
			}
		}
		if c := b.cookie("ory_kratos_session"); c == nil || strings.Contains(c.Value, "ory_st_") {
			t.Errorf("the session cookie must hold a sealed value, not the raw session token: %v", c)
		}
		if reg.Session == nil {
			t.Errorf("browser registration answered no session")
		}
	})
}

func TestSelfserviceLogout_TokenMustMatchSessionCookie(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, nil)
		ctx := context.Background()
		alice, mallory := newBrowser(t, s), newBrowser(t, s)
		browserRegister(t, alice, "alice-logout@example.org")
		browserRegister(t, mallory, "mallory-logout@example.org")
		flow, res, err := alice.sdk.FrontendAPI.CreateBrowserLogoutFlow(ctx).Execute()
		requireOK(t, res, err, http.StatusOK)
		// Each refusal is checked without stopping, to report them all.
		refused := func(name string, out response, want int) {
			t.Helper()
			if out.status != want {
				t.Errorf("%s: status %d, want %d: %s", name, out.status, want, out.body)
			}
		}
		stillIn := func(name string, b *browser) {
			t.Helper()
			if status, _, who := s.whoami(t, b.http, nil); status != http.StatusOK {
				t.Errorf("%s lost the session: whoami %d %s", name, status, who.body)
			}
		}

		// Alice's cookie with a wrong token, or with none.
		out := alice.do(t, http.MethodGet, s.PublicURL+"/self-service/logout?token=ory_lo_"+strings.Repeat("x", 32), nil, jsonAccept)
		refused("alice's cookie with a wrong token", out, http.StatusForbidden)
		stillIn("alice (wrong token)", alice)
		out = alice.do(t, http.MethodGet, s.PublicURL+"/self-service/logout", nil, jsonAccept)
		refused("no token", out, http.StatusBadRequest)
		stillIn("alice (no token)", alice)

		// The token alone, without any session cookie, logs nobody out.
		out = sendRequest(t, plain(s), http.MethodGet, flow.LogoutUrl, nil, jsonAccept)
		refused("alice's token without a cookie", out, http.StatusUnauthorized)
		stillIn("alice (token used without a cookie)", alice)

		// Another user's session cookie with Alice's token: refused, nobody
		// is logged out.
		out = mallory.do(t, http.MethodGet, flow.LogoutUrl, nil, jsonAccept)
		refused("alice's token with mallory's cookie", out, http.StatusForbidden)
		stillIn("alice (token used with another session)", alice)
		stillIn("mallory", mallory)

		// Alice's own logout, with a fresh token in case the old one was
		// spent above.
		flow, _, err = alice.sdk.FrontendAPI.CreateBrowserLogoutFlow(ctx).Execute()
		if err != nil {
			t.Fatalf("alice can no longer open a logout flow (%v): her session is gone", err)
		}
		out = alice.do(t, http.MethodGet, flow.LogoutUrl, nil, jsonAccept)
		if out.status != http.StatusNoContent {
			t.Errorf("alice's own logout: %d %s, want 204", out.status, out.body)
		}
		if status, _, _ := s.whoami(t, alice.http, nil); status != http.StatusUnauthorized {
			t.Errorf("whoami after alice's logout: %d, want 401", status)
		}
		stillIn("mallory after alice's logout", mallory)
	})
}
