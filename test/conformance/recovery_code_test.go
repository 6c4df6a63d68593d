package conformance

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	ory "github.com/ory/client-go"
)

// TestRecoveryCode_NativeFlowHandsOverToSettings walks a native app through
// recovery by code without continue_with transitions: as with Kratos, the
// right code answers 422 browser_location_change_required pointing at the
// settings UI, even for native flows.
func TestRecoveryCode_NativeFlowHandsOverToSettings(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		sink := startMailSink(t)
		s := recServer(t, store, sink, nil)
		email, id := recUser(t, s, "rec-native")

		f := recNative(t, s)
		if f.Type != "api" || f.State != "choose_method" || f.Active != "code" {
			t.Errorf("new flow: type %q state %v active %q, want api, choose_method, code", f.Type, f.State, f.Active)
		}
		if n := f.node(t, "email"); n.inputType() != "email" || n.Group != "code" || n.Meta.Label == nil || n.Meta.Label.ID != 1070007 {
			t.Errorf("email node = %s, want an email input in group code labelled 1070007", asJSON(n))
		}
		f.node(t, "method", "code")
		if v := f.node(t, "csrf_token").value(); v != "" && v != nil {
			t.Errorf("API flow csrf_token value = %v, want empty", v)
		}

		sent := recSDKEmail(t, s, f.ID, email)
		if sent.ID != f.ID {
			t.Errorf("answer is flow %s, want %s", sent.ID, f.ID)
		}
		recRequireSentEmail(t, sent, 1060003)
		if n := sent.node(t, "code"); n.Meta.Label == nil || n.Meta.Label.ID != 1070010 {
			t.Errorf("code node = %s, want label 1070010", asJSON(n))
		}
		sent.node(t, "email", email) // the resend button
		if got := recGetOK(t, s, plain(s), f.ID); got.State != "sent_email" {
			t.Errorf("GET flow after sending: state %v, want sent_email", got.State)
		}

		m := sink.WaitFor(t, email, "recovery code", recMailWait)
		code := m.Code(t)
		if msgs := recMessages(t, s, email); len(msgs) != 1 || msgs[0].TemplateType != "recovery_code_valid" {
			t.Errorf("courier messages to %s = %s, want one recovery_code_valid", email, asJSON(msgs))
		}

		res, body, err := recSDKCode(t, s, f.ID, code)
		if err == nil {
			t.Fatalf("the right code answered %d, want 422: %s", res.StatusCode, body)
		}
		settingsID := recLocationChange(t, res.StatusCode, body)
		if setCookie(response{header: res.Header}, "ory_kratos_session") != nil {
			t.Error("a native flow set a session cookie")
		}
		if got := recGetOK(t, s, plain(s), f.ID); got.State != "passed_challenge" {
			t.Errorf("flow after the right code: state %v, want passed_challenge", got.State)
		}
		// Receiving the code proved the address.
		s.requireAddressVerified(t, id, email)
		if settingsID == "" {
			t.Error("no settings flow")
		}
	})
}

// requireAddressVerified asserts the identity's verifiable address is
// verified with status completed.
func (s *Server) requireAddressVerified(t *testing.T, identityID, email string) {
	t.Helper()
	for _, a := range s.getIdentity(t, identityID).VerifiableAddresses {
		if a.Value == email {
			if !a.Verified || a.Status != "completed" {
				t.Errorf("address %s: verified %v status %q, want verified and completed", email, a.Verified, a.Status)
			}
			return
		}
	}
	t.Errorf("identity %s has no verifiable address %s", identityID, email)
}

// TestRecoveryCode_ContinueWithTransitions: with the feature flag a native
// app gets the session token and the settings flow, sets a new password
// with them and signs in with it.
func TestRecoveryCode_ContinueWithTransitions(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		sink := startMailSink(t)
		s := recServer(t, store, sink, map[string]any{"feature_flags.use_continue_with_transitions": true})

		t.Run("native", func(t *testing.T) {
			email, id := recUser(t, s, "rec-cw-native")
			f := recNative(t, s)
			recSDKEmail(t, s, f.ID, email)
			res, body, err := recSDKCode(t, s, f.ID, recMailCode(t, sink, email))
			if err != nil {
				t.Fatalf("the right code: status %d (%v), want 200: %s", res.StatusCode, err, body)
			}
			done := recDecode(t, body)
			if done.ID != f.ID || done.State != "passed_challenge" {
				t.Errorf("answer: flow %s state %v, want %s passed_challenge", done.ID, done.State, f.ID)
			}
			if len(done.ContinueWith) != 2 {
				t.Fatalf("continue_with = %s, want set_ory_session_token and show_settings_ui", asJSON(done.ContinueWith))
			}
			token, _ := done.ContinueWith[0]["ory_session_token"].(string)
			if done.ContinueWith[0]["action"] != "set_ory_session_token" || !sessionTokenFormat.MatchString(token) {
				t.Fatalf("continue_with[0] = %s, want set_ory_session_token with a session token", asJSON(done.ContinueWith[0]))
			}
			show := done.ContinueWith[1]
			sf, _ := show["flow"].(map[string]any)
			settingsID, _ := sf["id"].(string)
			uiURL, _ := sf["url"].(string)
			if show["action"] != "show_settings_ui" || settingsID == "" || recSettingsFlowID(t, uiURL) != settingsID {
				t.Fatalf("continue_with[1] = %s, want show_settings_ui with the flow id and its UI URL", asJSON(show))
			}

			status, sess, _ := s.whoami(t, plain(s), tokenHeader(token))
			if status != http.StatusOK || sess.Identity == nil || sess.Identity.Id != id {
				t.Fatalf("whoami with the recovery session: %d %s", status, asJSON(sess))
			}
			if ms := sess.AuthenticationMethods; len(ms) != 1 || ms[0].GetMethod() != "code_recovery" {
				t.Errorf("authentication_methods = %s, want one code_recovery", asJSON(ms))
			}

			got, res2, err := s.Public.FrontendAPI.GetSettingsFlow(context.Background()).Id(settingsID).XSessionToken(token).Execute()
			requireOK(t, res2, err, http.StatusOK)
			if got.Type != "api" {
				t.Errorf("settings flow type %q, want api", got.Type)
			}
			sfv := stFlowOf(t, res2)
			if m, ok := recMessage(recFlow{flowView: sfv.flowView}, 1060001); !ok || m.Type != "success" {
				t.Errorf("settings flow messages = %s, want 1060001 (success)", asJSON(sfv.UI.Messages))
			}
			recSettingsPassword(t, s, settingsID, token, recNewPassword)
			recRequireLogin(t, s, email, recNewPassword, testPassword)
		})

		t.Run("browser JSON", func(t *testing.T) {
			email, _ := recUser(t, s, "rec-cw-spa")
			b := newBrowser(t, s)
			f := recBrowser(t, b)
			res := recSubmit(t, s, b.http, f.ID, map[string]any{"method": "code", "email": email, "csrf_token": f.csrf(t)})
			if res.status != http.StatusOK {
				t.Fatalf("sending the code: %d: %s", res.status, res.body)
			}
			sent := recDecode(t, res.body)
			res = recSubmit(t, s, b.http, f.ID, map[string]any{"method": "code", "code": recMailCode(t, sink, email), "csrf_token": sent.csrf(t)})
			if res.status != http.StatusOK {
				t.Fatalf("the right code: %d, want 200: %s", res.status, res.body)
			}
			done := recDecode(t, res.body)
			if len(done.ContinueWith) != 1 || done.ContinueWith[0]["action"] != "show_settings_ui" {
				t.Errorf("continue_with = %s, want only show_settings_ui (browsers get a cookie, not a token)", asJSON(done.ContinueWith))
			}
			if setCookie(res, "ory_kratos_session") == nil {
				t.Error("no session cookie after browser recovery")
			}
			if status, _, _ := s.whoami(t, b.http, nil); status != http.StatusOK {
				t.Errorf("whoami in the recovered browser: %d", status)
			}
		})

		t.Run("too many codes", func(t *testing.T) {
			email, _ := recUser(t, s, "rec-cw-limit")
			f := recNative(t, s)
			recSDKEmail(t, s, f.ID, email)
			code := recMailCode(t, sink, email)
			for i := 0; i < 5; i++ {
				if res, body, err := recSDKCode(t, s, f.ID, recWrong(code)); err != nil {
					t.Fatalf("wrong code %d: %d: %s", i+1, res.StatusCode, body)
				}
			}
			res, body, _ := recSDKCode(t, s, f.ID, code)
			e := requireError(t, res.StatusCode, body, http.StatusBadRequest)
			cw, _ := e.Error.Details["continue_with"].([]any)
			var first map[string]any
			if len(cw) > 0 {
				first, _ = cw[0].(map[string]any)
			}
			nf, _ := first["flow"].(map[string]any)
			newID, _ := nf["id"].(string)
			if first["action"] != "show_recovery_ui" || newID == "" || newID == f.ID {
				t.Fatalf("details.continue_with = %s, want show_recovery_ui with a new flow", asJSON(cw))
			}
			if got := recGetOK(t, s, plain(s), newID); !hasMessage(got.UI.Messages, 4000001) {
				t.Errorf("new flow messages %v, want 4000001", messageIDs(got.UI.Messages))
			}
		})
	})
}

// recWrong is a six-digit code other than code.
func recWrong(code string) string {
	if code == "000000" {
		return "000001"
	}
	return "000000"
}

// TestRecoveryCode_BrowserFormFlow walks a server-rendered browser form
// through recovery: every step redirects, the session cookie arrives with
// the redirect to the settings UI, and the settings flow works in that
// browser to set a new password.
func TestRecoveryCode_BrowserFormFlow(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		sink := startMailSink(t)
		s := recServer(t, store, sink, nil)
		email, id := recUser(t, s, "rec-browser")
		b := newBrowser(t, s)

		res := b.do(t, http.MethodGet, s.PublicURL+"/self-service/recovery/browser", nil, nil)
		flowID := recRecoveryUIFlowID(t, res)
		if setCookie(res, csrfCookieName(s)) == nil {
			t.Error("creating a browser flow set no CSRF cookie")
		}
		f := recGetOK(t, s, b.http, flowID)
		if f.Type != "browser" || f.csrf(t) == "" {
			t.Fatalf("browser flow: type %q csrf %q", f.Type, f.csrf(t))
		}

		res = recSubmit(t, s, b.http, flowID, url.Values{"method": {"code"}, "email": {email}, "csrf_token": {f.csrf(t)}})
		if got := recRecoveryUIFlowID(t, res); got != flowID {
			t.Errorf("after sending: redirected to flow %s, want %s", got, flowID)
		}
		sent := recGetOK(t, s, b.http, flowID)
		recRequireSentEmail(t, sent, 1060003)
		code := recMailCode(t, sink, email)

		// A wrong code: back to the same flow, which says so.
		res = recSubmit(t, s, b.http, flowID, url.Values{"method": {"code"}, "code": {recWrong(code)}, "csrf_token": {sent.csrf(t)}})
		if got := recRecoveryUIFlowID(t, res); got != flowID {
			t.Errorf("after a wrong code: redirected to flow %s, want %s", got, flowID)
		}
		wrong := recGetOK(t, s, b.http, flowID)
		requireFlowMessage(t, wrong.flowView, 4060006)

		res = recSubmit(t, s, b.http, flowID, url.Values{"method": {"code"}, "code": {code}, "csrf_token": {wrong.csrf(t)}})
		settingsID := recSettingsFlowID(t, redirectTarget(t, res).String())
		if c := setCookie(res, "ory_kratos_session"); c == nil || !c.HttpOnly {
			t.Fatalf("no HttpOnly session cookie with the redirect to settings: %v", res.header["Set-Cookie"])
		}
		status, sess, _ := s.whoami(t, b.http, nil)
		if status != http.StatusOK || sess.Identity.Id != id {
			t.Fatalf("whoami in the recovered browser: %d", status)
		}

		// The settings flow belongs to this browser (its rotated CSRF
		// cookie) and takes the new password.
		sres := b.do(t, http.MethodGet, s.PublicURL+"/self-service/settings/flows?id="+settingsID, nil, jsonAccept)
		if sres.status != http.StatusOK {
			t.Fatalf("GET the settings flow in the recovered browser: %d: %s", sres.status, sres.body)
		}
		sf := stDecodeFlow(t, sres.body)
		requireFlowMessage(t, sf.flowView, 1060001)
		pres := b.do(t, http.MethodPost, s.submitURL("settings", settingsID), map[string]any{
			"method": "password", "password": recNewPassword, "csrf_token": sf.csrf(t),
		}, nil)
		if pres.status != http.StatusOK {
			t.Fatalf("setting the new password in the browser: %d: %s", pres.status, pres.body)
		}
		stRequireSuccess(t, stDecodeFlow(t, pres.body))
		recRequireLogin(t, s, email, recNewPassword, testPassword)
	})
}

// TestRecoveryCode_WrongCodeAnswers200WithTheFlow pins Kratos's intended
// answer to a wrong code (ory/kratos#2997): 200 with the same flow and
// message 4060006, not 400.
func TestRecoveryCode_WrongCodeAnswers200WithTheFlow(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		sink := startMailSink(t)
		s := recServer(t, store, sink, nil)
		email, _ := recUser(t, s, "rec-wrong")
		f := recNative(t, s)
		recSDKEmail(t, s, f.ID, email)
		code := recMailCode(t, sink, email)

		res, body, err := recSDKCode(t, s, f.ID, recWrong(code))
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("wrong code: status %d (%v), want 200: %s", res.StatusCode, err, body)
		}
		got := recDecode(t, body)
		if got.ID != f.ID || got.State != "sent_email" {
			t.Errorf("answer: flow %s state %v, want the same flow in sent_email", got.ID, got.State)
		}
		m, ok := recMessage(got, 4060006)
		if !ok || m.Type != "error" {
			t.Errorf("ui.messages = %s, want 4060006 (error)", asJSON(got.UI.Messages))
		}
		if hasMessage(got.UI.Messages, 1060003) {
			t.Errorf("ui.messages still says the code was sent: %v", messageIDs(got.UI.Messages))
		}
		got.node(t, "code")

		// An empty code is a wrong code too.
		res, body, _ = recSDKCode(t, s, f.ID, "")
		if res.StatusCode != http.StatusOK || !hasMessage(recDecode(t, body).UI.Messages, 4060006) {
			t.Errorf("empty code: %d: %s, want 200 with 4060006", res.StatusCode, body)
		}

		// The right code still works afterwards.
		res, body, _ = recSDKCode(t, s, f.ID, code)
		recLocationChange(t, res.StatusCode, body)
	})
}

// TestRecoveryCode_SixthSubmissionRetiresTheFlow: five wrong codes are
// answered in place; the sixth submission (even the right code) gets a new
// flow, as Kratos answers apps: 303 to GET the new flow, which says why.
func TestRecoveryCode_SixthSubmissionRetiresTheFlow(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		sink := startMailSink(t)
		s := recServer(t, store, sink, nil)

		t.Run("native", func(t *testing.T) {
			email, _ := recUser(t, s, "rec-limit")
			f := recNative(t, s)
			recSDKEmail(t, s, f.ID, email)
			code := recMailCode(t, sink, email)
			for i := 1; i <= 5; i++ {
				res := recSubmit(t, s, plain(s), f.ID, map[string]any{"method": "code", "code": recWrong(code)})
				if res.status != http.StatusOK || !hasMessage(recDecode(t, res.body).UI.Messages, 4060006) {
					t.Fatalf("wrong code %d: %d: %s, want 200 with 4060006", i, res.status, res.body)
				}
			}
			res := recSubmit(t, s, plain(s), f.ID, map[string]any{"method": "code", "code": code})
			newID := recRetriedFlowID(t, s, res)
			if newID == f.ID {
				t.Fatal("the retired flow was offered again")
			}
			nf := recGetOK(t, s, plain(s), newID)
			if nf.Type != "api" || nf.State != "choose_method" {
				t.Errorf("new flow: type %q state %v, want api choose_method", nf.Type, nf.State)
			}
			requireFlowMessage(t, nf.flowView, 4000001)
			nf.node(t, "email")

			// The code is gone for good.
			res = recSubmit(t, s, plain(s), f.ID, map[string]any{"method": "code", "code": code})
			if res.status == http.StatusUnprocessableEntity || res.status == http.StatusOK && !hasMessage(recDecode(t, res.body).UI.Messages, 4060006) {
				t.Errorf("the code after the limit: %d: %s", res.status, res.body)
			}
		})

		t.Run("max_submissions from the config", func(t *testing.T) {
			s := recServer(t, store, sink, map[string]any{"selfservice.methods.code.config.max_submissions": 2})
			email, _ := recUser(t, s, "rec-limit-2")
			f := recNative(t, s)
			recSDKEmail(t, s, f.ID, email)
			code := recMailCode(t, sink, email)
			for i := 1; i <= 2; i++ {
				res := recSubmit(t, s, plain(s), f.ID, map[string]any{"method": "code", "code": recWrong(code)})
				if res.status != http.StatusOK || !hasMessage(recDecode(t, res.body).UI.Messages, 4060006) {
					t.Fatalf("wrong code %d: %d: %s, want 200 with 4060006", i, res.status, res.body)
				}
			}
			res := recSubmit(t, s, plain(s), f.ID, map[string]any{"method": "code", "code": code})
			if newID := recRetriedFlowID(t, s, res); newID == f.ID {
				t.Fatal("the third submission was accepted with max_submissions: 2")
			}
		})

		t.Run("browser form", func(t *testing.T) {
			email, _ := recUser(t, s, "rec-limit-b")
			b := newBrowser(t, s)
			f := recBrowser(t, b)
			res := recSubmit(t, s, b.http, f.ID, url.Values{"method": {"code"}, "email": {email}, "csrf_token": {f.csrf(t)}})
			recRecoveryUIFlowID(t, res)
			code := recMailCode(t, sink, email)
			csrf := recGetOK(t, s, b.http, f.ID).csrf(t)
			for i := 1; i <= 5; i++ {
				res = recSubmit(t, s, b.http, f.ID, url.Values{"method": {"code"}, "code": {recWrong(code)}, "csrf_token": {csrf}})
				if got := recRecoveryUIFlowID(t, res); got != f.ID {
					t.Fatalf("wrong code %d: redirected to flow %s, want the same flow", i, got)
				}
			}
			res = recSubmit(t, s, b.http, f.ID, url.Values{"method": {"code"}, "code": {code}, "csrf_token": {csrf}})
			newID := recRecoveryUIFlowID(t, res)
			if newID == f.ID {
				t.Fatal("the retired flow was offered again")
			}
			nf := recGetOK(t, s, b.http, newID)
			requireFlowMessage(t, nf.flowView, 4000001)
			if status, _, _ := s.whoami(t, b.http, nil); status == http.StatusOK {
				t.Error("the sixth submission signed the browser in")
			}
		})
	})
}

// TestRecoveryCode_ExpiredCodeOffersNewFlow: a code past
// selfservice.methods.code.config.lifespan is not accepted; the app is sent
// to a new flow carrying 4060005.
func TestRecoveryCode_ExpiredCodeOffersNewFlow(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		sink := startMailSink(t)
		s := recServer(t, store, sink, map[string]any{"selfservice.methods.code.config.lifespan": "1s"})
		email, _ := recUser(t, s, "rec-expired")
		f := recNative(t, s)
		sent := recSDKEmail(t, s, f.ID, email)
		code := recMailCode(t, sink, email)
		if !sent.ExpiresAt.After(time.Now().Add(30 * time.Minute)) {
			t.Errorf("flow expires at %s: the code lifespan must not shorten the flow", sent.ExpiresAt)
		}
		time.Sleep(1100 * time.Millisecond) // the code's whole lifespan

		res := recSubmit(t, s, plain(s), f.ID, map[string]any{"method": "code", "code": code})
		newID := recRetriedFlowID(t, s, res)
		nf := recGetOK(t, s, plain(s), newID)
		m, ok := recMessage(nf, 4060005)
		if !ok || m.Type != "error" {
			t.Errorf("new flow messages = %s, want 4060005", asJSON(nf.UI.Messages))
		}
	})
}

// TestRecoveryCode_RedeemedOnceUnderRace fires the right code from several
// clients at once: exactly one recovers the account and gets a session.
func TestRecoveryCode_RedeemedOnceUnderRace(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		sink := startMailSink(t)
		s := recServer(t, store, sink, map[string]any{"feature_flags.use_continue_with_transitions": true})
		for round := 0; round < 2; round++ {
			email, id := recUser(t, s, "rec-race")
			f := recNative(t, s)
			recSDKEmail(t, s, f.ID, email)
			code := recMailCode(t, sink, email)

			const racers = 4
			results := make([]response, racers)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range results {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					results[i] = recSubmit(t, s, plain(s), f.ID, map[string]any{"method": "code", "code": code})
				}()
			}
			close(start)
			wg.Wait()

			wins := 0
			for _, res := range results {
				switch {
				case res.status >= 500:
					t.Errorf("a racing submission failed with %d: %s", res.status, res.body)
				case res.status == http.StatusOK && len(recDecode(t, res.body).ContinueWith) > 0:
					wins++
				}
			}
			if wins != 1 {
				t.Fatalf("round %d: %d submissions recovered the account, want exactly one: %s", round, wins, asJSON(results))
			}
			sessions, res, err := s.Admin.IdentityAPI.ListIdentitySessions(context.Background(), id).Execute()
			requireOK(t, res, err, http.StatusOK)
			if len(sessions) != 1 {
				t.Errorf("round %d: %d sessions were issued, want 1", round, len(sessions))
			}
		}
	})
}

// TestRecoveryCode_CodeIsBoundToItsFlowAndUsedOnce: a code works once, in
// the flow it was sent for; a resent code replaces the earlier one.
func TestRecoveryCode_CodeIsBoundToItsFlowAndUsedOnce(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		sink := startMailSink(t)
		s := recServer(t, store, sink, nil)
		email, _ := recUser(t, s, "rec-once")

		f := recNative(t, s)
		recSDKEmail(t, s, f.ID, email)
		first := recMailCode(t, sink, email)

		// Resend: a second mail; the first code no longer works.
		resent := recSDKEmail(t, s, f.ID, email)
		recRequireSentEmail(t, resent, 1060003)
		deadline := time.Now().Add(recMailWait)
		for recCodeMails(sink, email) < 2 {
			if time.Now().After(deadline) {
				t.Fatal("the resent code did not arrive")
			}
			time.Sleep(20 * time.Millisecond)
		}
		var second string
		for _, m := range sink.Received() {
			if m.sentTo(email) {
				second = m.Code(t)
			}
		}
		if first != second {
			res, body, _ := recSDKCode(t, s, f.ID, first)
			if res.StatusCode != http.StatusOK || !hasMessage(recDecode(t, body).UI.Messages, 4060006) {
				t.Errorf("the replaced code: %d: %s, want 200 with 4060006", res.StatusCode, body)
			}
		}

		// The code of this flow does not work in another flow.
		other := recNative(t, s)
		otherEmail, _ := recUser(t, s, "rec-once-other")
		recSDKEmail(t, s, other.ID, otherEmail)
		recMailCode(t, sink, otherEmail)
		res, body, _ := recSDKCode(t, s, other.ID, second)
		if res.StatusCode != http.StatusOK || !hasMessage(recDecode(t, body).UI.Messages, 4060006) {
			t.Errorf("code of another flow: %d: %s, want 200 with 4060006", res.StatusCode, body)
		}

		res, body, _ = recSDKCode(t, s, f.ID, second)
		recLocationChange(t, res.StatusCode, body)
		// Used: the flow is done and the code gives nothing more.
		res, body, _ = recSDKCode(t, s, f.ID, second)
		if res.StatusCode < 400 || res.StatusCode >= 500 || res.StatusCode == http.StatusUnprocessableEntity {
			t.Errorf("the used code again: %d: %s, want a 4xx refusal", res.StatusCode, body)
		}
	})
}

// TestRecoveryCode_NoAccountEnumeration: a known and an unknown address get
// the same answer; only notify_unknown_recipients sends the unknown address
// a message (recovery_code_invalid).
func TestRecoveryCode_NoAccountEnumeration(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		for _, notify := range []bool{false, true} {
			t.Run(map[bool]string{false: "quiet", true: "notify_unknown_recipients"}[notify], func(t *testing.T) {
				sink := startMailSink(t)
				s := recServer(t, store, sink, map[string]any{"selfservice.flows.recovery.notify_unknown_recipients": notify})
				known, _ := recUser(t, s, "rec-known")
				unknown := uniqueEmail("rec-unknown")

				answer := func(email string) response {
					f := recNative(t, s)
					res := recSubmit(t, s, plain(s), f.ID, map[string]any{"method": "code", "email": email})
					if res.status != http.StatusOK {
						t.Fatalf("sending to %s: %d: %s", email, res.status, res.body)
					}
					return res
				}
				a, b := answer(known), answer(unknown)
				if x, y := recNormalize(a.body, known), recNormalize(b.body, unknown); x != y {
					t.Errorf("known and unknown addresses are answered differently:\nknown:   %s\nunknown: %s", x, y)
				}
				recRequireSentEmail(t, recDecode(t, b.body), 1060003)

				recMailCode(t, sink, known)
				if notify {
					m := sink.WaitFor(t, unknown, "", recMailWait)
					if sixDigits.MatchString(m.Text) {
						t.Errorf("the unknown address got a code: %s", m.Text)
					}
					if msgs := recMessages(t, s, unknown); len(msgs) != 1 || msgs[0].TemplateType != "recovery_code_invalid" {
						t.Errorf("courier messages to the unknown address = %s, want one recovery_code_invalid", asJSON(msgs))
					}
				} else if msgs := recMessages(t, s, unknown); len(msgs) != 0 {
					t.Errorf("without notify_unknown_recipients the unknown address got %s", asJSON(msgs))
				}
			})
		}
	})
}

// recSDKEmailBrowser is recSDKEmail for a browser's flow (CSRF token from
// the flow, cookies from the jar).
func recSDKEmailBrowser(t *testing.T, b *browser, f recFlow, email string) recFlow {
	t.Helper()
	body := ory.UpdateRecoveryFlowWithCodeMethodAsUpdateRecoveryFlowBody(&ory.UpdateRecoveryFlowWithCodeMethod{
		Method: "code", Email: ory.PtrString(email), CsrfToken: ory.PtrString(f.csrf(t)),
	})
	_, res, err := b.sdk.FrontendAPI.UpdateRecoveryFlow(context.Background()).Flow(f.ID).UpdateRecoveryFlowBody(body).Execute()
	requireOK(t, res, err, http.StatusOK)
	return recFlowOf(t, res)
}
