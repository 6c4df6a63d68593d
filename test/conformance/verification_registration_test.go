package conformance

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
)

// verificationContinue is the show_verification_ui item of continue_with.
type verificationContinue struct {
	Action string `json:"action"`
	Flow   struct {
		ID                string  `json:"id"`
		VerifiableAddress string  `json:"verifiable_address"`
		URL               *string `json:"url"`
	} `json:"flow"`
}

// showVerificationUI finds the show_verification_ui item of a raw
// continue_with array.
func showVerificationUI(t *testing.T, raw json.RawMessage) (verificationContinue, bool) {
	t.Helper()
	var items []verificationContinue
	if err := json.Unmarshal(raw, &items); err != nil {
		t.Fatalf("continue_with is not an array of actions: %v: %s", err, raw)
	}
	for _, it := range items {
		if it.Action == "show_verification_ui" {
			return it, true
		}
	}
	return verificationContinue{}, false
}

// TestVerification_AfterRegistration: with verification enabled a new
// identity's address gets a code right away; with the show_verification_ui
// hook the answer points at the flow whose code verifies it.
func TestVerification_AfterRegistration(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		sink := startMailSink(t)
		s := verificationServer(t, store, sink, map[string]any{
			"selfservice.flows.registration.after.password.hooks": []any{
				map[string]any{"hook": "session"}, map[string]any{"hook": "show_verification_ui"},
			},
		})

		t.Run("native", func(t *testing.T) {
			email := uniqueEmail("reg-native")
			f := s.nativeFlow(t, "registration")
			res := sendRequest(t, plain(s), http.MethodPost, s.submitURL("registration", f.ID), map[string]any{
				"method": "password", "password": testPassword, "traits": map[string]any{"email": email},
			}, nil)
			if res.status != http.StatusOK {
				t.Fatalf("registration: status %d: %s", res.status, res.body)
			}
			var out struct {
				Identity     struct{ ID string } `json:"identity"`
				ContinueWith json.RawMessage     `json:"continue_with"`
			}
			if err := json.Unmarshal(res.body, &out); err != nil {
				t.Fatal(err)
			}
			cw, ok := showVerificationUI(t, out.ContinueWith)
			if !ok {
				t.Fatalf("continue_with has no show_verification_ui: %s", out.ContinueWith)
			}
			if cw.Flow.ID == "" || cw.Flow.VerifiableAddress != email {
				t.Errorf("show_verification_ui flow = %+v, want an id and the address %s", cw.Flow, email)
			}
			// Kratos leaves the UI URL out for a native app's flow.
			if cw.Flow.URL != nil {
				t.Errorf("show_verification_ui url = %q for a native registration, want none", *cw.Flow.URL)
			}
			vf, r, err := s.Public.FrontendAPI.GetVerificationFlow(context.Background()).Id(cw.Flow.ID).Execute()
			requireOK(t, r, err, http.StatusOK)
			if vf.State != "sent_email" || vf.Type != "api" {
				t.Errorf("verification flow state %v type %s, want sent_email and api", vf.State, vf.Type)
			}
			code := sink.WaitFor(t, email, "", mailWait).Code(t)
			if done := s.sdkSubmitCode(t, cw.Flow.ID, code); done.State != "passed_challenge" {
				t.Errorf("the mailed code: state %v, want passed_challenge", done.State)
			}
			s.requireVerified(t, out.Identity.ID, email)
		})

		t.Run("browser JSON", func(t *testing.T) {
			email := uniqueEmail("reg-browser")
			b := newBrowser(t, s)
			f, _ := b.browserFlow(t, "registration", nil)
			res := b.do(t, http.MethodPost, s.submitURL("registration", f.ID), map[string]any{
				"csrf_token": f.csrf(t), "method": "password", "password": testPassword,
				"traits": map[string]any{"email": email},
			}, nil)
			if res.status != http.StatusOK {
				t.Fatalf("registration: status %d: %s", res.status, res.body)
			}
			var out struct {
				Identity     struct{ ID string } `json:"identity"`
				ContinueWith json.RawMessage     `json:"continue_with"`
			}
			if err := json.Unmarshal(res.body, &out); err != nil {
				t.Fatal(err)
			}
			cw, ok := showVerificationUI(t, out.ContinueWith)
			if !ok {
				t.Fatalf("continue_with has no show_verification_ui: %s", out.ContinueWith)
			}
			want := verificationUI + "?flow=" + cw.Flow.ID
			if cw.Flow.URL == nil || *cw.Flow.URL != want || cw.Flow.VerifiableAddress != email {
				t.Errorf("show_verification_ui flow = %s, want url %s and address %s", asJSON(cw.Flow), want, email)
			}
			// The browser that registered can use the flow: it is bound to
			// the CSRF cookie the registration answer left behind.
			vf := s.verificationFlowAs(t, b.http, cw.Flow.ID)
			if vf.State != "sent_email" || vf.Type != "browser" {
				t.Errorf("verification flow state %v type %s, want sent_email and browser", vf.State, vf.Type)
			}
			code := sink.WaitFor(t, email, "", mailWait).Code(t)
			res = b.do(t, http.MethodPost, s.submitURL("verification", cw.Flow.ID), map[string]any{
				"csrf_token": vf.csrf(t), "method": "code", "code": code,
			}, nil)
			if res.status != http.StatusOK {
				t.Fatalf("code: status %d, want 200: %s", res.status, res.body)
			}
			if done := decodeVerification(t, res.body); done.State != "passed_challenge" {
				t.Errorf("state %v, want passed_challenge", done.State)
			}
			s.requireVerified(t, out.Identity.ID, email)
		})

		t.Run("browser form", func(t *testing.T) {
			email := uniqueEmail("reg-form")
			b := newBrowser(t, s)
			f, _ := b.browserFlow(t, "registration", nil)
			res := b.do(t, http.MethodPost, s.submitURL("registration", f.ID), url.Values{
				"csrf_token": {f.csrf(t)}, "method": {"password"}, "password": {testPassword}, "traits.email": {email},
			}, nil)
			flowID := uiFlowID(t, res) // show_verification_ui sends the browser there
			vf := s.verificationFlowAs(t, b.http, flowID)
			code := sink.WaitFor(t, email, "", mailWait).Code(t)
			uiFlowID(t, b.do(t, http.MethodPost, s.submitURL("verification", flowID), url.Values{
				"csrf_token": {vf.csrf(t)}, "method": {"code"}, "code": {code},
			}, nil))
			if done := s.verificationFlowAs(t, b.http, flowID); done.State != "passed_challenge" {
				t.Errorf("state %v, want passed_challenge", done.State)
			}
		})
	})
}

// TestVerification_AfterRegistrationWithoutHook still mails a code to the
// new address when verification is enabled.
func TestVerification_AfterRegistrationWithoutHook(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		sink := startMailSink(t)
		s := verificationServer(t, store, sink, nil)
		email := uniqueEmail("reg-plain")
		reg := s.registerNative(t, email)
		m := sink.WaitFor(t, email, "", mailWait)
		m.Code(t)
		a := s.verifiableAddress(t, reg.Identity.Id, email)
		if a.Verified || a.Status != "sent" {
			t.Errorf("address after sign-up = verified %v status %q, want false and sent", a.Verified, a.Status)
		}
	})
}
