package conformance

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"
)

func TestSettingsFlow_RendersIdentityAndNodesPerGroup(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := stServer(t, store, nil)
		u := stRegister(t, s, "st-render")

		t.Run("native", func(t *testing.T) {
			f := stNativeSettings(t, s, u.Token)
			if f.Type != "api" || f.State != "show_form" {
				t.Errorf("type/state = %q/%v, want api/show_form", f.Type, f.State)
			}
			if f.Identity.ID != u.IdentityID || f.Identity.Traits["email"] != u.Email {
				t.Errorf("identity = %s %v, want %s with email %s", f.Identity.ID, f.Identity.Traits, u.IdentityID, u.Email)
			}
			if f.UI.Action != s.submitURL("settings", f.ID) || !strings.EqualFold(f.UI.Method, "POST") {
				t.Errorf("ui.action/method = %s %s, want POST %s", f.UI.Action, f.UI.Method, s.submitURL("settings", f.ID))
			}
			if csrf := f.node(t, "csrf_token"); csrf.Group != "default" || csrf.value() != nil && csrf.value() != "" {
				t.Errorf("API flow csrf_token node = %s, want group default and no value", asJSON(csrf))
			}
			email := f.node(t, "traits.email")
			if email.Group != "profile" || email.value() != u.Email {
				t.Errorf("traits.email node = %s, want group profile prefilled with %s", asJSON(email), u.Email)
			}
			if n := f.node(t, "method", "profile"); n.Group != "profile" || n.inputType() != "submit" {
				t.Errorf("profile submit = %s, want a submit in group profile", asJSON(n))
			}
			pw := f.node(t, "password")
			if pw.Group != "password" || pw.inputType() != "password" {
				t.Errorf("password node = %s, want a password input in group password", asJSON(pw))
			}
			if v, ok := pw.Attributes["value"]; ok && v != "" && v != nil {
				t.Errorf("the password node carries a value: %v", v)
			}
			if n := f.node(t, "method", "password"); n.Group != "password" || n.inputType() != "submit" {
				t.Errorf("password submit = %s, want a submit in group password", asJSON(n))
			}

			// getSettingsFlow answers the same flow to its owner.
			got, res, err := s.Public.FrontendAPI.GetSettingsFlow(context.Background()).Id(f.ID).XSessionToken(u.Token).Execute()
			requireOK(t, res, err, http.StatusOK)
			if got.Id != f.ID || got.Identity.Id != u.IdentityID || got.State != "show_form" {
				t.Errorf("getSettingsFlow = %s/%s/%s, want %s/%s/show_form", got.Id, got.Identity.Id, got.State, f.ID, u.IdentityID)
			}
		})

		t.Run("browser", func(t *testing.T) {
			b := stBrowserLogin(t, s, u.Email, testPassword)
			f := stBrowserSettings(t, b, nil)
			if f.Type != "browser" || f.State != "show_form" || f.Identity.ID != u.IdentityID {
				t.Errorf("type/state/identity = %q/%v/%s, want browser/show_form/%s", f.Type, f.State, f.Identity.ID, u.IdentityID)
			}
			csrf := f.node(t, "csrf_token")
			if v, _ := csrf.value().(string); csrf.Group != "default" || v == "" || csrf.inputType() != "hidden" {
				t.Errorf("browser csrf_token node = %s, want a hidden input with a token in group default", asJSON(csrf))
			}
			if n := f.node(t, "traits.email"); n.value() != u.Email {
				t.Errorf("traits.email value = %v, want %s", n.value(), u.Email)
			}

			// A plain navigation is sent to the settings UI.
			res := b.do(t, http.MethodGet, s.PublicURL+"/self-service/settings/browser", nil, nil)
			loc := redirectTarget(t, res)
			if withoutQuery(loc) != stSettingsUI || loc.Query().Get("flow") == "" {
				t.Fatalf("Location = %s, want %s?flow=<id>", loc, stSettingsUI)
			}
			got := b.do(t, http.MethodGet, s.PublicURL+"/self-service/settings/flows?id="+loc.Query().Get("flow"), nil, jsonAccept)
			if got.status != http.StatusOK {
				t.Fatalf("fetching the redirected flow: %d %s", got.status, got.body)
			}
			if g := stDecodeFlow(t, got.body); g.ID != loc.Query().Get("flow") || g.Type != "browser" {
				t.Errorf("fetched flow %s (%s), want %s (browser)", g.ID, g.Type, loc.Query().Get("flow"))
			}
		})
	})
}

func TestSettingsFlow_WithoutSession(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := stServer(t, store, nil)
		u := stRegister(t, s, "st-nosession")
		ctx := context.Background()

		requireInactive := func(t *testing.T, what string, status int, body []byte) {
			t.Helper()
			if e := requireError(t, status, body, http.StatusUnauthorized); e.Error.ID != "session_inactive" {
				t.Errorf("%s: error.id = %q, want session_inactive", what, e.Error.ID)
			}
		}

		t.Run("json callers get 401", func(t *testing.T) {
			_, res, err := s.Public.FrontendAPI.CreateNativeSettingsFlow(ctx).Execute()
			status, body := sdkFailure(t, res, err)
			requireInactive(t, "native init without a token", status, body)

			_, res, err = s.Public.FrontendAPI.CreateNativeSettingsFlow(ctx).XSessionToken("ory_st_00000000000000000000000000000000").Execute()
			status, body = sdkFailure(t, res, err)
			requireInactive(t, "native init with an unknown token", status, body)

			ajax := newBrowser(t, s).do(t, http.MethodGet, s.PublicURL+"/self-service/settings/browser", nil, jsonAccept)
			requireInactive(t, "AJAX browser init without a cookie", ajax.status, ajax.body)

			f := stNativeSettings(t, s, u.Token)
			_, res, err = s.Public.FrontendAPI.GetSettingsFlow(ctx).Id(f.ID).Execute()
			status, body = sdkFailure(t, res, err)
			requireInactive(t, "getSettingsFlow without a session", status, body)

			sub := stSubmitNative(t, s, f.ID, "", map[string]any{"method": "profile", "traits": map[string]any{"email": u.Email}})
			requireInactive(t, "submit without a session", sub.status, sub.body)
		})

		t.Run("browsers go to login and back", func(t *testing.T) {
			b := newBrowser(t, s)
			res := b.do(t, http.MethodGet, s.PublicURL+"/self-service/settings/browser", nil, nil)
			loc := redirectTarget(t, res)
			loginInit := s.PublicURL + "/self-service/login/browser"
			if withoutQuery(loc) != loginInit && withoutQuery(loc) != loginUI {
				t.Fatalf("Location = %s, want the login (%s or %s)", loc, loginInit, loginUI)
			}
			if withoutQuery(loc) == loginUI {
				return // Sent to the login UI directly; the way back is the UI's business.
			}

			// Start the login the server pointed at, sign in with a form.
			start := b.do(t, http.MethodGet, loc.String(), nil, nil)
			uiLoc := redirectTarget(t, start)
			if withoutQuery(uiLoc) != loginUI || uiLoc.Query().Get("flow") == "" {
				t.Fatalf("login init: Location = %s, want %s?flow=<id>", uiLoc, loginUI)
			}
			lf := b.do(t, http.MethodGet, s.PublicURL+"/self-service/login/flows?id="+uiLoc.Query().Get("flow"), nil, jsonAccept)
			flow := decodeFlow(t, "login", lf.body)
			done := b.do(t, http.MethodPost, s.submitURL("login", flow.ID), url.Values{
				"csrf_token": {flow.csrf(t)}, "method": {"password"},
				"identifier": {u.Email}, "password": {testPassword},
			}, nil)
			back := redirectTarget(t, done)
			// Follow until the settings UI, at most a few hops.
			for hop := 0; withoutQuery(back) != stSettingsUI; hop++ {
				if hop > 3 || !strings.HasPrefix(back.String(), s.PublicURL) {
					t.Fatalf("after login the browser went to %s, not back to the settings UI", back)
				}
				back = redirectTarget(t, b.do(t, http.MethodGet, back.String(), nil, nil))
			}
			id := back.Query().Get("flow")
			got := b.do(t, http.MethodGet, s.PublicURL+"/self-service/settings/flows?id="+url.QueryEscape(id), nil, jsonAccept)
			if got.status != http.StatusOK {
				t.Fatalf("settings flow after login: %d %s", got.status, got.body)
			}
			if f := stDecodeFlow(t, got.body); f.Identity.ID != u.IdentityID {
				t.Errorf("settings flow identity = %s, want %s", f.Identity.ID, u.IdentityID)
			}
		})
	})
}

func TestSettingsFlow_OtherIdentityOrUnknownFlow(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := stServer(t, store, nil)
		ctx := context.Background()
		alice := stRegister(t, s, "st-alice")
		mallory := stRegister(t, s, "st-mallory")
		f := stNativeSettings(t, s, alice.Token)

		_, res, err := s.Public.FrontendAPI.GetSettingsFlow(ctx).Id(f.ID).XSessionToken(mallory.Token).Execute()
		status, body := sdkFailure(t, res, err)
		if e := requireError(t, status, body, http.StatusForbidden); e.Error.ID != "security_identity_mismatch" {
			t.Errorf("fetching another identity's flow: error.id = %q, want security_identity_mismatch", e.Error.ID)
		}
		if strings.Contains(string(body), alice.Email) {
			t.Errorf("the refusal reveals the owner's traits: %s", body)
		}

		_, res, err = s.Public.FrontendAPI.GetSettingsFlow(ctx).Id(uuid.NewString()).XSessionToken(mallory.Token).Execute()
		status, body = sdkFailure(t, res, err)
		requireError(t, status, body, http.StatusNotFound)

		// Submitting someone else's flow changes nothing.
		sub := stSubmitNative(t, s, f.ID, mallory.Token, map[string]any{
			"method": "profile", "traits": map[string]any{"email": alice.Email, "name": map[string]any{"first": "Mallory"}},
		})
		if e := requireError(t, sub.status, sub.body, 0); e.Error.ID != "security_identity_mismatch" {
			t.Errorf("submitting another identity's flow: error.id = %q, want security_identity_mismatch", e.Error.ID)
		}
		if got := s.getIdentity(t, alice.IdentityID); traitsOf(t, got)["name"] != nil {
			t.Errorf("alice's traits changed through mallory's session: %s", asJSON(got.Traits))
		}
		if got := s.getIdentity(t, mallory.IdentityID); traitsOf(t, got)["name"] != nil {
			t.Errorf("mallory's traits changed through alice's flow: %s", asJSON(got.Traits))
		}
	})
}
