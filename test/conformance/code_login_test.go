package conformance

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// Passwordless sign-in with a one-time code (selfservice.methods.code
// .passwordless_enabled), as Kratos v26 answers it: the identifier first,
// then the code that went to it by email or SMS.

// TestCodeLogin_Native covers the native app's path and its mistakes on
// one server; every subtest uses its own account.
func TestCodeLogin_Native(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		e := codeServer(t, store, nil)

		t.Run("the flow offers the code", func(t *testing.T) {
			t.Parallel()
			f := e.nativeFlow(t, "login")
			requireNode(t, f, "identifier", "", "", "default", 0)
			requireNode(t, f, "method", "code", "submit", "code", 1010015)
		})

		t.Run("send then sign in once", func(t *testing.T) {
			t.Parallel()
			email := uniqueEmail("code-login")
			id := e.codeUser(t, email, "", "")
			e.requireVerified(t, id, email, false)
			f := e.nativeFlow(t, "login")
			status, body := e.codeLogin(t, f.ID, "", codeLoginBody(email, "", ""))
			requireLoginCodeSent(t, requireFlowAnswer(t, "login", status, body, "asking for a code"), email)
			code := e.codeSent(t, email, loginCodeMessage, 1)

			status, body = e.codeLogin(t, f.ID, "", codeLoginBody(email, code, ""))
			ok := requireNativeSession(t, status, body, "signing in with the code")
			requireMethods(t, ok.Session, "code/aal1")
			if ok.Session.Identity == nil || ok.Session.Identity.Id != id {
				t.Errorf("session identity = %s, want %s", asJSON(ok.Session.Identity), id)
			}
			requireVerifiedIn(t, "the sign-in answer", ok.Session.Identity, email)
			if st, sess, who := e.whoami(t, plain(e.Server), tokenHeader(ok.SessionToken)); st != http.StatusOK {
				t.Errorf("whoami with the new token: %d %s", st, who.body)
			} else {
				requireVerifiedIn(t, "whoami", sess.Identity, email)
			}
			e.requireVerified(t, id, email, true)

			// The flow is done: the same submission again starts nothing.
			status, body = e.codeLogin(t, f.ID, "", codeLoginBody(email, code, ""))
			again := requireFlowAnswer(t, "login", status, body, "submitting the completed flow again")
			requireAnyMessage(t, again, 4010007)
			// Nor does the spent code open another flow of the address.
			other := e.nativeFlow(t, "login")
			if status, body = e.codeLogin(t, other.ID, "", codeLoginBody(email, code, "")); status == http.StatusOK {
				t.Errorf("the spent code signed in through a new flow: %s", body)
			}
			if n := e.sessionsOf(t, id); n != 1 {
				t.Errorf("%d sessions after signing in once, want 1", n)
			}
			e.requireNotLogged(t, code)
		})

		t.Run("malformed submissions change nothing", func(t *testing.T) {
			t.Parallel()
			email := uniqueEmail("code-malformed")
			id := e.codeUser(t, email, "", "")
			for _, identifier := range []string{
				"", "not an address", "+1", strings.Repeat("9", 300), "a@" + strings.Repeat("b", 300) + ".org",
				"nul\x00@example.org", "+1555\x000100",
			} {
				f := e.nativeFlow(t, "login")
				status, body := e.codeLogin(t, f.ID, "", codeLoginBody(identifier, "", ""))
				requireFlowAnswer(t, "login", status, body, fmt.Sprintf("identifier %.20q", identifier))
			}
			flowID, code := e.askLoginCode(t, email)
			for _, c := range []string{"abcdef", code[:5], code + "0", strings.Repeat("1", 1000), code[:3] + "\x00" + code[3:]} {
				status, body := e.codeLogin(t, flowID, "", codeLoginBody(email, c, ""))
				requireFlowAnswer(t, "login", status, body, fmt.Sprintf("code %.20q", c))
			}
			if n := e.sessionsOf(t, id); n != 0 {
				t.Errorf("malformed codes made %d sessions", n)
			}
		})

		t.Run("a wrong code keeps the right one", func(t *testing.T) {
			t.Parallel()
			email := uniqueEmail("code-wrong")
			id := e.codeUser(t, email, "", testPassword)
			flowID, code := e.askLoginCode(t, email)

			status, body := e.codeLogin(t, flowID, "", codeLoginBody(email, otherCode(code), ""))
			wrong := requireFlowAnswer(t, "login", status, body, "a wrong code")
			requireMessages(t, wrong, 4010008)
			requireState(t, wrong, "sent_email")
			if n := e.sessionsOf(t, id); n != 0 {
				t.Errorf("a wrong code made %d sessions", n)
			}

			status, body = e.codeLogin(t, flowID, "", codeLoginBody(email, code, ""))
			requireMethods(t, requireNativeSession(t, status, body, "the right code after a wrong one").Session, "code/aal1")
		})

		t.Run("resend replaces the code", func(t *testing.T) {
			t.Parallel()
			email := uniqueEmail("code-resend")
			e.codeUser(t, email, "", "")
			flowID, first := e.askLoginCode(t, email)

			status, body := e.codeLogin(t, flowID, "", codeLoginBody(email, "", "code"))
			requireLoginCodeSent(t, requireFlowAnswer(t, "login", status, body, "resend"), email)
			second := e.codeSent(t, email, loginCodeMessage, 2)
			if second == first {
				t.Fatalf("the resent code %s is the first one", second)
			}
			status, body = e.codeLogin(t, flowID, "", codeLoginBody(email, first, ""))
			requireMessages(t, requireFlowAnswer(t, "login", status, body, "the replaced code"), 4010008)
			status, body = e.codeLogin(t, flowID, "", codeLoginBody(email, second, ""))
			requireNativeSession(t, status, body, "the resent code")
		})

		t.Run("too many submissions", func(t *testing.T) {
			t.Parallel()
			email := uniqueEmail("code-max")
			id := e.codeUser(t, email, "", "")
			flowID, code := e.askLoginCode(t, email)
			for i := range 5 { // config.max_submissions defaults to 5
				status, body := e.codeLogin(t, flowID, "", codeLoginBody(email, otherCode(code), ""))
				got := requireFlowAnswer(t, "login", status, body, fmt.Sprintf("wrong code %d", i+1))
				requireMessages(t, got, 4010008)
			}
			status, body := e.codeLogin(t, flowID, "", codeLoginBody(email, code, ""))
			requireAnyMessage(t, requireFlowAnswer(t, "login", status, body, "the right code after five wrong ones"), 4000001)
			if n := e.sessionsOf(t, id); n != 0 {
				t.Errorf("the sixth submission made %d sessions", n)
			}
		})

		t.Run("unknown identifier", func(t *testing.T) {
			t.Parallel()
			nobody := uniqueEmail("code-nobody")
			f := e.nativeFlow(t, "login")
			status, body := e.codeLogin(t, f.ID, "", codeLoginBody(nobody, "", ""))
			got := requireFlowAnswer(t, "login", status, body, "an address no account has")
			requireMessages(t, got, 4000035)
			requireState(t, got, "choose_method")
			if ms := e.courierMessages(t, nobody); len(ms) != 0 {
				t.Errorf("messages were queued for an unknown address: %s", asJSON(ms))
			}
			e.requireNothingDelivered(t, nobody, e.knownAddress(t))
		})

		t.Run("sms", func(t *testing.T) {
			t.Parallel()
			email, phone := uniqueEmail("code-sms"), uniquePhone()
			id := e.codeUser(t, email, phone, "")
			f := e.nativeFlow(t, "login")
			status, body := e.codeLogin(t, f.ID, "", codeLoginBody(phone, "", ""))
			requireLoginCodeSent(t, requireFlowAnswer(t, "login", status, body, "asking for a code by SMS"), phone)
			code := e.codeSent(t, phone, loginCodeMessage, 1)
			sms := e.smsWith(t, phone, code)
			data, _ := sms["data"].(map[string]any)
			if sms["kind"] != loginCodeMessage || data["login_code"] != code || data["to"] != phone {
				t.Errorf("SMS = %s, want a %s to %s with template_data.login_code %s", asJSON(sms), loginCodeMessage, phone, code)
			}
			if identity, _ := data["identity"].(map[string]any); identity["id"] != id || data["expires_in_minutes"] != float64(60) {
				t.Errorf("template_data = %s, want the identity %s and expires_in_minutes 60", asJSON(data), id)
			}
			if n := e.sink.CountTo(email); n != 0 {
				t.Errorf("the code for the phone number also went to the email (%d mails)", n)
			}
			status, body = e.codeLogin(t, f.ID, "", codeLoginBody(phone, code, ""))
			ok := requireNativeSession(t, status, body, "signing in with the SMS code")
			requireMethods(t, ok.Session, "code/aal1")
			e.requireVerified(t, id, phone, true)
			e.requireVerified(t, id, email, false)
		})

		t.Run("identifiers are normalised", func(t *testing.T) {
			t.Parallel()
			email, phone := uniqueEmail("code-case"), uniquePhone()
			id := e.codeUser(t, email, phone, "")
			// +1555010dddd written as people write it.
			spaced := "+1 (555) 010-" + phone[len(phone)-4:]
			for _, c := range []struct{ typed, address string }{{strings.ToUpper(email), email}, {spaced, phone}} {
				f := e.nativeFlow(t, "login")
				status, body := e.codeLogin(t, f.ID, "", codeLoginBody(c.typed, "", ""))
				got := requireFlowAnswer(t, "login", status, body, "asking for a code as "+c.typed)
				requireState(t, got, "sent_email")
				code := e.codeSent(t, c.address, loginCodeMessage, 1)
				status, body = e.codeLogin(t, f.ID, "", codeLoginBody(c.typed, code, ""))
				ok := requireNativeSession(t, status, body, "the code of "+c.typed)
				if ok.Session.Identity == nil || ok.Session.Identity.Id != id {
					t.Errorf("session identity = %s, want %s", asJSON(ok.Session.Identity), id)
				}
			}
		})

		t.Run("browser json", func(t *testing.T) {
			t.Parallel()
			email := uniqueEmail("code-ajax")
			id := e.codeUser(t, email, "", "")
			b := newBrowser(t, e.Server)
			f, _ := b.browserFlow(t, "login", nil)
			// Without the CSRF token nothing is sent.
			res := b.do(t, http.MethodPost, e.submitURL("login", f.ID), map[string]any{"method": "code", "identifier": email}, nil)
			if err := requireError(t, res.status, res.body, http.StatusForbidden); err.Error.ID != "security_csrf_violation" {
				t.Errorf("no CSRF token: error.id = %q, want security_csrf_violation", err.Error.ID)
			}
			if ms := e.courierMessages(t, email); len(ms) != 0 {
				t.Errorf("a submission without the CSRF token sent %s", asJSON(ms))
			}
			res = b.do(t, http.MethodPost, e.submitURL("login", f.ID), map[string]any{
				"csrf_token": f.csrf(t), "method": "code", "identifier": email,
			}, nil)
			sent := requireFlowAnswer(t, "login", res.status, res.body, "asking for a code")
			requireLoginCodeSent(t, sent, email)
			code := e.codeSent(t, email, loginCodeMessage, 1)
			res = b.do(t, http.MethodPost, e.submitURL("login", f.ID), map[string]any{
				"csrf_token": sent.csrf(t), "method": "code", "identifier": email, "code": code,
			}, nil)
			if res.status != http.StatusOK {
				t.Fatalf("the code: %d, want 200: %s", res.status, res.body)
			}
			ok := decodeSuccess(t, res.body)
			if ok.SessionToken != "" || ok.Session == nil {
				t.Errorf("a browser sign-in answers the session and no token: %s", res.body)
			}
			if setCookie(res, "ory_kratos_session") == nil {
				t.Fatalf("no session cookie: %v", res.header.Values("Set-Cookie"))
			}
			if status, sess, who := e.whoami(t, b.http, nil); status != http.StatusOK || sess.Identity == nil || sess.Identity.Id != id {
				t.Errorf("whoami by cookie: %d %s", status, who.body)
			}
		})

		t.Run("browser form", func(t *testing.T) {
			t.Parallel()
			email := uniqueEmail("code-browser")
			id := e.codeUser(t, email, "", "")
			b := newBrowser(t, e.Server)
			f, _ := b.browserFlow(t, "login", nil)
			requireNode(t, f, "method", "code", "submit", "code", 1010015)
			sent := b.formBackToUI(t, "login", loginUI, f, url.Values{"method": {"code"}, "identifier": {email}})
			requireLoginCodeSent(t, sent, email)
			code := e.codeSent(t, email, loginCodeMessage, 1)

			// A wrong code sends the browser back to the form.
			res := b.submitForm(t, "login", sent, url.Values{"method": {"code"}, "identifier": {email}, "code": {otherCode(code)}})
			requireBackToUI(t, res, loginUI, f.ID)
			requireMessages(t, b.flowByID(t, "login", f.ID), 4010008)
			if setCookie(res, "ory_kratos_session") != nil {
				t.Error("a wrong code set a session cookie")
			}

			sess, res := b.formSignsIn(t, "login", sent, url.Values{"method": {"code"}, "identifier": {email}, "code": {code}})
			if setCookie(res, "ory_kratos_session") == nil {
				t.Fatalf("no session cookie: %v", res.header.Values("Set-Cookie"))
			}
			if sess.Identity == nil || sess.Identity.Id != id {
				t.Errorf("whoami identity = %s, want %s", asJSON(sess.Identity), id)
			}
			requireMethods(t, sess, "code/aal1")
			e.requireVerified(t, id, email, true)
		})
	})
}

// knownAddress creates an account that signs in with a code and answers
// its email.
func (e *codeEnv) knownAddress(t *testing.T) string {
	t.Helper()
	email := uniqueEmail("code-known")
	e.codeUser(t, email, "", "")
	return email
}

// One code, many racing submissions: one session, on one server or two
// sharing a PostgreSQL database.
func TestCodeLogin_RacingCorrectCodesSignInOnce(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		envs := codeEnvs(t, store, nil)
		e := envs[0]
		email := uniqueEmail("code-race")
		id := e.codeUser(t, email, "", "")
		flowID, code := e.askLoginCode(t, email)

		results := race(t, 8, func(i int) response {
			status, body := envs[i%len(envs)].codeLogin(t, flowID, "", codeLoginBody(email, code, ""))
			return response{status: status, body: body}
		})
		requireOneWinner(t, results, http.StatusOK, 0)
		if n := e.sessionsOf(t, id); n != 1 {
			t.Errorf("%d sessions after racing submissions of one code, want 1", n)
		}
	})
}

// A code outlives selfservice.methods.code.config.lifespan by nothing.
func TestCodeLogin_ExpiredCodeAnswersGone(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		e := codeServer(t, store, map[string]any{"selfservice.methods.code.config.lifespan": "1s"})
		email := uniqueEmail("code-expired")
		id := e.codeUser(t, email, "", "")
		f := e.nativeFlow(t, "login")
		status, body := e.codeLogin(t, f.ID, "", codeLoginBody(email, "", ""))
		requireFlowAnswer(t, "login", status, body, "asking for a code")
		sentAt := time.Now()
		code := e.codeSent(t, email, loginCodeMessage, 1)
		time.Sleep(time.Until(sentAt.Add(1500 * time.Millisecond)))

		status, body = e.codeLogin(t, f.ID, "", codeLoginBody(email, code, ""))
		requireExpired(t, response{status: status, body: body}, f.ID)
		if n := e.sessionsOf(t, id); n != 0 {
			t.Errorf("an expired code made %d sessions", n)
		}
	})
}

// With security.account_enumeration.mitigate an address no account has is
// answered as a known one, and nothing is sent to it.
func TestCodeLogin_EnumerationMitigationLooksAlike(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		e := codeServer(t, store, map[string]any{"security.account_enumeration.mitigate": true})
		known, nobody := e.knownAddress(t), uniqueEmail("code-mitigated")

		ask := func(address string) flowView {
			t.Helper()
			f := e.nativeFlow(t, "login")
			status, body := e.codeLogin(t, f.ID, "", codeLoginBody(address, "", ""))
			got := requireFlowAnswer(t, "login", status, body, "asking for a code for "+address)
			requireLoginCodeSent(t, got, address)
			return got
		}
		unknownFlow := ask(nobody)
		knownFlow := ask(known)
		if a, b := nodeShapes(unknownFlow), nodeShapes(knownFlow); !slices.Equal(a, b) {
			t.Errorf("unknown and known addresses get different nodes:\n%v\n%v", a, b)
		}
		code := e.codeSent(t, known, loginCodeMessage, 1)
		if n := e.sink.CountTo(nobody); n != 0 {
			t.Errorf("%d mails reached the unknown address, want none", n)
		}

		// Neither the known account's code nor any other opens the
		// unknown address's flow.
		for _, c := range []string{code, otherCode(code)} {
			status, body := e.codeLogin(t, unknownFlow.ID, "", codeLoginBody(nobody, c, ""))
			requireMessages(t, requireFlowAnswer(t, "login", status, body, "a code for the unknown address"), 4010008)
		}
		status, body := e.codeLogin(t, knownFlow.ID, "", codeLoginBody(known, code, ""))
		requireNativeSession(t, status, body, "the known address's code")
	})
}

// Guesses at login codes count per address like recovery codes
// (guard_codes_test.go): a new flow does not start the count afresh, and
// past the free failures even the right code waits.
func TestCodeLogin_GuessesCountTowardTheGuard(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		e := codeServer(t, store, guardAttemptsConfig(1000, 2, "1h", "15m"))
		email := uniqueEmail("code-guard")
		id := e.codeUser(t, email, "", "")
		send := func(n int) (string, string) {
			t.Helper()
			f := e.nativeFlow(t, "login")
			status, body := e.codeLogin(t, f.ID, "", codeLoginBody(email, "", ""))
			requireFlowAnswer(t, "login", status, body, "asking for a code")
			return f.ID, e.codeSent(t, email, loginCodeMessage, n)
		}
		// Two flows, one wrong guess each: both free.
		for i := range 2 {
			flowID, code := send(i + 1)
			status, body := e.codeLogin(t, flowID, "", codeLoginBody(email, otherCode(code), ""))
			requireMessages(t, requireFlowAnswer(t, "login", status, body, "a free wrong guess"), 4010008)
		}
		// A third flow: its right code is held back by the delay the
		// earlier flows' guesses earned.
		flowID, code := send(3)
		status, body := e.codeLogin(t, flowID, "", codeLoginBody(email, code, ""))
		got := requireFlowAnswer(t, "login", status, body, "the right code after the free failures")
		i := slices.IndexFunc(got.UI.Messages, func(m uiText) bool { return m.ID == msgAttemptsDelayed })
		if i < 0 {
			t.Fatalf("the right code after the free failures: %s, want message %d", asJSON(got.UI.Messages), msgAttemptsDelayed)
		}
		if retry, _ := got.UI.Messages[i].Context["retry_after_seconds"].(float64); retry < 1 {
			t.Errorf("delay message %+v, want retry_after_seconds", got.UI.Messages[i])
		}
		if n := e.sessionsOf(t, id); n != 0 {
			t.Errorf("a delayed code made %d sessions", n)
		}
	})
}

// courier.templates.login_code.valid overrides the email's plain text and
// the SMS, with the code as {{ .LoginCode }}; registration_code.valid the
// sign-up mail, with {{ .RegistrationCode }}.
func TestCodeLogin_TemplateOverrides(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		tmpl := func(s string) string { return "base64://" + base64.StdEncoding.EncodeToString([]byte(s)) }
		e := codeServer(t, store, map[string]any{
			"courier.templates.login_code.valid.email.body.plaintext": tmpl(
				"Custom sign-in mail: {{ .LoginCode }} for {{ .To }} ({{ .Identity.traits.email }}, {{ .ExpiresInMinutes }} minutes)\n"),
			"courier.templates.login_code.valid.sms.body.plaintext": tmpl("Custom sign-in SMS: {{ .LoginCode }}"),
			"courier.templates.registration_code.valid.email.body.plaintext": tmpl(
				"Custom sign-up mail: {{ .RegistrationCode }} for {{ .Traits.email }}\n"),
		})
		email, phone := uniqueEmail("code-template"), uniquePhone()
		e.codeUser(t, email, phone, "")

		for _, address := range []string{email, phone} {
			flowID, code := e.askLoginCode(t, address)
			if address == email {
				m := e.sink.WaitFor(t, email, code, mailWait)
				if want := "Custom sign-in mail: " + code + " for " + email + " (" + email + ", 60 minutes)"; !strings.Contains(m.Text, want) {
					t.Errorf("mail text %q, want it to contain %q", m.Text, want)
				}
			} else {
				sms := e.smsWith(t, phone, code)
				if want := "Custom sign-in SMS: " + code; sms["body"] != want {
					t.Errorf("SMS body %q, want %q", sms["body"], want)
				}
			}
			status, body := e.codeLogin(t, flowID, "", codeLoginBody(address, code, ""))
			requireNativeSession(t, status, body, "signing in with the code of the custom message")
		}

		newcomer := uniqueEmail("code-template-signup")
		f := e.nativeFlow(t, "registration")
		status, body := e.codeRegister(t, f.ID, codeRegistration(newcomer, ""))
		requireFlowAnswer(t, "registration", status, body, "asking for a registration code")
		code := e.codeSent(t, newcomer, registrationCodeMessage, 1)
		if m, want := e.sink.WaitFor(t, newcomer, code, mailWait), "Custom sign-up mail: "+code+" for "+newcomer; !strings.Contains(m.Text, want) {
			t.Errorf("mail text %q, want it to contain %q", m.Text, want)
		}
	})
}
