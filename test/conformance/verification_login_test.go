package conformance

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
)

// TestVerification_RequireVerifiedAddress pins down the
// require_verified_address login hook as Kratos v26 runs it by default
// (since v25.4, ory/kratos#4407; the old 400 with message 4000010 needs
// feature_flags.legacy_require_verified_login_error): a login with no
// verified address is refused with 403 session_verified_address_required,
// a code goes to the address, and the answer names the verification flow
// in error.details.continue_with (browser forms are sent to its UI).
// Once verified, the login succeeds.
func TestVerification_RequireVerifiedAddress(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		sink := startMailSink(t)
		s := verificationServer(t, store, sink, map[string]any{
			"selfservice.flows.login.after.password.hooks": []any{map[string]any{"hook": "require_verified_address"}},
		})

		t.Run("native", func(t *testing.T) {
			email := uniqueEmail("gate-native")
			id := s.createIdentity(t, withPassword(identityBody(email), testPassword)).Id

			res := s.loginNative(t, email, testPassword)
			if res.status != http.StatusForbidden {
				t.Fatalf("login with an unverified address: status %d, want 403: %s", res.status, res.body)
			}
			var body struct {
				Error struct {
					ID      string `json:"id"`
					Details struct {
						ContinueWith json.RawMessage `json:"continue_with"`
					} `json:"details"`
				} `json:"error"`
				SessionToken string `json:"session_token"`
			}
			if err := json.Unmarshal(res.body, &body); err != nil {
				t.Fatalf("answer is not an error body: %v: %s", err, res.body)
			}
			if body.Error.ID != "session_verified_address_required" || body.SessionToken != "" {
				t.Errorf("error.id = %q, session_token %q; want session_verified_address_required and no token: %s", body.Error.ID, body.SessionToken, res.body)
			}
			if len(body.Error.Details.ContinueWith) == 0 {
				t.Fatalf("no error.details.continue_with: %s", res.body)
			}
			cw, ok := showVerificationUI(t, body.Error.Details.ContinueWith)
			if !ok || cw.Flow.ID == "" || cw.Flow.VerifiableAddress != email {
				t.Fatalf("continue_with = %s, want show_verification_ui for %s", body.Error.Details.ContinueWith, email)
			}
			code := sink.WaitFor(t, email, "", mailWait).Code(t)
			if done := s.sdkSubmitCode(t, cw.Flow.ID, code); done.State != "passed_challenge" {
				t.Fatalf("the mailed code: state %v, want passed_challenge", done.State)
			}
			s.requireVerified(t, id, email)

			res = s.loginNative(t, email, testPassword)
			if res.status != http.StatusOK {
				t.Fatalf("login after verifying: status %d, want 200: %s", res.status, res.body)
			}
			if ok := decodeSuccess(t, res.body); !sessionTokenFormat.MatchString(ok.SessionToken) {
				t.Errorf("session_token %q after verifying", ok.SessionToken)
			}
		})

		t.Run("browser form", func(t *testing.T) {
			email := uniqueEmail("gate-browser")
			s.createIdentity(t, withPassword(identityBody(email), testPassword))
			b := newBrowser(t, s)
			f, _ := b.browserFlow(t, "login", nil)
			res := b.do(t, http.MethodPost, s.submitURL("login", f.ID), url.Values{
				"csrf_token": {f.csrf(t)}, "method": {"password"}, "identifier": {email}, "password": {testPassword},
			}, nil)
			flowID := uiFlowID(t, res)
			if b.cookie("ory_kratos_session") != nil {
				t.Errorf("a session cookie was set for an unverified login")
			}
			vf := s.verificationFlowAs(t, b.http, flowID)
			if vf.State != "sent_email" {
				t.Errorf("verification flow state %v, want sent_email", vf.State)
			}
			sink.WaitFor(t, email, "", mailWait).Code(t)
		})
	})
}
