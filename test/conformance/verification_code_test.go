package conformance

import (
	"context"
	ory "github.com/ory/client-go"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestVerification_Code walks the code method end to end on both flow
// types: ask for a code, receive it by SMTP, submit it, find the address
// verified. It also opens the code link of a native flow in a browser.
func TestVerification_Code(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		sink := startMailSink(t)
		s := verificationServer(t, store, sink, nil)

		t.Run("native", func(t *testing.T) {
			email := uniqueEmail("verify-native")
			id := s.newVerifiable(t, email)
			s.requireUnverified(t, id, email)

			f := s.nativeVerification(t)
			if f.Type != "api" || f.State != "choose_method" {
				t.Errorf("new flow type %q state %v, want api and choose_method", f.Type, f.State)
			}
			if n := f.node(t, "email"); n.Group != "code" || n.inputType() != "email" || n.Attributes["required"] != true {
				t.Errorf("email node = %s, want a required email input in group code", asJSON(n))
			}
			if n := f.node(t, "method", "code"); n.inputType() != "submit" {
				t.Errorf("method node = %s, want a submit with value code", asJSON(n))
			}
			if v := f.node(t, "csrf_token").value(); v != "" {
				t.Errorf("API flow csrf_token = %v, want empty", v)
			}

			sent := s.sdkSendCode(t, f.ID, email)
			if sent.State != "sent_email" || !hasID(sdkMessageIDs(sent), 1080003) {
				t.Fatalf("after sending: state %v messages %v, want sent_email and 1080003", sent.State, sdkMessageIDs(sent))
			}
			if a := s.verifiableAddress(t, id, email); a.Status != "sent" || a.Verified {
				t.Errorf("address after sending = status %q verified %v, want sent and false", a.Status, a.Verified)
			}
			m := sink.WaitFor(t, email, "", mailWait)
			if m.Subject == "" || len(m.To) != 1 || !strings.EqualFold(m.To[0], email) {
				t.Errorf("mail = to %v subject %q, want one recipient %s and a subject", m.To, m.Subject, email)
			}
			code := m.Code(t)
			link, err := url.Parse(m.Link(t, "/self-service/verification"))
			if err != nil || link.Query().Get("flow") != f.ID || link.Query().Get("code") != code {
				t.Errorf("link %s, want the flow %s and the code %s", link, f.ID, code)
			}

			done := s.sdkSubmitCode(t, f.ID, code)
			if done.State != "passed_challenge" || !hasID(sdkMessageIDs(done), 1080002) {
				t.Fatalf("after the code: state %v messages %v, want passed_challenge and 1080002", done.State, sdkMessageIDs(done))
			}
			// The SDK reads the "continue" link a UI shows after success.
			var anchor *ory.UiNodeAnchorAttributes
			for _, n := range done.Ui.Nodes {
				if a := n.Attributes.UiNodeAnchorAttributes; a != nil && a.Id == "continue" {
					anchor = a
				}
			}
			if anchor == nil || anchor.Href == "" || anchor.Title.Id != 1070009 {
				t.Errorf("continue anchor = %+v, want a link labelled 1070009", anchor)
			}
			s.requireVerified(t, id, email)
		})

		t.Run("browser JSON", func(t *testing.T) {
			email := uniqueEmail("verify-browser")
			id := s.newVerifiable(t, email)
			b := newBrowser(t, s)
			f, _ := b.browserFlow(t, "verification", nil)
			if f.Type != "browser" || f.csrf(t) == "" {
				t.Fatalf("browser flow type %q csrf %q, want browser and a token", f.Type, f.csrf(t))
			}
			res := b.do(t, http.MethodPost, s.submitURL("verification", f.ID), map[string]any{
				"csrf_token": f.csrf(t), "method": "code", "email": email,
			}, nil)
			if res.status != http.StatusOK {
				t.Fatalf("sending: status %d, want 200: %s", res.status, res.body)
			}
			sent := decodeVerification(t, res.body)
			requireFlowMessage(t, sent, 1080003)
			if sent.State != "sent_email" {
				t.Errorf("state %v, want sent_email", sent.State)
			}
			if n := sent.node(t, "code"); n.Group != "code" {
				t.Errorf("code node = %s, want group code", asJSON(n))
			}
			if n, ok := sent.find("email"); !ok || n.value() != email || n.inputType() != "submit" {
				t.Errorf("resend node = %s, want a submit named email with the address", asJSON(n))
			}
			code := sink.WaitFor(t, email, "", mailWait).Code(t)
			res = b.do(t, http.MethodPost, s.submitURL("verification", f.ID), map[string]any{
				"csrf_token": sent.csrf(t), "method": "code", "code": code,
			}, nil)
			if res.status != http.StatusOK {
				t.Fatalf("code: status %d, want 200: %s", res.status, res.body)
			}
			done := decodeVerification(t, res.body)
			requireFlowMessage(t, done, 1080002)
			if done.State != "passed_challenge" {
				t.Errorf("state %v, want passed_challenge", done.State)
			}
			s.requireVerified(t, id, email)
		})

		t.Run("browser form", func(t *testing.T) {
			email := uniqueEmail("verify-form")
			id := s.newVerifiable(t, email)
			b := newBrowser(t, s)
			flowID := uiFlowID(t, b.do(t, http.MethodGet, s.PublicURL+"/self-service/verification/browser", nil, nil))
			f := s.verificationFlowAs(t, b.http, flowID)
			if got := uiFlowID(t, b.do(t, http.MethodPost, s.submitURL("verification", f.ID), url.Values{
				"csrf_token": {f.csrf(t)}, "method": {"code"}, "email": {email},
			}, nil)); got != f.ID {
				t.Errorf("sending redirected to flow %s, want %s", got, f.ID)
			}
			sent := s.verificationFlowAs(t, b.http, f.ID)
			requireFlowMessage(t, sent, 1080003)
			code := sink.WaitFor(t, email, "", mailWait).Code(t)
			if got := uiFlowID(t, b.do(t, http.MethodPost, s.submitURL("verification", f.ID), url.Values{
				"csrf_token": {sent.csrf(t)}, "method": {"code"}, "code": {code},
			}, nil)); got != f.ID {
				t.Errorf("the code redirected to flow %s, want %s", got, f.ID)
			}
			done := s.verificationFlowAs(t, b.http, f.ID)
			if done.State != "passed_challenge" {
				t.Errorf("state %v, want passed_challenge", done.State)
			}
			requireFlowMessage(t, done, 1080002)
			s.requireVerified(t, id, email)
		})

		// The code link fills in the code and shows the UI; the user then
		// submits it, here from the browser that opened the message of a
		// native flow (Kratos's handleLinkClick).
		t.Run("code link opened in a browser", func(t *testing.T) {
			email := uniqueEmail("verify-link-click")
			id := s.newVerifiable(t, email)
			f := s.nativeVerification(t)
			s.sdkSendCode(t, f.ID, email)
			m := sink.WaitFor(t, email, "", mailWait)
			code, link := m.Code(t), m.Link(t, "/self-service/verification")

			b := newBrowser(t, s)
			if got := uiFlowID(t, b.do(t, http.MethodGet, link, nil, nil)); got != f.ID {
				t.Errorf("the link shows flow %s, want %s", got, f.ID)
			}
			s.requireUnverified(t, id, email) // opening the link alone verifies nothing
			shown := s.verificationFlowAs(t, b.http, f.ID)
			if v := shown.node(t, "code").value(); v != code {
				t.Errorf("code node value = %v, want the code %s filled in", v, code)
			}
			res := b.do(t, http.MethodPost, s.submitURL("verification", f.ID), map[string]any{
				"method": "code", "code": code, "csrf_token": shown.csrf(t),
			}, nil)
			if res.status != http.StatusOK {
				t.Fatalf("code from the browser: status %d, want 200: %s", res.status, res.body)
			}
			if done := decodeVerification(t, res.body); done.State != "passed_challenge" {
				t.Errorf("state %v, want passed_challenge", done.State)
			}
			s.requireVerified(t, id, email)
		})

		t.Run("flow readable through the SDK", func(t *testing.T) {
			f := s.nativeVerification(t)
			got, res, err := s.Public.FrontendAPI.GetVerificationFlow(context.Background()).Id(f.ID).Execute()
			requireOK(t, res, err, http.StatusOK)
			if got.Id != f.ID || got.Type != "api" {
				t.Errorf("GetVerificationFlow = %s, want flow %s of type api", asJSON(got), f.ID)
			}
		})
	})
}
