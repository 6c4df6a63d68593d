package conformance

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	ory "github.com/ory/client-go"
)

// Passwordless sign-up with a one-time code: the traits first, then the
// code that went to the address, which the new identity then has verified.

// requireRegistrationCodeSent asserts the registration flow after a code
// went to email.
func requireRegistrationCodeSent(t *testing.T, f flowView, email string) {
	t.Helper()
	requireState(t, f, "sent_email")
	requireMessages(t, f, 1040005)
	if n := requireNode(t, f, "traits.email", "", "hidden", "default", 0); n.value() != email {
		t.Errorf("hidden traits.email = %v, want %q", n.value(), email)
	}
	for _, n := range f.UI.Nodes {
		if strings.HasPrefix(n.name(), "traits.") && n.inputType() != "hidden" {
			t.Errorf("trait input %s is not hidden once the code is sent", asJSON(n))
		}
	}
	requireCodeInputs(t, f, 1070012)
	requireNode(t, f, "screen", "credential-selection", "submit", "profile", 1040008)
}

// askRegistrationCode opens a native registration flow, asks for a code
// for email and answers the flow id and the code.
func (e *codeEnv) askRegistrationCode(t *testing.T, email string) (string, string) {
	t.Helper()
	f := e.nativeFlow(t, "registration")
	status, body := e.codeRegister(t, f.ID, ory.UpdateRegistrationFlowWithCodeMethod{Traits: map[string]any{"email": email}})
	requireRegistrationCodeSent(t, requireFlowAnswer(t, "registration", status, body, "asking for a registration code"), email)
	return f.ID, e.codeSent(t, email, registrationCodeMessage, 1)
}

func codeRegistration(email, code string) ory.UpdateRegistrationFlowWithCodeMethod {
	b := ory.UpdateRegistrationFlowWithCodeMethod{Traits: map[string]any{"email": email}}
	if code != "" {
		b.Code = ory.PtrString(code)
	}
	return b
}

// TestCodeRegistration_Native: the native one-shot sign-up without a
// session hook, and its mistakes.
func TestCodeRegistration_Native(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		e := codeServer(t, store, nil)

		t.Run("the flow offers the code", func(t *testing.T) {
			t.Parallel()
			f := e.nativeFlow(t, "registration")
			requireNode(t, f, "traits.email", "", "email", "default", 0)
			requireNode(t, f, "method", "profile", "submit", "profile", 1040001)
		})

		t.Run("send then sign up", func(t *testing.T) {
			t.Parallel()
			email := uniqueEmail("code-signup")
			flowID, code := e.askRegistrationCode(t, email)
			status, body := e.codeRegister(t, flowID, codeRegistration(email, code))
			if status != http.StatusOK {
				t.Fatalf("registration with the code: status %d, want 200: %s", status, body)
			}
			ok := decodeSuccess(t, body)
			if ok.Identity == nil || !sameJSON(ok.Identity.Traits, map[string]any{"email": email}) {
				t.Fatalf("identity = %s, want the traits {email: %s}", asJSON(ok.Identity), email)
			}
			if ok.Session != nil || ok.SessionToken != "" {
				t.Errorf("no session hook is configured, but the answer has a session: %s", body)
			}
			id := ok.Identity.Id
			requireVerifiedIn(t, "the registration answer", ok.Identity, email)
			e.requireVerified(t, id, email, true)
			if n := e.sessionsOf(t, id); n != 0 {
				t.Errorf("%d sessions without a session hook, want none", n)
			}

			raw := e.rawIdentity(t, id, "include_credential=code")
			cred, _ := raw["credentials"].(map[string]any)["code"].(map[string]any)
			if cred == nil {
				t.Fatalf("no code credential: %s", asJSON(raw["credentials"]))
			}
			if !sameJSON(cred["identifiers"], []string{email}) {
				t.Errorf("code identifiers = %s, want [%s]", asJSON(cred["identifiers"]), email)
			}
			config, _ := cred["config"].(map[string]any)
			if !sameJSON(config["addresses"], []map[string]any{{"channel": "email", "address": email}}) {
				t.Errorf("code config = %s, want addresses [{channel: email, address: %s}]", asJSON(config), email)
			}

			// The identity signs in with a code from now on.
			f := e.nativeFlow(t, "login")
			status, body = e.codeLogin(t, f.ID, "", codeLoginBody(email, "", ""))
			requireLoginCodeSent(t, requireFlowAnswer(t, "login", status, body, "asking the new identity for a login code"), email)
		})

		t.Run("a wrong code keeps the right one", func(t *testing.T) {
			t.Parallel()
			email := uniqueEmail("code-signup-wrong")
			flowID, code := e.askRegistrationCode(t, email)
			status, body := e.codeRegister(t, flowID, codeRegistration(email, otherCode(code)))
			wrong := requireFlowAnswer(t, "registration", status, body, "a wrong registration code")
			requireAnyMessage(t, wrong, 4040003)
			if ids := e.identitiesWith(t, email); len(ids) != 0 {
				t.Errorf("a wrong code created identities %v", ids)
			}
			status, body = e.codeRegister(t, flowID, codeRegistration(email, code))
			if status != http.StatusOK {
				t.Fatalf("the right code after a wrong one: %d %s", status, body)
			}
		})

		t.Run("resend replaces the code", func(t *testing.T) {
			t.Parallel()
			email := uniqueEmail("code-signup-resend")
			flowID, first := e.askRegistrationCode(t, email)
			resend := codeRegistration(email, "")
			resend.Resend = ory.PtrString("code")
			status, body := e.codeRegister(t, flowID, resend)
			requireRegistrationCodeSent(t, requireFlowAnswer(t, "registration", status, body, "resend"), email)
			second := e.codeSent(t, email, registrationCodeMessage, 2)
			if second == first {
				t.Fatalf("the resent code %s is the first one", second)
			}
			status, body = e.codeRegister(t, flowID, codeRegistration(email, first))
			requireAnyMessage(t, requireFlowAnswer(t, "registration", status, body, "the replaced code"), 4040003)
			status, body = e.codeRegister(t, flowID, codeRegistration(email, second))
			if status != http.StatusOK {
				t.Fatalf("the resent code: %d %s", status, body)
			}
			e.requireNotLogged(t, first)
			e.requireNotLogged(t, second)
		})

		t.Run("invalid traits send nothing", func(t *testing.T) {
			t.Parallel()
			for _, traits := range []map[string]any{
				{"email": "not-an-email"},
				{},
				{"email": "nul\x00@example.org"},
				{"email": uniqueEmail("code-signup-extra"), "nickname": "x"},
				{"email": uniqueEmail("code-signup-badphone"), "phone": "not a number"},
			} {
				f := e.nativeFlow(t, "registration")
				status, body := e.codeRegister(t, f.ID, ory.UpdateRegistrationFlowWithCodeMethod{Traits: traits})
				got := requireFlowAnswer(t, "registration", status, body, fmt.Sprintf("traits %.40s", asJSON(traits)))
				if got.State == "sent_email" {
					t.Errorf("traits %s: a code was sent", asJSON(traits))
				}
				if email, _ := traits["email"].(string); email != "" && !strings.Contains(email, "\x00") {
					if ms := e.courierMessages(t, email); len(ms) != 0 {
						t.Errorf("traits %s: messages %s", asJSON(traits), asJSON(ms))
					}
				}
			}
		})

		t.Run("changed traits", func(t *testing.T) {
			t.Parallel()
			email := uniqueEmail("code-signup-changed")
			flowID, code := e.askRegistrationCode(t, email)
			other := uniqueEmail("code-signup-other")
			status, body := e.codeRegister(t, flowID, codeRegistration(other, code))
			got := requireFlowAnswer(t, "registration", status, body, "the code with other traits")
			requireAnyMessage(t, got, 4000036)
			if ids := append(e.identitiesWith(t, email), e.identitiesWith(t, other)...); len(ids) != 0 {
				t.Errorf("changed traits created identities %v", ids)
			}
		})

		t.Run("an address already registered", func(t *testing.T) {
			t.Parallel()
			email := uniqueEmail("code-signup-taken")
			e.codeUser(t, email, "", testPassword)
			flowID, code := e.askRegistrationCode(t, email)
			status, body := e.codeRegister(t, flowID, codeRegistration(email, code))
			got := requireFlowAnswer(t, "registration", status, body, "the code for an address already registered")
			requireAnyMessage(t, got, 4000007)
			if ids := e.identitiesWith(t, email); len(ids) != 1 {
				t.Errorf("identities with %s: %v, want the one there was", email, ids)
			}
		})
	})
}

// With the session hook after code registration the answer carries a
// session; the browser's two steps end with the session cookie.
func TestCodeRegistration_SessionHook(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		e := codeServer(t, store, map[string]any{
			"selfservice.flows.registration.after.code.hooks": []any{map[string]any{"hook": "session"}},
		})

		t.Run("native", func(t *testing.T) {
			t.Parallel()
			email := uniqueEmail("code-signup-session")
			flowID, code := e.askRegistrationCode(t, email)
			status, body := e.codeRegister(t, flowID, codeRegistration(email, code))
			ok := requireNativeSession(t, status, body, "registration with the code")
			if ok.Identity == nil || ok.Session.Identity == nil || ok.Session.Identity.Id != ok.Identity.Id {
				t.Fatalf("the session is not the new identity's: %s", body)
			}
			requireMethods(t, ok.Session, "code/aal1")
			requireVerifiedIn(t, "the registration answer", ok.Identity, email)
			requireVerifiedIn(t, "the registration answer's session", ok.Session.Identity, email)
			if st, _, who := e.whoami(t, plain(e.Server), tokenHeader(ok.SessionToken)); st != http.StatusOK {
				t.Errorf("whoami with the new token: %d %s", st, who.body)
			}
			e.requireVerified(t, ok.Identity.Id, email, true)
		})

		t.Run("browser two steps", func(t *testing.T) {
			t.Parallel()
			email := uniqueEmail("code-signup-browser")
			b := newBrowser(t, e.Server)
			f, _ := b.browserFlow(t, "registration", nil)
			step2 := b.formBackToUI(t, "registration", registerUI, f, url.Values{"method": {"profile"}, "traits.email": {email}})
			requireNode(t, step2, "method", "code", "submit", "code", 1040006)

			sent := b.formBackToUI(t, "registration", registerUI, step2, url.Values{"method": {"code"}, "traits.email": {email}})
			requireRegistrationCodeSent(t, sent, email)
			code := e.codeSent(t, email, registrationCodeMessage, 1)

			sess, res := b.formSignsIn(t, "registration", sent, url.Values{"method": {"code"}, "traits.email": {email}, "code": {code}})
			if setCookie(res, "ory_kratos_session") == nil {
				t.Fatalf("no session cookie after registration: %v", res.header.Values("Set-Cookie"))
			}
			if traits, _ := sess.Identity.Traits.(map[string]any); traits["email"] != email {
				t.Errorf("whoami traits = %s, want email %s", asJSON(sess.Identity.Traits), email)
			}
			e.requireVerified(t, sess.Identity.Id, email, true)
		})
	})
}

// Racing submissions of one registration code create one identity.
func TestCodeRegistration_RacingCodesCreateOneIdentity(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		envs := codeEnvs(t, store, nil)
		e := envs[0]
		email := uniqueEmail("code-signup-race")
		flowID, code := e.askRegistrationCode(t, email)
		results := race(t, 8, func(i int) response {
			status, body := envs[i%len(envs)].codeRegister(t, flowID, codeRegistration(email, code))
			return response{status: status, body: body}
		})
		requireOneWinner(t, results, http.StatusOK, 0)
		if ids := e.identitiesWith(t, email); len(ids) != 1 {
			t.Errorf("identities with %s after racing submissions: %v, want one", email, ids)
		}
	})
}

// selfservice.flows.registration.style unified: one form with the traits,
// the password and the code, and no profile step.
func TestCodeRegistration_UnifiedStyle(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		e := codeServer(t, store, map[string]any{"selfservice.flows.registration.style": "unified"})
		f := e.nativeFlow(t, "registration")
		// Which group the trait inputs join in one form is not fixed.
		if _, ok := findNode(f, "traits.email", "", "email"); !ok {
			t.Errorf("no traits.email input in %s", asJSON(f.UI.Nodes))
		}
		requireNode(t, f, "password", "", "password", "password", 0)
		requireNode(t, f, "method", "code", "submit", "code", 1040006)
		requireNoNode(t, f, "method", "profile", "")

		// The code still signs up from there.
		email := uniqueEmail("code-signup-unified")
		status, body := e.codeRegister(t, f.ID, codeRegistration(email, ""))
		got := requireFlowAnswer(t, "registration", status, body, "asking for a registration code")
		requireState(t, got, "sent_email")
		requireMessages(t, got, 1040005)
		code := e.codeSent(t, email, registrationCodeMessage, 1)
		status, body = e.codeRegister(t, f.ID, codeRegistration(email, code))
		if status != http.StatusOK {
			t.Fatalf("registration with the code: %d %s", status, body)
		}
	})
}
