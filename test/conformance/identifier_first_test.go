package conformance

import (
	"net/url"
	"slices"
	"testing"

	ory "github.com/ory/client-go"
)

// Identifier-first login (selfservice.flows.login.style identifier_first):
// the identifier alone, then the ways in that identity has.

func idFirstServer(t *testing.T, store string, set map[string]any) *codeEnv {
	t.Helper()
	cfg := map[string]any{"selfservice.flows.login.style": "identifier_first"}
	for k, v := range set {
		cfg[k] = v
	}
	return codeServer(t, store, cfg)
}

// idFirstSubmit submits the identifier alone to a native login flow.
func (e *codeEnv) idFirstSubmit(t *testing.T, flowID, identifier string) (int, []byte) {
	t.Helper()
	return e.login(t, flowID, "", ory.UpdateLoginFlowWithIdentifierFirstMethodAsUpdateLoginFlowBody(
		&ory.UpdateLoginFlowWithIdentifierFirstMethod{Method: "identifier_first", Identifier: identifier}))
}

// requireIdentifierStep asserts the first step: the identifier and its
// submit, nothing of any method yet.
func requireIdentifierStep(t *testing.T, f flowView) {
	t.Helper()
	n := requireNode(t, f, "identifier", "", "text", "identifier_first", 0)
	if n.Attributes["required"] != true || n.Attributes["autocomplete"] != "username webauthn" {
		t.Errorf("identifier = %s, want required with autocomplete \"username webauthn\"", asJSON(n))
	}
	requireNode(t, f, "method", "identifier_first", "submit", "identifier_first", 1070009)
	requireNoNode(t, f, "password", "", "")
	requireNoNode(t, f, "method", "password", "")
}

// requireSecondStep asserts step two for an identity with a password and
// a code address: the identifier kept hidden, the password and the code.
func requireSecondStep(t *testing.T, f flowView, identifier string) {
	t.Helper()
	if n, found := findNode(f, "identifier", "", "hidden"); !found || n.value() != identifier {
		t.Errorf("no hidden identifier holding %q in %s", identifier, asJSON(f.UI.Nodes))
	}
	requireNoNode(t, f, "method", "identifier_first", "submit")
	if f.Active != "identifier_first" {
		t.Errorf("active = %q, want identifier_first", f.Active)
	}
	requireNode(t, f, "password", "", "password", "password", 0)
	requireNode(t, f, "method", "password", "submit", "password", 1010022)
	requireNode(t, f, "method", "code", "submit", "code", 1010015)
}

func TestIdentifierFirst_Login(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		e := idFirstServer(t, store, nil)

		t.Run("password identity", func(t *testing.T) {
			t.Parallel()
			email := uniqueEmail("idfirst-password")
			id := e.codeUser(t, email, "", testPassword)
			f := e.nativeFlow(t, "login")
			requireIdentifierStep(t, f)

			status, body := e.idFirstSubmit(t, f.ID, email)
			requireSecondStep(t, requireFlowAnswer(t, "login", status, body, "the identifier"), email)
			if ms := e.courierMessages(t, email); len(ms) != 0 {
				t.Errorf("an identity with a password got a code at once: %s", asJSON(ms))
			}

			status, body = e.login(t, f.ID, "", ory.UpdateLoginFlowWithPasswordMethodAsUpdateLoginFlowBody(
				&ory.UpdateLoginFlowWithPasswordMethod{Method: "password", Identifier: email, Password: testPassword}))
			ok := requireNativeSession(t, status, body, "the password in step two")
			if ok.Session.Identity == nil || ok.Session.Identity.Id != id {
				t.Errorf("session identity = %s, want %s", asJSON(ok.Session.Identity), id)
			}
			requireMethods(t, ok.Session, "password/aal1")
		})

		t.Run("the code chosen in step two", func(t *testing.T) {
			t.Parallel()
			email := uniqueEmail("idfirst-choose-code")
			e.codeUser(t, email, "", testPassword)
			f := e.nativeFlow(t, "login")
			status, body := e.idFirstSubmit(t, f.ID, email)
			requireFlowAnswer(t, "login", status, body, "the identifier")
			status, body = e.codeLogin(t, f.ID, "", codeLoginBody(email, "", ""))
			requireLoginCodeSent(t, requireFlowAnswer(t, "login", status, body, "choosing the code"), email)
			code := e.codeSent(t, email, loginCodeMessage, 1)
			status, body = e.codeLogin(t, f.ID, "", codeLoginBody(email, code, ""))
			requireMethods(t, requireNativeSession(t, status, body, "the code").Session, "code/aal1")
		})

		t.Run("unknown identifier", func(t *testing.T) {
			t.Parallel()
			f := e.nativeFlow(t, "login")
			status, body := e.idFirstSubmit(t, f.ID, uniqueEmail("idfirst-nobody"))
			requireAnyMessage(t, requireFlowAnswer(t, "login", status, body, "an unknown identifier"), 4000037)
		})

		t.Run("code is the only way in", func(t *testing.T) {
			t.Parallel()
			email := uniqueEmail("idfirst-code")
			id := e.registerByCode(t, email)
			f := e.nativeFlow(t, "login")
			status, body := e.idFirstSubmit(t, f.ID, email)
			sent := requireFlowAnswer(t, "login", status, body, "the identifier of a code-only identity")
			requireState(t, sent, "sent_email")
			requireMessages(t, sent, 1010014)
			requireCodeInputs(t, sent, 1070013)
			code := e.codeSent(t, email, loginCodeMessage, 1)
			status, body = e.codeLogin(t, f.ID, "", codeLoginBody(email, code, ""))
			ok := requireNativeSession(t, status, body, "the code sent at once")
			if ok.Session.Identity == nil || ok.Session.Identity.Id != id {
				t.Errorf("session identity = %s, want %s", asJSON(ok.Session.Identity), id)
			}
		})

		t.Run("browser form", func(t *testing.T) {
			t.Parallel()
			email := uniqueEmail("idfirst-browser")
			e.codeUser(t, email, "", testPassword)
			b := newBrowser(t, e.Server)
			f, _ := b.browserFlow(t, "login", nil)
			requireIdentifierStep(t, f)
			step2 := b.formBackToUI(t, "login", loginUI, f, url.Values{"method": {"identifier_first"}, "identifier": {email}})
			requireNode(t, step2, "method", "password", "submit", "password", 1010022)

			b.formSignsIn(t, "login", step2, url.Values{"method": {"password"}, "identifier": {email}, "password": {testPassword}})
		})
	})
}

// With security.account_enumeration.mitigate an unknown identifier gets
// the answer a known one gets.
func TestIdentifierFirst_MitigationLooksAlike(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		e := idFirstServer(t, store, map[string]any{"security.account_enumeration.mitigate": true})
		known := uniqueEmail("idfirst-known")
		e.codeUser(t, known, "", testPassword)

		step2 := func(identifier string) flowView {
			t.Helper()
			f := e.nativeFlow(t, "login")
			requireIdentifierStep(t, f)
			status, body := e.idFirstSubmit(t, f.ID, identifier)
			got := requireFlowAnswer(t, "login", status, body, "the identifier "+identifier)
			requireSecondStep(t, got, identifier)
			return got
		}
		k, u := step2(known), step2(uniqueEmail("idfirst-unknown"))
		if a, b := nodeShapes(k), nodeShapes(u); !slices.Equal(a, b) {
			t.Errorf("known and unknown identifiers get different nodes:\nknown   %v\nunknown %v", a, b)
		}
		if a, b := messageIDs(k.UI.Messages), messageIDs(u.UI.Messages); !slices.Equal(a, b) {
			t.Errorf("known and unknown identifiers get different messages: %v and %v", a, b)
		}
		if k.State != u.State || k.Active != u.Active {
			t.Errorf("known: state %v active %q; unknown: state %v active %q", k.State, k.Active, u.State, u.Active)
		}
		if anyMessage(u, 4000037) {
			t.Errorf("with mitigation an unknown identifier still gets 4000037: %s", asJSON(u.UI.Messages))
		}
	})
}
