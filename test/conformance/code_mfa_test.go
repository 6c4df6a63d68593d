package conformance

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	ory "github.com/ory/client-go"
)

// One-time codes as the second factor (selfservice.methods.code
// .mfa_enabled): an identity's code addresses step a password session up
// to aal2.

// mfaCodeServer has codes as a second factor only.
func mfaCodeServer(t *testing.T, store string) *codeEnv {
	t.Helper()
	return codeServer(t, store, map[string]any{
		"selfservice.methods.code.passwordless_enabled": nil,
		"selfservice.methods.code.mfa_enabled":          true,
	})
}

// mfaPasswordSession signs email in with its password natively and checks
// that the session is aal1 and short of the identity's level.
func (e *codeEnv) mfaPasswordSession(t *testing.T, email string) string {
	t.Helper()
	f := e.nativeFlow(t, "login")
	status, body := e.login(t, f.ID, "", ory.UpdateLoginFlowWithPasswordMethodAsUpdateLoginFlowBody(
		&ory.UpdateLoginFlowWithPasswordMethod{Method: "password", Identifier: email, Password: testPassword}))
	ok := requireNativeSession(t, status, body, "the password")
	requireAAL(t, "the session after the password", ok.Session, "aal1")
	requireMethods(t, ok.Session, "password/aal1")
	status, _, who := e.whoami(t, plain(e.Server), tokenHeader(ok.SessionToken))
	e1 := requireError(t, status, who.body, http.StatusForbidden)
	if e1.Error.ID != "session_aal2_required" {
		t.Errorf("whoami after the password: error id %q, want session_aal2_required", e1.Error.ID)
	}
	return ok.SessionToken
}

// requireAAL2 checks the stepped-up session behind token.
func (e *codeEnv) requireAAL2(t *testing.T, status int, body []byte, token string) {
	t.Helper()
	ok := requireNativeSession(t, status, body, "the second factor's code")
	if ok.SessionToken != token {
		t.Errorf("step-up answered token %q, want the session's own", ok.SessionToken)
	}
	requireAAL(t, "the stepped-up session", ok.Session, "aal2")
	requireMethods(t, ok.Session, "password/aal1", "code/aal2")
	status, sess, who := e.whoami(t, plain(e.Server), tokenHeader(token))
	if status != http.StatusOK {
		t.Fatalf("whoami after the code: %d %s", status, who.body)
	}
	requireAAL(t, "whoami after the code", sess, "aal2")
}

// With one address and no other second factor the aal2 flow is created
// with the code already sent.
func TestCodeMFA_OneAddressIsSentAtOnce(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		e := mfaCodeServer(t, store)
		email := uniqueEmail("mfa-one")
		e.codeUser(t, email, "", testPassword)
		token := e.mfaPasswordSession(t, email)

		f := e.aal2Flow(t, token, "")
		if f.RequestedAAL != "aal2" {
			t.Errorf("requested_aal = %q, want aal2", f.RequestedAAL)
		}
		requireState(t, f, "sent_email")
		requireAnyMessage(t, f, 1010014)
		if n := requireNode(t, f, "identifier", "", "hidden", "code", 0); n.value() != email {
			t.Errorf("hidden identifier = %v, want %q", n.value(), email)
		}
		requireCodeInputs(t, f, 0)
		code := e.codeSent(t, email, loginCodeMessage, 1)

		status, body := e.codeLogin(t, f.ID, token, codeLoginBody("", otherCode(code), ""))
		requireAnyMessage(t, requireFlowAnswer(t, "login", status, body, "a wrong second-factor code"), 4010008)

		status, body = e.codeLogin(t, f.ID, token, codeLoginBody("", code, ""))
		e.requireAAL2(t, status, body, token)
		e.requireNotLogged(t, code)

		// A browser is sent to the login UI with the code on its way.
		other := uniqueEmail("mfa-one-browser")
		e.codeUser(t, other, "", testPassword)
		b := totpBrowserPasswordLogin(t, e.Server, other, testPassword)
		res := b.do(t, http.MethodGet, e.PublicURL+"/self-service/login/browser?aal=aal2", nil, nil)
		loc := redirectTarget(t, res)
		if withoutQuery(loc) != loginUI || loc.Query().Get("flow") == "" {
			t.Fatalf("Location = %s, want %s?flow=<id>", loc, loginUI)
		}
		sent := b.flowByID(t, "login", loc.Query().Get("flow"))
		requireState(t, sent, "sent_email")
		code = e.codeSent(t, other, loginCodeMessage, 1)
		sess, _ := b.formSignsIn(t, "login", sent, url.Values{"method": {"code"}, "code": {code}})
		requireAAL(t, "whoami by cookie after the code", sess, "aal2")
	})
}

// With codes as a second factor only, a code is no way in by itself.
func TestCodeMFA_CodeIsNoFirstFactor(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		e := mfaCodeServer(t, store)
		email := uniqueEmail("mfa-first")
		id := e.codeUser(t, email, "", testPassword)
		f := e.nativeFlow(t, "login")
		requireNoNode(t, f, "method", "code", "submit")
		// No method takes it: 4010002, as Kratos answers.
		for _, c := range []string{"", "123456"} {
			status, body := e.codeLogin(t, f.ID, "", codeLoginBody(email, c, ""))
			requireMessages(t, requireFlowAnswer(t, "login", status, body, "a code method submission at aal1"), 4010002)
		}
		if ms := e.courierMessages(t, email); len(ms) != 0 {
			t.Errorf("an aal1 flow sent a code: %s", asJSON(ms))
		}
		if n := e.sessionsOf(t, id); n != 0 {
			t.Errorf("%d sessions without the password, want none", n)
		}
	})
}

// With two addresses the aal2 flow offers one button per address.
func TestCodeMFA_TwoAddressesChooseOne(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		e := mfaCodeServer(t, store)
		user := func(prefix string) (string, string) {
			t.Helper()
			email, phone := uniqueEmail(prefix), uniquePhone()
			e.codeUser(t, email, phone, testPassword)
			return email, phone
		}

		t.Run("native", func(t *testing.T) {
			t.Parallel()
			email, phone := user("mfa-two")
			token := e.mfaPasswordSession(t, email)
			f := e.aal2Flow(t, token, "")
			requireState(t, f, "choose_method")
			for address, channel := range map[string]string{email: "email", phone: "sms"} {
				n := requireNode(t, f, "address", address, "submit", "code", 1010023)
				if n.Meta.Label != nil && !sameJSON(n.Meta.Label.Context, map[string]any{"address": address, "channel": channel}) {
					t.Errorf("label context of %s = %s, want {address: %s, channel: %s}", address, asJSON(n.Meta.Label.Context), address, channel)
				}
			}
			if len(e.courierMessages(t, email))+len(e.courierMessages(t, phone)) != 0 {
				t.Error("a code was sent before an address was chosen")
			}

			// An address that is not the identity's.
			unknown := codeLoginBody("", "", "")
			unknown.Address = ory.PtrString(uniqueEmail("mfa-not-mine"))
			status, body := e.codeLogin(t, f.ID, token, unknown)
			requireAnyMessage(t, requireFlowAnswer(t, "login", status, body, "an unknown address"), 4010010)

			choose := codeLoginBody("", "", "")
			choose.Address = &phone
			status, body = e.codeLogin(t, f.ID, token, choose)
			sent := requireFlowAnswer(t, "login", status, body, "choosing the phone")
			requireState(t, sent, "sent_email")
			requireAnyMessage(t, sent, 1010014)
			requireCodeInputs(t, sent, 0)
			code := e.codeSent(t, phone, loginCodeMessage, 1)
			if n := e.sink.CountTo(email); n != 0 {
				t.Errorf("choosing the phone also mailed the email (%d mails)", n)
			}

			status, body = e.codeLogin(t, f.ID, token, codeLoginBody("", otherCode(code), ""))
			requireAnyMessage(t, requireFlowAnswer(t, "login", status, body, "a wrong code"), 4010008)
			status, body = e.codeLogin(t, f.ID, token, codeLoginBody("", code, ""))
			e.requireAAL2(t, status, body, token)
		})

		t.Run("browser button", func(t *testing.T) {
			t.Parallel()
			email, _ := user("mfa-browser")
			b := totpBrowserPasswordLogin(t, e.Server, email, testPassword)
			f, _ := b.browserFlow(t, "login", url.Values{"aal": {"aal2"}})
			requireState(t, f, "choose_method")
			// A browser sends the clicked button's name and value, no method.
			sent := b.formBackToUI(t, "login", loginUI, f, url.Values{"address": {email}})
			requireState(t, sent, "sent_email")
			requireCodeInputs(t, sent, 0)
			code := e.codeSent(t, email, loginCodeMessage, 1)

			sess, _ := b.formSignsIn(t, "login", sent, url.Values{"method": {"code"}, "code": {code}})
			requireAAL(t, "whoami by cookie after the code", sess, "aal2")
			requireMethods(t, sess, "password/aal1", "code/aal2")
		})

		t.Run("via restricts to one address", func(t *testing.T) {
			t.Parallel()
			email, phone := user("mfa-via")
			token := e.mfaPasswordSession(t, email)
			f := e.aal2Flow(t, token, "email")
			if nodes := asJSON(f.UI.Nodes); strings.Contains(nodes, phone) {
				t.Errorf("?via=email still offers the phone: %s", nodes)
			}
			switch f.State {
			case "choose_method":
				requireNode(t, f, "address", email, "submit", "code", 1010023)
			case "sent_email":
				if n := requireNode(t, f, "identifier", "", "hidden", "code", 0); n.value() != email {
					t.Errorf("hidden identifier = %v, want %q", n.value(), email)
				}
			default:
				t.Fatalf("state %v, want choose_method or sent_email", f.State)
			}
		})
	})
}
