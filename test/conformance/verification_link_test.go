package conformance

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	ory "github.com/ory/client-go"
)

// TestVerification_Link covers use: link: the message carries a link with
// a token; following it verifies the address; a used or unknown token
// leads to a new flow saying so.
func TestVerification_Link(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		sink := startMailSink(t)
		s := verificationServer(t, store, sink, map[string]any{
			"selfservice.flows.verification.use": "link",
		})

		t.Run("native flow", func(t *testing.T) {
			email := uniqueEmail("link-native")
			id := s.newVerifiable(t, email)
			f := s.nativeVerification(t)
			if n := f.node(t, "email"); n.Group != "link" {
				t.Errorf("email node group %q, want link", n.Group)
			}
			f.node(t, "method", "link")
			sent, res, err := s.Public.FrontendAPI.UpdateVerificationFlow(context.Background()).Flow(f.ID).
				UpdateVerificationFlowBody(ory.UpdateVerificationFlowWithLinkMethodAsUpdateVerificationFlowBody(
					&ory.UpdateVerificationFlowWithLinkMethod{Method: "link", Email: email})).Execute()
			requireOK(t, res, err, http.StatusOK)
			if sent.State != "sent_email" || !hasID(sdkMessageIDs(sent), 1080001) {
				t.Fatalf("after sending: state %v messages %v, want sent_email and 1080001", sent.State, sdkMessageIDs(sent))
			}
			m := sink.WaitFor(t, email, "", mailWait)
			link, err := url.Parse(m.Link(t, "/self-service/verification"))
			if err != nil || link.Query().Get("flow") != f.ID || link.Query().Get("token") == "" {
				t.Fatalf("link %s, want flow %s and a token", link, f.ID)
			}
			// An API flow's link answers with the flow itself.
			got := sendRequest(t, plain(s), http.MethodGet, link.String(), nil, nil)
			if got.status != http.StatusOK {
				t.Fatalf("following the link: status %d, want 200: %s", got.status, got.body)
			}
			done := decodeVerification(t, got.body)
			if done.State != "passed_challenge" {
				t.Errorf("state %v, want passed_challenge", done.State)
			}
			requireFlowMessage(t, done, 1080002)
			s.requireVerified(t, id, email)
		})

		t.Run("browser flow", func(t *testing.T) {
			email := uniqueEmail("link-browser")
			id := s.newVerifiable(t, email)
			b := newBrowser(t, s)
			f, _ := b.browserFlow(t, "verification", nil)
			uiFlowID(t, b.do(t, http.MethodPost, s.submitURL("verification", f.ID), url.Values{
				"csrf_token": {f.csrf(t)}, "method": {"link"}, "email": {email},
			}, nil))
			sent := s.verificationFlowAs(t, b.http, f.ID)
			requireFlowMessage(t, sent, 1080001)
			link := sink.WaitFor(t, email, "", mailWait).Link(t, "/self-service/verification")

			// The link opens in whatever browser reads the mail.
			reader := newBrowser(t, s)
			if next := uiFlowID(t, reader.do(t, http.MethodGet, link, nil, nil)); next != f.ID {
				t.Errorf("the link shows flow %s, want %s", next, f.ID)
			}
			done := s.verificationFlowAs(t, b.http, f.ID)
			if done.State != "passed_challenge" {
				t.Errorf("state %v, want passed_challenge", done.State)
			}
			requireFlowMessage(t, done, 1080002)
			s.requireVerified(t, id, email)

			// Following the link again leads to a new flow: this one is done.
			next := uiFlowID(t, reader.do(t, http.MethodGet, link, nil, nil))
			if next == f.ID {
				t.Fatalf("the used link shows the completed flow again")
			}
			requireFlowMessage(t, s.verificationFlowAs(t, reader.http, next), 4070002)
		})

		t.Run("unknown token", func(t *testing.T) {
			f := s.nativeVerification(t)
			reader := newBrowser(t, s)
			u := s.PublicURL + "/self-service/verification?flow=" + f.ID + "&token=" + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			next := uiFlowID(t, reader.do(t, http.MethodGet, u, nil, nil))
			if next == f.ID {
				t.Fatalf("an unknown token shows the flow again; want a new flow")
			}
			nf := s.verificationFlowAs(t, reader.http, next)
			requireFlowMessage(t, nf, 4070001)
			if nf.Type != "browser" {
				t.Errorf("new flow type %s, want browser (links open in browsers)", nf.Type)
			}
		})

		t.Run("token of another flow", func(t *testing.T) {
			email := uniqueEmail("link-other")
			id := s.newVerifiable(t, email)
			f := s.nativeVerification(t)
			sendRequest(t, plain(s), http.MethodPost, s.submitURL("verification", f.ID), map[string]any{"method": "link", "email": email}, nil)
			link, _ := url.Parse(sink.WaitFor(t, email, "", mailWait).Link(t, "/self-service/verification"))
			other := s.nativeVerification(t)
			q := link.Query()
			q.Set("flow", other.ID)
			wrong := *link
			wrong.RawQuery = q.Encode()
			reader := newBrowser(t, s)
			requireFlowMessage(t, s.verificationFlowAs(t, reader.http, uiFlowID(t, reader.do(t, http.MethodGet, wrong.String(), nil, nil))), 4070001)
			s.requireUnverified(t, id, email)
			// The token still works on its own flow.
			if got := sendRequest(t, plain(s), http.MethodGet, link.String(), nil, nil); got.status != http.StatusOK {
				t.Fatalf("the right flow afterwards: status %d: %s", got.status, got.body)
			}
			s.requireVerified(t, id, email)
		})
	})
}
