package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"
)

// wrongCode is a six-digit code that differs from code.
func wrongCode(code string) string {
	if code == "000000" {
		return "000001"
	}
	return "000000"
}

// nativeCode starts a native flow, asks for a code for email and answers
// the flow id and the code that arrived.
func nativeCode(t *testing.T, s *Server, sink *mailSink, email string) (string, string) {
	t.Helper()
	f := s.nativeVerification(t)
	before := sink.CountTo(email)
	s.sdkSendCode(t, f.ID, email)
	return f.ID, waitNthMail(t, sink, email, before+1).Code(t)
}

// waitNthMail waits until recipient has n mails and answers the last.
func waitNthMail(t *testing.T, sink *mailSink, recipient string, n int) receivedMail {
	t.Helper()
	deadline := time.Now().Add(mailWait)
	for {
		var got []receivedMail
		for _, m := range sink.Received() {
			if m.sentTo(recipient) {
				got = append(got, m)
			}
		}
		if len(got) >= n {
			return got[n-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s received %d mails within %s, want %d", recipient, len(got), mailWait, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestVerification_CodeMistakes pins down what Kratos answers to codes
// that do not verify: wrong, replaced, from another flow, reused, tried
// too often.
func TestVerification_CodeMistakes(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		sink := startMailSink(t)
		// Kratos's per-flow limits are under test here; the guard's count
		// of guesses per address (guard_codes_test.go) would hold back the
		// new flow's code after the exhausted one's five wrong guesses.
		s := verificationServer(t, store, sink, map[string]any{"protection.attempts.free_failures": 100})

		// Kratos answers a wrong code with 200 and the flow carrying
		// 4070006 (issue #2997: intentional, the form is shown again).
		t.Run("wrong code", func(t *testing.T) {
			email := uniqueEmail("wrong-code")
			id := s.newVerifiable(t, email)
			flowID, code := nativeCode(t, s, sink, email)
			res := sendRequest(t, plain(s), http.MethodPost, s.submitURL("verification", flowID),
				map[string]any{"method": "code", "code": wrongCode(code)}, nil)
			if res.status != http.StatusOK {
				t.Fatalf("wrong code: status %d, want 200: %s", res.status, res.body)
			}
			f := decodeVerification(t, res.body)
			requireFlowMessage(t, f, 4070006)
			if f.State != "sent_email" || f.ID != flowID {
				t.Errorf("flow %s state %v, want the same flow %s still in sent_email", f.ID, f.State, flowID)
			}
			f.node(t, "code")
			s.requireUnverified(t, id, email)
			// The right code still works afterwards.
			if done := s.sdkSubmitCode(t, flowID, code); done.State != "passed_challenge" {
				t.Errorf("right code after a wrong one: state %v, want passed_challenge", done.State)
			}
			s.requireVerified(t, id, email)
		})

		t.Run("wrong code from a browser form", func(t *testing.T) {
			email := uniqueEmail("wrong-form")
			s.newVerifiable(t, email)
			b := newBrowser(t, s)
			f, _ := b.browserFlow(t, "verification", nil)
			uiFlowID(t, b.do(t, http.MethodPost, s.submitURL("verification", f.ID), url.Values{
				"csrf_token": {f.csrf(t)}, "method": {"code"}, "email": {email},
			}, nil))
			code := sink.WaitFor(t, email, "", mailWait).Code(t)
			sent := s.verificationFlowAs(t, b.http, f.ID)
			if got := uiFlowID(t, b.do(t, http.MethodPost, s.submitURL("verification", f.ID), url.Values{
				"csrf_token": {sent.csrf(t)}, "method": {"code"}, "code": {wrongCode(code)},
			}, nil)); got != f.ID {
				t.Errorf("wrong code redirected to flow %s, want the same flow %s", got, f.ID)
			}
			requireFlowMessage(t, s.verificationFlowAs(t, b.http, f.ID), 4070006)
		})

		t.Run("code replaced by a resend", func(t *testing.T) {
			email := uniqueEmail("resend")
			id := s.newVerifiable(t, email)
			flowID, first := nativeCode(t, s, sink, email)
			second := first
			for n := 2; second == first; n++ { // a new code may repeat the old by chance
				if n > 4 {
					t.Fatalf("every resent code equals the first (%s)", first)
				}
				s.sdkSendCode(t, flowID, email)
				second = waitNthMail(t, sink, email, n).Code(t)
			}
			if f := s.sdkSubmitCode(t, flowID, first); !hasID(sdkMessageIDs(f), 4070006) || f.State != "sent_email" {
				t.Errorf("the replaced code: state %v messages %v, want sent_email and 4070006", f.State, sdkMessageIDs(f))
			}
			if f := s.sdkSubmitCode(t, flowID, second); f.State != "passed_challenge" {
				t.Errorf("the new code: state %v, want passed_challenge", f.State)
			}
			s.requireVerified(t, id, email)
		})

		t.Run("code of another flow", func(t *testing.T) {
			email := uniqueEmail("other-flow")
			id := s.newVerifiable(t, email)
			_, code := nativeCode(t, s, sink, email)
			other := s.nativeVerification(t)
			s.sdkSendCode(t, other.ID, uniqueEmail("nobody"))
			if f := s.sdkSubmitCode(t, other.ID, code); !hasID(sdkMessageIDs(f), 4070006) {
				t.Errorf("a code of another flow: messages %v, want 4070006", sdkMessageIDs(f))
			}
			s.requireUnverified(t, id, email)
		})

		// A completed flow is replaced by a new one saying so (4070002),
		// so a reused code cannot do anything.
		t.Run("reused code", func(t *testing.T) {
			email := uniqueEmail("reuse")
			s.newVerifiable(t, email)
			flowID, code := nativeCode(t, s, sink, email)
			s.sdkSubmitCode(t, flowID, code)
			res := sendRequest(t, plain(s), http.MethodPost, s.submitURL("verification", flowID),
				map[string]any{"method": "code", "code": code}, nil)
			next := requireReplaced(t, res)
			if next == flowID {
				t.Fatalf("use_flow_id is the completed flow")
			}
			nf := s.verificationFlowAs(t, plain(s), next)
			requireFlowMessage(t, nf, 4070002)
			if nf.State != "choose_method" || nf.Type != "api" {
				t.Errorf("new flow state %v type %s, want choose_method and api", nf.State, nf.Type)
			}
		})

		// Kratos counts every code submission of a flow; after
		// max_submissions (5) the next one replaces the flow, even with
		// the right code.
		t.Run("too many attempts", func(t *testing.T) {
			email := uniqueEmail("brute")
			id := s.newVerifiable(t, email)
			flowID, code := nativeCode(t, s, sink, email)
			for i := 1; i <= 5; i++ {
				if f := s.sdkSubmitCode(t, flowID, wrongCode(code)); !hasID(sdkMessageIDs(f), 4070006) {
					t.Fatalf("wrong code %d: messages %v, want 4070006", i, sdkMessageIDs(f))
				}
			}
			res := sendRequest(t, plain(s), http.MethodPost, s.submitURL("verification", flowID),
				map[string]any{"method": "code", "code": code}, nil)
			next := requireReplaced(t, res)
			requireFlowMessage(t, s.verificationFlowAs(t, plain(s), next), 4000001)
			s.requireUnverified(t, id, email)
			// A resend on the exhausted flow does not buy new attempts.
			s.sdkSendCode(t, flowID, email)
			again := waitNthMail(t, sink, email, 2).Code(t)
			requireReplaced(t, sendRequest(t, plain(s), http.MethodPost, s.submitURL("verification", flowID),
				map[string]any{"method": "code", "code": again}, nil))
			s.requireUnverified(t, id, email)
			// A new flow starts afresh.
			fresh, freshCode := nativeCode(t, s, sink, email)
			if f := s.sdkSubmitCode(t, fresh, freshCode); f.State != "passed_challenge" {
				t.Errorf("new flow: state %v, want passed_challenge", f.State)
			}
			s.requireVerified(t, id, email)
		})

		t.Run("browser submission without CSRF token", func(t *testing.T) {
			b := newBrowser(t, s)
			f, _ := b.browserFlow(t, "verification", nil)
			res := b.do(t, http.MethodPost, s.submitURL("verification", f.ID),
				map[string]any{"method": "code", "email": uniqueEmail("csrf")}, nil)
			if e := requireError(t, res.status, res.body, http.StatusForbidden); e.Error.ID != "security_csrf_violation" {
				t.Errorf("error.id = %q, want security_csrf_violation", e.Error.ID)
			}
			res = b.do(t, http.MethodPost, s.submitURL("verification", f.ID),
				url.Values{"method": {"code"}, "email": {uniqueEmail("csrf-form")}}, nil)
			if loc := redirectTarget(t, res); withoutQuery(loc) != errorUI || loc.Query().Get("id") == "" {
				t.Errorf("form without token: Location %s, want %s?id=<error>", loc, errorUI)
			}
			errID := redirectTarget(t, res).Query().Get("id")
			stored := s.do(t, http.MethodGet, s.PublicURL+"/self-service/errors?id="+errID, nil, nil)
			if !strings.Contains(string(stored.body), "security_csrf_violation") {
				t.Errorf("stored error %s, want security_csrf_violation", stored.body)
			}
			// Another browser's token does not do either.
			other := newBrowser(t, s)
			of, _ := other.browserFlow(t, "verification", nil)
			res = b.do(t, http.MethodPost, s.submitURL("verification", f.ID),
				map[string]any{"method": "code", "email": uniqueEmail("csrf"), "csrf_token": of.csrf(t)}, nil)
			requireError(t, res.status, res.body, http.StatusForbidden)
		})

		t.Run("native flow refuses browser state", func(t *testing.T) {
			f := s.nativeVerification(t)
			res := sendRequest(t, plain(s), http.MethodPost, s.submitURL("verification", f.ID),
				map[string]any{"method": "code", "email": uniqueEmail("cookie")}, http.Header{"Cookie": {"a=b"}})
			if res.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", res.status, res.body)
			}
			requireFlowMessage(t, decodeVerification(t, res.body), 4000001)
		})

		// Known and unknown addresses get the same answer; only a known
		// one gets a message (notify_unknown_recipients is off).
		t.Run("enumeration", func(t *testing.T) {
			known, unknown := uniqueEmail("known"), uniqueEmail("unknown")
			s.newVerifiable(t, known)
			shape := func(email string) string {
				f := s.nativeVerification(t)
				res := sendRequest(t, plain(s), http.MethodPost, s.submitURL("verification", f.ID),
					map[string]any{"method": "code", "email": email}, nil)
				if res.status != http.StatusOK {
					t.Fatalf("%s: status %d: %s", email, res.status, res.body)
				}
				v := decodeVerification(t, res.body)
				var nodes []string
				for _, n := range v.UI.Nodes {
					value := fmt.Sprint(n.value())
					if value == email {
						value = "<address>"
					}
					nodes = append(nodes, n.Group+"/"+n.name()+"/"+n.inputType()+"/"+value)
				}
				sort.Strings(nodes)
				msgs, _ := json.Marshal(v.UI.Messages)
				return fmt.Sprintf("%v %s %v", v.State, msgs, nodes)
			}
			if a, b := shape(known), shape(unknown); a != b {
				t.Errorf("known and unknown addresses answer differently:\n%s\n%s", a, b)
			}
			sink.WaitFor(t, known, "", mailWait)
			if ms := s.courierMessages(t, unknown); len(ms) != 0 {
				t.Errorf("messages to the unknown address: %s, want none without notify_unknown_recipients", asJSON(ms))
			}
		})
	})
}

// TestVerification_NotifyUnknownRecipients sends the "no account" message
// to unknown addresses when configured.
func TestVerification_NotifyUnknownRecipients(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		sink := startMailSink(t)
		s := verificationServer(t, store, sink, map[string]any{
			"selfservice.flows.verification.notify_unknown_recipients": true,
		})
		unknown := uniqueEmail("stranger")
		f := s.nativeVerification(t)
		sent := s.sdkSendCode(t, f.ID, unknown)
		if sent.State != "sent_email" || !hasID(sdkMessageIDs(sent), 1080003) {
			t.Errorf("state %v messages %v, want sent_email and 1080003 as for a known address", sent.State, sdkMessageIDs(sent))
		}
		m := sink.WaitFor(t, unknown, "", mailWait)
		if sixDigits.MatchString(m.Text) {
			t.Errorf("the message to an unknown address carries a code: %s", m.Text)
		}
		ms := s.courierMessages(t, unknown)
		if len(ms) != 1 || ms[0].TemplateType != "verification_code_invalid" {
			t.Errorf("courier messages to %s = %s, want one verification_code_invalid", unknown, asJSON(ms))
		}
	})
}

// TestVerification_Expiry sets short lifespans: an expired code reads as
// invalid (4070006, as current Kratos treats it), an expired flow is
// replaced by a new one carrying 4070005.
func TestVerification_Expiry(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		sink := startMailSink(t)
		s := verificationServer(t, store, sink, map[string]any{
			"selfservice.flows.verification.lifespan":  "5s",
			"selfservice.methods.code.config.lifespan": "1s",
		})
		email := uniqueEmail("expiry")
		id := s.newVerifiable(t, email)

		// All flows start now, so they expire together.
		native := s.nativeVerification(t)
		b := newBrowser(t, s)
		browserJSON, _ := b.browserFlow(t, "verification", nil)
		browserForm, _ := b.browserFlow(t, "verification", nil)

		s.sdkSendCode(t, native.ID, email)
		m := sink.WaitFor(t, email, "", mailWait)
		code := m.Code(t)
		sleepUntil(t, time.Now().Add(1100*time.Millisecond))
		if time.Now().After(native.ExpiresAt) {
			t.Fatalf("the flow expired before the code could be checked (slow machine)")
		}
		if f := s.sdkSubmitCode(t, native.ID, code); !hasID(sdkMessageIDs(f), 4070006) || f.State != "sent_email" {
			t.Errorf("expired code: state %v messages %v, want sent_email and 4070006", f.State, sdkMessageIDs(f))
		}
		s.requireUnverified(t, id, email)

		sleepUntil(t, browserForm.ExpiresAt.Add(100*time.Millisecond)) // the last one to expire
		// Native: 303 to the new flow's JSON.
		res := sendRequest(t, plain(s), http.MethodPost, s.submitURL("verification", native.ID),
			map[string]any{"method": "code", "email": email}, nil)
		loc := redirectTarget(t, res)
		if withoutQuery(loc) != s.PublicURL+"/self-service/verification/flows" || loc.Query().Get("id") == "" || loc.Query().Get("id") == native.ID {
			t.Fatalf("expired native flow: Location %s, want %s/self-service/verification/flows?id=<new flow>", loc, s.PublicURL)
		}
		nf := s.verificationFlowAs(t, plain(s), loc.Query().Get("id"))
		requireFlowMessage(t, nf, 4070005)
		if nf.Type != "api" || nf.State != "choose_method" {
			t.Errorf("new flow type %s state %v, want api and choose_method", nf.Type, nf.State)
		}

		// Browser, JSON: also sent to the new flow's JSON.
		res = b.do(t, http.MethodPost, s.submitURL("verification", browserJSON.ID),
			map[string]any{"method": "code", "email": email, "csrf_token": browserJSON.csrf(t)}, nil)
		loc = redirectTarget(t, res)
		if withoutQuery(loc) != s.PublicURL+"/self-service/verification/flows" {
			t.Fatalf("expired browser flow (JSON): Location %s, want the new flow's JSON", loc)
		}
		requireFlowMessage(t, s.verificationFlowAs(t, b.http, loc.Query().Get("id")), 4070005)

		// Browser form: to the UI with the new flow.
		next := uiFlowID(t, b.do(t, http.MethodPost, s.submitURL("verification", browserForm.ID),
			url.Values{"method": {"code"}, "email": {email}, "csrf_token": {browserForm.csrf(t)}}, nil))
		if next == browserForm.ID {
			t.Fatalf("the expired flow was shown again")
		}
		nb := s.verificationFlowAs(t, b.http, next)
		requireFlowMessage(t, nb, 4070005)
		if nb.Type != "browser" {
			t.Errorf("new flow type %s, want browser", nb.Type)
		}

		// Reading the expired flow answers 410.
		_, r, err := s.Public.FrontendAPI.GetVerificationFlow(context.Background()).Id(native.ID).Execute()
		status, body := sdkFailure(t, r, err)
		if e := requireError(t, status, body, http.StatusGone); e.Error.ID != "self_service_flow_expired" {
			t.Errorf("error.id = %q, want self_service_flow_expired", e.Error.ID)
		}
	})
}

// sleepUntil waits for a moment a lifespan needs to pass.
func sleepUntil(t *testing.T, when time.Time) {
	t.Helper()
	if d := time.Until(when); d > 0 {
		time.Sleep(d)
	}
}
