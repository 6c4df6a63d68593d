package conformance

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	ory "github.com/ory/client-go"
)

// TestRecoveryAdmin_CodeForIdentity: an operator creates a recovery code
// (201 with the code, a link to the recovery UI and the expiry); the user's
// browser opens the flow and the code recovers the account; a native app
// can get one too; unknown identities are 404.
func TestRecoveryAdmin_CodeForIdentity(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		sink := startMailSink(t)
		s := recServer(t, store, sink, nil)

		t.Run("browser", func(t *testing.T) {
			email, id := recUser(t, s, "rec-admin-code")
			before := time.Now()
			out, res, err := s.Admin.IdentityAPI.CreateRecoveryCodeForIdentity(context.Background()).
				CreateRecoveryCodeForIdentityBody(ory.CreateRecoveryCodeForIdentityBody{IdentityId: id}).Execute()
			requireOK(t, res, err, http.StatusCreated)
			if !sixDigits.MatchString(out.RecoveryCode) || len(out.RecoveryCode) != 6 {
				t.Errorf("recovery_code %q, want six digits", out.RecoveryCode)
			}
			if out.ExpiresAt == nil || out.ExpiresAt.Before(before.Add(59*time.Minute)) || out.ExpiresAt.After(time.Now().Add(61*time.Minute)) {
				t.Errorf("expires_at = %v, want about an hour from now (code lifespan)", out.ExpiresAt)
			}
			u, err := url.Parse(out.RecoveryLink)
			if err != nil || withoutQuery(u) != recUI || u.Query().Get("flow") == "" {
				t.Fatalf("recovery_link %q, want %s?flow=<id>", out.RecoveryLink, recUI)
			}
			flowID := u.Query().Get("flow")
			if n := len(recMessages(t, s, email)); n != 0 {
				t.Errorf("the admin code was mailed (%d messages); the operator hands it over", n)
			}

			// The recovery UI fetches the flow for the user's browser.
			b := newBrowser(t, s)
			_, gres, err := b.sdk.FrontendAPI.GetRecoveryFlow(context.Background()).Id(flowID).Execute()
			requireOK(t, gres, err, http.StatusOK)
			f := recFlowOf(t, gres)
			if f.Type != "browser" || f.State != "sent_email" || f.csrf(t) == "" {
				t.Fatalf("admin flow: type %q state %v csrf %q, want browser sent_email with a CSRF token", f.Type, f.State, f.csrf(t))
			}
			f.node(t, "code")
			if _, ok := f.find("email"); ok {
				t.Error("the admin code flow asks for an address")
			}

			cres := recSubmit(t, s, b.http, flowID, map[string]any{"method": "code", "code": recWrong(out.RecoveryCode), "csrf_token": f.csrf(t)})
			if cres.status != http.StatusOK || !hasMessage(recDecode(t, cres.body).UI.Messages, 4060006) {
				t.Errorf("wrong code: %d: %s, want 200 with 4060006", cres.status, cres.body)
			}
			cres = recSubmit(t, s, b.http, flowID, map[string]any{"method": "code", "code": out.RecoveryCode, "csrf_token": f.csrf(t)})
			recLocationChange(t, cres.status, cres.body)
			status, sess, _ := s.whoami(t, b.http, nil)
			if status != http.StatusOK || sess.Identity.Id != id {
				t.Fatalf("whoami after the admin code: %d", status)
			}
		})

		t.Run("native", func(t *testing.T) {
			_, id := recUser(t, s, "rec-admin-native")
			out, res, err := s.Admin.IdentityAPI.CreateRecoveryCodeForIdentity(context.Background()).
				CreateRecoveryCodeForIdentityBody(ory.CreateRecoveryCodeForIdentityBody{IdentityId: id, FlowType: ory.PtrString("api"), ExpiresIn: ory.PtrString("15m")}).Execute()
			requireOK(t, res, err, http.StatusCreated)
			if out.ExpiresAt == nil || out.ExpiresAt.After(time.Now().Add(16*time.Minute)) {
				t.Errorf("expires_at = %v, want expires_in (15m) from now", out.ExpiresAt)
			}
			u, _ := url.Parse(out.RecoveryLink)
			flowID := u.Query().Get("flow")
			if f := recGetOK(t, s, plain(s), flowID); f.Type != "api" {
				t.Errorf("flow_type api made a %q flow", f.Type)
			}
			cres, body, _ := recSDKCode(t, s, flowID, out.RecoveryCode)
			recLocationChange(t, cres.StatusCode, body)
		})

		t.Run("errors", func(t *testing.T) {
			_, id := recUser(t, s, "rec-admin-errors")
			_, res, err := s.Admin.IdentityAPI.CreateRecoveryCodeForIdentity(context.Background()).
				CreateRecoveryCodeForIdentityBody(ory.CreateRecoveryCodeForIdentityBody{IdentityId: "9f0b4b0e-4f3a-4bc5-9d55-4d0f1f0f3b8e"}).Execute()
			status, body := sdkFailure(t, res, err)
			requireError(t, status, body, http.StatusNotFound)

			raw := s.do(t, http.MethodPost, s.AdminURL+"/admin/recovery/code", map[string]any{"identity_id": id, "expires_in": "soon"}, nil)
			requireError(t, raw.status, raw.body, http.StatusBadRequest)
		})
	})
}

// TestRecoveryAdmin_LinkForIdentity: an operator creates a recovery link
// (200); following it signs the user in and leads to the settings UI; it
// works once; unknown identities are 404.
func TestRecoveryAdmin_LinkForIdentity(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		sink := startMailSink(t)
		s := recServer(t, store, sink, nil) // use: code; admin links work regardless
		email, id := recUser(t, s, "rec-admin-link")

		out, res, err := s.Admin.IdentityAPI.CreateRecoveryLinkForIdentity(context.Background()).
			CreateRecoveryLinkForIdentityBody(ory.CreateRecoveryLinkForIdentityBody{IdentityId: id}).Execute()
		requireOK(t, res, err, http.StatusOK)
		u, err := url.Parse(out.RecoveryLink)
		if err != nil || withoutQuery(u) != s.PublicURL+"/self-service/recovery" || u.Query().Get("flow") == "" || u.Query().Get("token") == "" {
			t.Fatalf("recovery_link %q, want %s/self-service/recovery?flow=..&token=..", out.RecoveryLink, s.PublicURL)
		}
		if out.ExpiresAt == nil || out.ExpiresAt.Before(time.Now().Add(59*time.Minute)) {
			t.Errorf("expires_at = %v, want about an hour from now (link lifespan)", out.ExpiresAt)
		}

		b := newBrowser(t, s)
		lres := b.do(t, http.MethodGet, out.RecoveryLink, nil, nil)
		settingsID := recSettingsFlowID(t, redirectTarget(t, lres).String())
		if status, sess, _ := s.whoami(t, b.http, nil); status != http.StatusOK || sess.Identity.Id != id {
			t.Fatalf("whoami after the admin link: %d", status)
		}
		sres := b.do(t, http.MethodGet, s.PublicURL+"/self-service/settings/flows?id="+settingsID, nil, jsonAccept)
		if sres.status != http.StatusOK {
			t.Fatalf("GET the settings flow: %d: %s", sres.status, sres.body)
		}
		sf := stDecodeFlow(t, sres.body)
		pres := b.do(t, http.MethodPost, s.submitURL("settings", settingsID), map[string]any{
			"method": "password", "password": recNewPassword, "csrf_token": sf.csrf(t),
		}, nil)
		if pres.status != http.StatusOK {
			t.Fatalf("setting the password: %d: %s", pres.status, pres.body)
		}
		recRequireLogin(t, s, email, recNewPassword, testPassword)

		again := newBrowser(t, s).do(t, http.MethodGet, out.RecoveryLink, nil, nil)
		if setCookie(again, "ory_kratos_session") != nil {
			t.Error("the used admin link signed a browser in again")
		}
		recRecoveryUIFlowID(t, again)

		_, res, err = s.Admin.IdentityAPI.CreateRecoveryLinkForIdentity(context.Background()).
			CreateRecoveryLinkForIdentityBody(ory.CreateRecoveryLinkForIdentityBody{IdentityId: "9f0b4b0e-4f3a-4bc5-9d55-4d0f1f0f3b8e"}).Execute()
		status, body := sdkFailure(t, res, err)
		requireError(t, status, body, http.StatusNotFound)
	})
}
