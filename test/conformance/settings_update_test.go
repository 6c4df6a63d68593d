package conformance

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	ory "github.com/ory/client-go"
)

func TestSettingsProfile_UpdatesTraits(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := stServer(t, store, nil)
		u := stRegister(t, s, "st-profile")
		f := stNativeSettings(t, s, u.Token)

		traits := map[string]any{"email": u.Email, "name": map[string]any{"first": "Ada", "last": "Lovelace"}}
		out, res, err := stSubmitProfile(t, s, f.ID, u.Token, traits)
		requireOK(t, res, err, http.StatusOK)
		done := stFlowOf(t, res)
		stRequireSuccess(t, done)
		if out.Id != f.ID || out.Identity.Id != u.IdentityID {
			t.Errorf("answer is flow %s of %s, want %s of %s", out.Id, out.Identity.Id, f.ID, u.IdentityID)
		}
		if !sameJSON(done.Identity.Traits, traits) {
			t.Errorf("flow identity traits = %s, want %s", asJSON(done.Identity.Traits), asJSON(traits))
		}
		if n := done.node(t, "traits.name.first"); n.value() != "Ada" {
			t.Errorf("traits.name.first is prefilled with %v, want the new value Ada", n.value())
		}
		if got := s.getIdentity(t, u.IdentityID); !sameJSON(got.Traits, traits) {
			t.Errorf("stored traits = %s, want %s", asJSON(got.Traits), asJSON(traits))
		}
		_, sess, _ := s.whoami(t, plain(s), tokenHeader(u.Token))
		if sess == nil || sess.Identity == nil || !sameJSON(sess.Identity.Traits, traits) {
			t.Errorf("whoami does not show the new traits: %s", asJSON(sess))
		}
		// A fresh flow is prefilled with the current values.
		again := stNativeSettings(t, s, u.Token)
		if n := again.node(t, "traits.name.last"); n.value() != "Lovelace" {
			t.Errorf("new flow traits.name.last = %v, want Lovelace", n.value())
		}
	})
}

func TestSettingsProfile_InvalidTraitsAnswer400WithMessages(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := stServer(t, store, nil)
		u := stRegister(t, s, "st-invalid")
		before := s.getIdentity(t, u.IdentityID)

		for _, tc := range []struct {
			name   string
			traits map[string]any
			node   string
			id     int64
		}{
			{"invalid email", map[string]any{"email": "not-an-email"}, "traits.email", 4000040},
			{"missing email", map[string]any{"name": map[string]any{"first": "Ada"}}, "traits.email", 4000002},
			{"wrong type", map[string]any{"email": u.Email, "name": map[string]any{"first": 42}}, "traits.name.first", 4000026},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f := stNativeSettings(t, s, u.Token)
				_, res, err := stSubmitProfile(t, s, f.ID, u.Token, tc.traits)
				status, body := sdkFailure(t, res, err)
				if status != http.StatusBadRequest {
					t.Fatalf("status %d, want 400 with the flow: %s", status, body)
				}
				out := stDecodeFlow(t, body)
				if out.ID != f.ID || out.State != "show_form" {
					t.Errorf("answer is flow %s in state %v, want %s in show_form", out.ID, out.State, f.ID)
				}
				requireNodeMessage(t, out.flowView, tc.node, tc.id)
			})
		}
		if after := s.getIdentity(t, u.IdentityID); !sameJSON(after.Traits, before.Traits) {
			t.Errorf("rejected updates changed the traits: %s, was %s", asJSON(after.Traits), asJSON(before.Traits))
		}

		t.Run("unknown method", func(t *testing.T) {
			f := stNativeSettings(t, s, u.Token)
			res := stSubmitNative(t, s, f.ID, u.Token, map[string]any{"method": "no-such-method"})
			if res.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", res.status, res.body)
			}
			requireFlowMessage(t, stDecodeFlow(t, res.body).flowView, 4010004)
		})
	})
}

func TestSettingsPassword_ChangesPasswordUnderPolicy(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := stServer(t, store, nil)
		u := stRegister(t, s, "st-pw-change")

		t.Run("policy", func(t *testing.T) {
			f := stNativeSettings(t, s, u.Token)
			_, res, err := stSubmitPassword(t, s, f.ID, u.Token, "abc12")
			status, body := sdkFailure(t, res, err)
			if status != http.StatusBadRequest {
				t.Fatalf("short password: status %d, want 400: %s", status, body)
			}
			out := stDecodeFlow(t, body)
			m := requireNodeMessage(t, out.flowView, "password", 4000032)
			if m.ID != 0 && !sameJSON(m.Context, map[string]any{"min_length": 8, "actual_length": 5}) {
				t.Errorf("4000032 context = %s, want {min_length: 8, actual_length: 5}", asJSON(m.Context))
			}
			if v, ok := out.node(t, "password").Attributes["value"]; ok && v != "" && v != nil {
				t.Errorf("the password node echoes the submitted password: %v", v)
			}

			_, res, err = stSubmitPassword(t, s, f.ID, u.Token, u.Email)
			status, body = sdkFailure(t, res, err)
			if status != http.StatusBadRequest {
				t.Fatalf("password equal to the identifier: status %d, want 400: %s", status, body)
			}
			requireNodeMessage(t, stDecodeFlow(t, body).flowView, "password", 4000031)

			if res := s.loginNative(t, u.Email, testPassword); res.status != http.StatusOK {
				t.Errorf("a rejected change broke the old password: login %d %s", res.status, res.body)
			}
		})

		t.Run("success", func(t *testing.T) {
			const newPassword = "brand-New-Secret-42"
			f := stNativeSettings(t, s, u.Token)
			_, res, err := stSubmitPassword(t, s, f.ID, u.Token, newPassword)
			requireOK(t, res, err, http.StatusOK)
			stRequireSuccess(t, stFlowOf(t, res))

			if res := s.loginNative(t, u.Email, newPassword); res.status != http.StatusOK {
				t.Errorf("login with the new password: %d %s", res.status, res.body)
			}
			if res := s.loginNative(t, u.Email, testPassword); res.status != http.StatusBadRequest {
				t.Errorf("login with the old password: %d, want 400: %s", res.status, res.body)
			}
			// Without the revoke hook, the changing session stays valid.
			stRequireWhoami(t, s, http.StatusOK, "after the change", u)
		})
	})
}

func TestSettingsPrivileged_StaleSessionNeedsRefreshLogin(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := stServer(t, store, map[string]any{"selfservice.flows.settings.privileged_session_max_age": "1s"})
		ctx := context.Background()
		u := stRegister(t, s, "st-stale")
		b := stBrowserLogin(t, s, u.Email, testPassword)
		f := stNativeSettings(t, s, u.Token)
		bf := stBrowserSettings(t, b, nil)
		time.Sleep(1500 * time.Millisecond)

		// A change of non-sensitive traits needs no recent login.
		traits := map[string]any{"email": u.Email, "name": map[string]any{"first": "Stale"}}
		_, res, err := stSubmitProfile(t, s, stNativeSettings(t, s, u.Token).ID, u.Token, traits)
		requireOK(t, res, err, http.StatusOK)

		// The password needs one.
		wantRedirect := s.PublicURL + "/self-service/login/browser?" + url.Values{
			"refresh": {"true"}, "return_to": {stSettingsUI + "?flow=" + f.ID},
		}.Encode()
		_, res, err = stSubmitPassword(t, s, f.ID, u.Token, "after-Refresh-Secret-9")
		status, body := sdkFailure(t, res, err)
		e := requireError(t, status, body, http.StatusForbidden)
		if e.Error.ID != "session_refresh_required" {
			t.Errorf("error.id = %q, want session_refresh_required", e.Error.ID)
		}
		if got, _ := e.Error.Details["redirect_browser_to"].(string); !stSameURL(got, wantRedirect) {
			t.Errorf("details.redirect_browser_to = %q, want %q", got, wantRedirect)
		}

		// So does a new identifier.
		_, res, err = stSubmitProfile(t, s, f.ID, u.Token, map[string]any{"email": uniqueEmail("st-stale-new")})
		status, body = sdkFailure(t, res, err)
		if e := requireError(t, status, body, http.StatusForbidden); e.Error.ID != "session_refresh_required" {
			t.Errorf("email change: error.id = %q, want session_refresh_required", e.Error.ID)
		}
		if got := s.getIdentity(t, u.IdentityID); traitsOf(t, got)["email"] != u.Email {
			t.Errorf("a stale session changed the email to %v", traitsOf(t, got)["email"])
		}

		t.Run("browser form is sent to the refresh login", func(t *testing.T) {
			res := b.do(t, http.MethodPost, s.submitURL("settings", bf.ID), url.Values{
				"csrf_token": {bf.csrf(t)}, "method": {"password"}, "password": {"browser-Refresh-Secret-9"},
			}, nil)
			loc := redirectTarget(t, res)
			want := s.PublicURL + "/self-service/login/browser?" + url.Values{
				"refresh": {"true"}, "return_to": {stSettingsUI + "?flow=" + bf.ID},
			}.Encode()
			if !stSameURL(loc.String(), want) {
				t.Errorf("Location = %s, want %s", loc, want)
			}
		})

		t.Run("after a refresh login the same flow completes", func(t *testing.T) {
			lf, res, err := s.Public.FrontendAPI.CreateNativeLoginFlow(ctx).Refresh(true).XSessionToken(u.Token).Execute()
			requireOK(t, res, err, http.StatusOK)
			login := sendRequest(t, plain(s), http.MethodPost, s.submitURL("login", lf.Id), map[string]any{
				"method": "password", "identifier": u.Email, "password": testPassword,
			}, tokenHeader(u.Token))
			if login.status != http.StatusOK {
				t.Fatalf("refresh login: %d %s", login.status, login.body)
			}
			const newPassword = "after-Refresh-Secret-9"
			_, res, err = stSubmitPassword(t, s, f.ID, u.Token, newPassword)
			requireOK(t, res, err, http.StatusOK)
			done := stFlowOf(t, res)
			stRequireSuccess(t, done)
			if done.ID != f.ID {
				t.Errorf("completed flow %s, want the same flow %s", done.ID, f.ID)
			}
			if res := s.loginNative(t, u.Email, newPassword); res.status != http.StatusOK {
				t.Errorf("login with the new password: %d %s", res.status, res.body)
			}
		})
	})
}

// stSameURL compares two URLs by scheme, host, path and decoded query.
func stSameURL(a, b string) bool {
	ua, errA := url.Parse(a)
	ub, errB := url.Parse(b)
	if errA != nil || errB != nil {
		return false
	}
	return withoutQuery(ua) == withoutQuery(ub) && sameJSON(ua.Query(), ub.Query())
}

func TestSettingsProfile_ChangedAddressLosesVerifiedState(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := stServer(t, store, nil)
		email := uniqueEmail("st-verified")
		body := withPassword(identityBody(email), testPassword)
		body.VerifiableAddresses = []ory.VerifiableIdentityAddress{{
			Value: email, Via: "email", Verified: true, Status: "completed",
		}}
		created := s.createIdentity(t, body)
		if len(created.VerifiableAddresses) != 1 || !created.VerifiableAddresses[0].Verified {
			t.Fatalf("created identity has addresses %s, want %s verified", asJSON(created.VerifiableAddresses), email)
		}
		u := stLogin(t, s, email, testPassword, nil)

		// A name change keeps the verified address as it is.
		f := stNativeSettings(t, s, u.Token)
		_, res, err := stSubmitProfile(t, s, f.ID, u.Token, map[string]any{"email": email, "name": map[string]any{"first": "Vera"}})
		requireOK(t, res, err, http.StatusOK)
		if got := stFlowOf(t, res).Identity.VerifiableAddresses; len(got) != 1 || !got[0].Verified || got[0].Value != email {
			t.Errorf("after a name change the addresses are %s, want %s still verified", asJSON(got), email)
		}

		newEmail := uniqueEmail("st-verified-new")
		f = stNativeSettings(t, s, u.Token)
		_, res, err = stSubmitProfile(t, s, f.ID, u.Token, map[string]any{"email": newEmail})
		requireOK(t, res, err, http.StatusOK)
		stRequireSuccess(t, stFlowOf(t, res))

		got := s.getIdentity(t, u.IdentityID)
		if len(got.VerifiableAddresses) != 1 {
			t.Fatalf("verifiable addresses = %s, want just %s", asJSON(got.VerifiableAddresses), newEmail)
		}
		a := got.VerifiableAddresses[0]
		if a.Value != newEmail || a.Verified || a.Status != "pending" {
			t.Errorf("new address = %s, want %s unverified with status pending", asJSON(a), newEmail)
		}
		if len(got.RecoveryAddresses) != 1 || got.RecoveryAddresses[0].Value != newEmail {
			t.Errorf("recovery addresses = %s, want %s", asJSON(got.RecoveryAddresses), newEmail)
		}
		if res := s.loginNative(t, newEmail, testPassword); res.status != http.StatusOK {
			t.Errorf("login with the new identifier: %d %s", res.status, res.body)
		}
		if res := s.loginNative(t, email, testPassword); res.status != http.StatusBadRequest {
			t.Errorf("login with the old identifier: %d, want 400: %s", res.status, res.body)
		}
	})
}

func TestSettingsBrowser_SuccessRedirectsAndCSRF(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := stServer(t, store, nil)
		u := stRegister(t, s, "st-browser")
		b := stBrowserLogin(t, s, u.Email, testPassword)

		t.Run("json", func(t *testing.T) {
			f := stBrowserSettings(t, b, nil)
			traits := map[string]any{"email": u.Email, "name": map[string]any{"first": "Json"}}
			res := b.do(t, http.MethodPost, s.submitURL("settings", f.ID), map[string]any{
				"csrf_token": f.csrf(t), "method": "profile", "traits": traits,
			}, nil)
			if res.status != http.StatusOK {
				t.Fatalf("status %d, want 200: %s", res.status, res.body)
			}
			stRequireSuccess(t, stDecodeFlow(t, res.body))
			if got := s.getIdentity(t, u.IdentityID); !sameJSON(got.Traits, traits) {
				t.Errorf("stored traits = %s, want %s", asJSON(got.Traits), asJSON(traits))
			}
		})

		t.Run("form goes back to the settings UI", func(t *testing.T) {
			f := stBrowserSettings(t, b, nil)
			res := b.do(t, http.MethodPost, s.submitURL("settings", f.ID), url.Values{
				"csrf_token": {f.csrf(t)}, "method": {"profile"},
				"traits.email": {u.Email}, "traits.name.first": {"Form"},
			}, nil)
			loc := redirectTarget(t, res)
			if withoutQuery(loc) != stSettingsUI || loc.Query().Get("flow") != f.ID {
				t.Errorf("Location = %s, want %s?flow=%s", loc, stSettingsUI, f.ID)
			}
			got := b.do(t, http.MethodGet, s.PublicURL+"/self-service/settings/flows?id="+f.ID, nil, jsonAccept)
			stRequireSuccess(t, stDecodeFlow(t, got.body))
			if first := traitsOf(t, s.getIdentity(t, u.IdentityID))["name"]; !sameJSON(first, map[string]any{"first": "Form"}) {
				t.Errorf("stored name = %s, want {first: Form}", asJSON(first))
			}
		})

		t.Run("form with return_to", func(t *testing.T) {
			const returnTo = appURL + "/account"
			f := stBrowserSettings(t, b, url.Values{"return_to": {returnTo}})
			res := b.do(t, http.MethodPost, s.submitURL("settings", f.ID), url.Values{
				"csrf_token": {f.csrf(t)}, "method": {"profile"},
				"traits.email": {u.Email}, "traits.name.first": {"Return"},
			}, nil)
			if loc := redirectTarget(t, res); loc.String() != returnTo {
				t.Errorf("Location = %s, want %s", loc, returnTo)
			}
		})

		t.Run("form with errors goes back to the flow", func(t *testing.T) {
			f := stBrowserSettings(t, b, nil)
			res := b.do(t, http.MethodPost, s.submitURL("settings", f.ID), url.Values{
				"csrf_token": {f.csrf(t)}, "method": {"profile"}, "traits.email": {"not-an-email"},
			}, nil)
			loc := redirectTarget(t, res)
			if withoutQuery(loc) != stSettingsUI || loc.Query().Get("flow") != f.ID {
				t.Errorf("Location = %s, want %s?flow=%s", loc, stSettingsUI, f.ID)
			}
			got := b.do(t, http.MethodGet, s.PublicURL+"/self-service/settings/flows?id="+f.ID, nil, jsonAccept)
			requireNodeMessage(t, stDecodeFlow(t, got.body).flowView, "traits.email", 4000040)
		})

		t.Run("csrf missing or wrong", func(t *testing.T) {
			before := s.getIdentity(t, u.IdentityID)
			f := stBrowserSettings(t, b, nil)
			for _, tc := range []struct {
				name  string
				token string
			}{{"missing", ""}, {"wrong", "d3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmc="}} {
				body := map[string]any{"method": "profile", "traits": map[string]any{"email": u.Email, "name": map[string]any{"first": "Forged"}}}
				if tc.token != "" {
					body["csrf_token"] = tc.token
				}
				res := b.do(t, http.MethodPost, s.submitURL("settings", f.ID), body, nil)
				if e := requireError(t, res.status, res.body, http.StatusForbidden); e.Error.ID != "security_csrf_violation" {
					t.Errorf("%s token: error.id = %q, want security_csrf_violation", tc.name, e.Error.ID)
				}
			}
			// A session cookie without the CSRF cookie is not enough either.
			session := b.cookie("ory_kratos_session")
			if session == nil {
				t.Fatal("the browser has no session cookie")
			}
			res := sendRequest(t, plain(s), http.MethodPost, s.submitURL("settings", f.ID), map[string]any{
				"csrf_token": f.csrf(t), "method": "profile", "traits": map[string]any{"email": u.Email, "name": map[string]any{"first": "Forged"}},
			}, http.Header{"Cookie": {session.Name + "=" + session.Value}})
			if e := requireError(t, res.status, res.body, http.StatusForbidden); e.Error.ID != "security_csrf_violation" {
				t.Errorf("no CSRF cookie: error.id = %q, want security_csrf_violation", e.Error.ID)
			}
			form := b.do(t, http.MethodPost, s.submitURL("settings", f.ID), url.Values{
				"method": {"profile"}, "traits.email": {u.Email}, "traits.name.first": {"Forged"},
			}, nil)
			if loc := redirectTarget(t, form); withoutQuery(loc) != errorUI || loc.Query().Get("id") == "" {
				t.Errorf("form without a token: Location = %s, want %s?id=<error>", loc, errorUI)
			}
			if after := s.getIdentity(t, u.IdentityID); !sameJSON(after.Traits, before.Traits) {
				t.Errorf("a forged submit changed the traits to %s", asJSON(after.Traits))
			}
		})
	})
}

func TestSettingsPassword_RevokeActiveSessionsHook(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		for _, tc := range []struct {
			name   string
			hooked bool
		}{{"with hook", true}, {"without hook", false}} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				set := map[string]any{}
				if tc.hooked {
					set["selfservice.flows.settings.after.password.hooks"] = []any{map[string]any{"hook": "revoke_active_sessions"}}
				}
				s := stServer(t, store, set)
				u := stRegister(t, s, "st-revoke")
				others := []stUser{stLogin(t, s, u.Email, testPassword, nil), stLogin(t, s, u.Email, testPassword, nil)}
				stranger := stRegister(t, s, "st-revoke-stranger")

				f := stNativeSettings(t, s, u.Token)
				_, res, err := stSubmitPassword(t, s, f.ID, u.Token, "rotated-Secret-77")
				requireOK(t, res, err, http.StatusOK)
				stRequireSuccess(t, stFlowOf(t, res))

				stRequireWhoami(t, s, http.StatusOK, "the changing session", u)
				stRequireWhoami(t, s, http.StatusOK, "another identity's session", stranger)
				if tc.hooked {
					stRequireWhoami(t, s, http.StatusUnauthorized, "other sessions after the hook", others...)
				} else {
					stRequireWhoami(t, s, http.StatusOK, "other sessions without the hook", others...)
				}
			})
		}
	})
}
