package conformance

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	ory "github.com/ory/client-go"
)

// recLinkServer runs recovery with selfservice.flows.recovery.use: link.
func recLinkServer(t *testing.T, store string, sink *mailSink, set map[string]any) *Server {
	t.Helper()
	cfg := map[string]any{"selfservice.flows.recovery.use": "link"}
	for k, v := range set {
		cfg[k] = v
	}
	return recServer(t, store, sink, cfg)
}

// recMailLink waits for the recovery link mail to email and answers the link.
func recMailLink(t *testing.T, s *Server, sink *mailSink, email string) string {
	t.Helper()
	link := sink.WaitFor(t, email, "Recover access", recMailWait).Link(t, "/self-service/recovery?")
	u, err := url.Parse(link)
	if err != nil || withoutQuery(u) != s.PublicURL+"/self-service/recovery" || u.Query().Get("flow") == "" || u.Query().Get("token") == "" {
		t.Fatalf("recovery link %q, want %s/self-service/recovery?flow=..&token=..", link, s.PublicURL)
	}
	return link
}

// TestRecoveryLink_BrowserFlow: the link method mails a link; following it
// in the browser signs in and redirects to the settings UI; the password
// is changed there; the link works once.
func TestRecoveryLink_BrowserFlow(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		sink := startMailSink(t)
		s := recLinkServer(t, store, sink, nil)
		email, id := recUser(t, s, "rec-link")
		b := newBrowser(t, s)

		f := recBrowser(t, b)
		if f.Active != "link" {
			t.Errorf("active = %q, want link", f.Active)
		}
		f.node(t, "email")
		f.node(t, "method", "link")

		// Through the SDK, as an SPA would.
		body := ory.UpdateRecoveryFlowWithLinkMethodAsUpdateRecoveryFlowBody(&ory.UpdateRecoveryFlowWithLinkMethod{
			Method: "link", Email: email, CsrfToken: ory.PtrString(f.csrf(t)),
		})
		_, res, err := b.sdk.FrontendAPI.UpdateRecoveryFlow(context.Background()).Flow(f.ID).UpdateRecoveryFlowBody(body).Execute()
		requireOK(t, res, err, http.StatusOK)
		sent := recFlowOf(t, res)
		recRequireSentEmail(t, sent, 1060002)
		if _, ok := sent.find("code"); ok {
			t.Error("a link flow asks for a code")
		}

		link := recMailLink(t, s, sink, email)
		if strings.Contains(link, "&amp;") {
			t.Errorf("the plain-text link is HTML-escaped: %s", link)
		}
		if msgs := recMessages(t, s, email); len(msgs) != 1 || msgs[0].TemplateType != "recovery_valid" {
			t.Errorf("courier messages = %s, want one recovery_valid", asJSON(msgs))
		}

		res2 := b.do(t, http.MethodGet, link, nil, nil)
		settingsID := recSettingsFlowID(t, redirectTarget(t, res2).String())
		if setCookie(res2, "ory_kratos_session") == nil {
			t.Fatal("following the link set no session cookie")
		}
		status, sess, _ := s.whoami(t, b.http, nil)
		if status != http.StatusOK || sess.Identity.Id != id {
			t.Fatalf("whoami after following the link: %d", status)
		}
		if ms := sess.AuthenticationMethods; len(ms) != 1 || ms[0].GetMethod() != "link_recovery" {
			t.Errorf("authentication_methods = %s, want one link_recovery", asJSON(ms))
		}
		s.requireAddressVerified(t, id, email)

		sres := b.do(t, http.MethodGet, s.PublicURL+"/self-service/settings/flows?id="+settingsID, nil, jsonAccept)
		if sres.status != http.StatusOK {
			t.Fatalf("GET the settings flow: %d: %s", sres.status, sres.body)
		}
		sf := stDecodeFlow(t, sres.body)
		requireFlowMessage(t, sf.flowView, 1060001)
		pres := b.do(t, http.MethodPost, s.submitURL("settings", settingsID), url.Values{
			"method": {"password"}, "password": {recNewPassword}, "csrf_token": {sf.csrf(t)},
		}, nil)
		if pres.status != http.StatusSeeOther {
			t.Fatalf("setting the password by form: %d, want 303: %s", pres.status, pres.body)
		}
		recRequireLogin(t, s, email, recNewPassword, testPassword)

		// The link is spent: a fresh browser opening it gets a new flow
		// saying so, and no session.
		other := newBrowser(t, s)
		res3 := other.do(t, http.MethodGet, link, nil, nil)
		newID := recRecoveryUIFlowID(t, res3)
		if newID == f.ID {
			t.Error("the used link led back to its flow")
		}
		if setCookie(res3, "ory_kratos_session") != nil {
			t.Error("a used link set a session cookie")
		}
		requireFlowMessage(t, recGetOK(t, s, other.http, newID).flowView, 4060004)

		// A made-up token is refused the same way.
		u, _ := url.Parse(link)
		q := u.Query()
		q.Set("token", strings.Repeat("x", 32))
		u.RawQuery = q.Encode()
		res4 := other.do(t, http.MethodGet, u.String(), nil, nil)
		requireFlowMessage(t, recGetOK(t, s, other.http, recRecoveryUIFlowID(t, res4)).flowView, 4060004)
	})
}

// TestRecoveryLink_NoAccountEnumeration: with the link method too, a known
// and an unknown address get the same answer; the unknown one is told
// (recovery_invalid) only with notify_unknown_recipients.
func TestRecoveryLink_NoAccountEnumeration(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		sink := startMailSink(t)
		s := recLinkServer(t, store, sink, map[string]any{"selfservice.flows.recovery.notify_unknown_recipients": true})
		known, _ := recUser(t, s, "rec-link-known")
		unknown := uniqueEmail("rec-link-unknown")

		answer := func(email string) response {
			f := recNative(t, s)
			res := recSubmit(t, s, plain(s), f.ID, map[string]any{"method": "link", "email": email})
			if res.status != http.StatusOK {
				t.Fatalf("sending to %s: %d: %s", email, res.status, res.body)
			}
			return res
		}
		a, b := answer(known), answer(unknown)
		if x, y := recNormalize(a.body, known), recNormalize(b.body, unknown); x != y {
			t.Errorf("known and unknown addresses are answered differently:\nknown:   %s\nunknown: %s", x, y)
		}
		recMailLink(t, s, sink, known)
		m := sink.WaitFor(t, unknown, "", recMailWait)
		if strings.Contains(m.Text, "token=") {
			t.Errorf("the unknown address got a recovery link: %s", m.Text)
		}
		if msgs := recMessages(t, s, unknown); len(msgs) != 1 || msgs[0].TemplateType != "recovery_invalid" {
			t.Errorf("courier messages to the unknown address = %s, want one recovery_invalid", asJSON(msgs))
		}
	})
}
