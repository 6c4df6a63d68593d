package conformance

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"testing"

	ory "github.com/ory/client-go"
)

// Passkeys end to end: sign-up with one, the discoverable sign-in where
// nothing is typed (browser and app), identifier-first login offering it,
// and adding and removing passkeys in settings.

var passkeyHandleFormat = regexp.MustCompile(`^[A-Za-z0-9]{64}$`)

// skPasskeyAdd is a settings body adding a passkey.
func skPasskeyAdd(csrf, attestation string) ory.UpdateSettingsFlowBody {
	return ory.UpdateSettingsFlowWithPasskeyMethodAsUpdateSettingsFlowBody(&ory.UpdateSettingsFlowWithPasskeyMethod{
		Method: "passkey", CsrfToken: ory.PtrString(csrf), PasskeySettingsRegister: ory.PtrString(attestation),
	})
}

// skPasskeyRemove is a settings body removing the passkey with hex id.
func skPasskeyRemove(csrf, hexID string) ory.UpdateSettingsFlowBody {
	return ory.UpdateSettingsFlowWithPasskeyMethodAsUpdateSettingsFlowBody(&ory.UpdateSettingsFlowWithPasskeyMethod{
		Method: "passkey", CsrfToken: ory.PtrString(csrf), PasskeyRemove: ory.PtrString(hexID),
	})
}

// skPasskeyCreateOptions reads passkey_create_data: in registration
// {"credentialOptions":{"publicKey":…},"displayNameFieldName":"traits.…"},
// in settings the plain {"publicKey":…}; it answers the options JSON and
// checks they ask for a passkey (facts §5.1).
func skPasskeyCreateOptions(t *testing.T, f flowView, registration bool) string {
	t.Helper()
	raw := skValueJSON(t, requireNode(t, f, "passkey_create_data", "", "hidden", "passkey", 0))
	options := raw
	if registration {
		var data struct {
			CredentialOptions    json.RawMessage `json:"credentialOptions"`
			DisplayNameFieldName string          `json:"displayNameFieldName"`
		}
		if err := json.Unmarshal([]byte(raw), &data); err != nil || len(data.CredentialOptions) == 0 {
			t.Fatalf("passkey_create_data %s, want {credentialOptions, displayNameFieldName}: %v", raw, err)
		}
		if data.DisplayNameFieldName != "traits.email" {
			t.Errorf("displayNameFieldName %q, want traits.email (the schema's passkey display_name)", data.DisplayNameFieldName)
		}
		options = string(data.CredentialOptions)
	}
	pk := skDecodeOptions(t, options).PublicKey
	if pk.RP.ID != skRPID || pk.RP.Name != skRPName {
		t.Errorf("passkey creation options rp = %+v, want {id %s, name %s}", pk.RP, skRPID, skRPName)
	}
	sel := pk.AuthenticatorSelection
	if sel.AuthenticatorAttachment != "platform" || sel.ResidentKey != "required" || sel.RequireResidentKey == nil || !*sel.RequireResidentKey ||
		sel.UserVerification != "required" {
		t.Errorf("passkey authenticatorSelection %+v, want platform, residentKey required, requireResidentKey, userVerification required", sel)
	}
	if pk.Timeout != 300000 {
		t.Errorf("passkey creation options timeout %d, want 300000", pk.Timeout)
	}
	return options
}

// skRequirePasskeyLogin checks the passkey sign-in nodes of a login flow
// (browser: with the script and the legacy onclick/onload; autofill: the
// conditional-UI trigger on passkey_login, where nothing is typed yet) and
// answers the request options.
func skRequirePasskeyLogin(t *testing.T, e *skEnv, f flowView, browserFlow, autofill bool) string {
	t.Helper()
	challenge, ok := findNode(f, "passkey_challenge", "", "hidden")
	if !ok {
		t.Errorf("no passkey_challenge node (discoverable passkey sign-in) in %s", asJSON(f.UI.Nodes))
		return ""
	}
	requireNode(t, f, "passkey_challenge", "", "hidden", "passkey", 0)
	raw := skValueJSON(t, challenge)
	o := skDecodeOptions(t, raw)
	if o.PublicKey.RPID != skRPID || autofill && len(o.PublicKey.AllowCredentials) != 0 {
		t.Errorf("passkey request options %s, want rpId %s and no allowCredentials (discoverable)", raw, skRPID)
	}
	login := requireNode(t, f, "passkey_login", "", "hidden", "passkey", 0)
	trigger := requireNode(t, f, "passkey_login_trigger", "", "button", "passkey", 1010021)
	if skAttr(trigger, "onclickTrigger") != "oryPasskeyLogin" {
		t.Errorf("passkey_login_trigger onclickTrigger %q, want oryPasskeyLogin", skAttr(trigger, "onclickTrigger"))
	}
	if autofill && skAttr(login, "onloadTrigger") != "oryPasskeyLoginAutocompleteInit" {
		t.Errorf("passkey_login onloadTrigger %q, want oryPasskeyLoginAutocompleteInit", skAttr(login, "onloadTrigger"))
	}
	_, hasScript := skScriptNode(f)
	if browserFlow {
		if skAttr(trigger, "onclick") != "window.oryPasskeyLogin()" {
			t.Errorf("passkey_login_trigger onclick %q, want window.oryPasskeyLogin()", skAttr(trigger, "onclick"))
		}
		if autofill && skAttr(login, "onload") != "window.oryPasskeyLoginAutocompleteInit()" {
			t.Errorf("passkey_login onload %q, want window.oryPasskeyLoginAutocompleteInit()", skAttr(login, "onload"))
		}
		if hasScript {
			skRequireScript(t, e, f)
		} else {
			t.Errorf("a browser login flow with passkeys has no webauthn_script")
		}
	} else if hasScript || skAttr(trigger, "onclick") != "" {
		t.Errorf("an API login flow carries browser JavaScript: %s", asJSON(f.UI.Nodes))
	}
	return raw
}

// skRequirePasskeySignIn checks the passkey nodes of b's login flow lf
// (autofill as in skRequirePasskeyLogin), signs in with key and expects an
// aal1 passkey session of identityID.
func skRequirePasskeySignIn(t *testing.T, e *skEnv, b *browser, lf flowView, autofill bool, key *skKey, identityID, what string) {
	t.Helper()
	options := skRequirePasskeyLogin(t, e, lf, true, autofill)
	if options == "" {
		t.FailNow()
	}
	status, body := skLogin(t, b, e.Server, lf.ID, skPasskeyLogin(lf.csrf(t), skGet(t, key, options, e.Origin)))
	if status != http.StatusOK {
		t.Fatalf("%s: %d, want 200: %s", what, status, body)
	}
	skRequireSession(t, b, e.Server, identityID, "aal1", "passkey/aal1")
}

// skPasskeySignUp registers email with a new passkey through a browser
// registration flow (unified style) and answers the browser, identity id
// and key.
func skPasskeySignUp(t *testing.T, e *skEnv, email string) (*browser, string, *skKey) {
	t.Helper()
	b := newBrowser(t, e.Server)
	rf, _ := b.browserFlow(t, "registration", nil)
	options := skPasskeyCreateOptions(t, rf, true)
	requireNode(t, rf, "passkey_register", "", "hidden", "passkey", 0)
	trigger := skRequireTrigger(t, rf, "passkey_register_trigger", "passkey", 1040007, "oryPasskeyRegistration")
	if got := skAttr(trigger, "onclick"); got != "window.oryPasskeyRegistration()" {
		t.Errorf("passkey_register_trigger onclick %q, want window.oryPasskeyRegistration()", got)
	}
	skRequireScript(t, e, rf)
	att, key := skCreate(t, options, e.Origin)
	status, body := skRegister(t, b, e.Server, rf.ID, ory.UpdateRegistrationFlowWithPasskeyMethodAsUpdateRegistrationFlowBody(&ory.UpdateRegistrationFlowWithPasskeyMethod{
		Method: "passkey", CsrfToken: ory.PtrString(rf.csrf(t)), Traits: map[string]any{"email": email}, PasskeyRegister: ory.PtrString(att),
	}))
	if status != http.StatusOK {
		t.Fatalf("sign-up with a passkey: %d, want 200: %s", status, body)
	}
	ok := decodeSuccess(t, body)
	if ok.Identity == nil || ok.Session == nil {
		t.Fatalf("sign-up answer without identity and session (session hook after passkey): %s", body)
	}
	return b, ok.Identity.Id, key
}

func TestPasskey_SignUpAndDiscoverableSignIn(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		e := skServer(t, store, skMerge(skPasskeys, map[string]any{
			"selfservice.flows.registration.style": "unified",
			// A passkey sign-in ends the identity's other sessions.
			"selfservice.flows.login.after.passkey.hooks": []any{map[string]any{"hook": "revoke_active_sessions"}},
		}))
		email := uniqueEmail("passkey-signup")
		b, id, key := skPasskeySignUp(t, e, email)
		skRequireSession(t, b, e.Server, id, "aal1", "passkey/aal1")
		c := skRequireOneKey(t, e.Server, id, "passkey", key, "", true)
		handle := string(key.handle())
		if !passkeyHandleFormat.MatchString(handle) {
			t.Errorf("passkey user handle %q, want 64 letters and digits", handle)
		}
		if !slices.Equal(c.Identifiers, []string{handle}) || string(c.Config.UserHandle) != handle {
			t.Errorf("passkey identifiers %v, user_handle %q; want both the handle %q", c.Identifiers, c.Config.UserHandle, handle)
		}

		// The only way in cannot be removed.
		skRequireOnlyKeyStays(t, e, b, id, "passkey", key)

		// Sign-in without typing anything.
		b2 := newBrowser(t, e.Server)
		lf, _ := b2.browserFlow(t, "login", nil)
		options := skRequirePasskeyLogin(t, e, lf, true, true)

		// Made for a foreign page: refused.
		status, body := skLogin(t, b2, e.Server, lf.ID, skPasskeyLogin(lf.csrf(t), skGet(t, key, options, skForeignOrigin)))
		skRequireRefused(t, "login", status, body, 4000008, "a passkey assertion made for "+skForeignOrigin)

		lf = b2.flowByID(t, "login", lf.ID)
		good := skGet(t, key, skValueJSON(t, lf.node(t, "passkey_challenge")), e.Origin)
		status, body = skLogin(t, b2, e.Server, lf.ID, skPasskeyLogin(lf.csrf(t), good))
		if status != http.StatusOK {
			t.Fatalf("discoverable passkey sign-in: %d, want 200: %s", status, body)
		}
		skRequireSession(t, b2, e.Server, id, "aal1", "passkey/aal1")
		if st, _, _ := e.whoami(t, b.http, nil); st != http.StatusUnauthorized {
			t.Errorf("the sign-up's session after a passkey sign-in with revoke_active_sessions: whoami %d, want 401", st)
		}
		if got := skFindKey(t, skKeysOf(t, e.Server, id, "passkey"), key).Authenticator.SignCount; got != key.cred.Counter {
			t.Errorf("stored sign_count %d, want the authenticator's %d", got, key.cred.Counter)
		}

		// Replayed on another flow: refused.
		b3 := newBrowser(t, e.Server)
		lf3, _ := b3.browserFlow(t, "login", nil)
		status, body = skLogin(t, b3, e.Server, lf3.ID, skPasskeyLogin(lf3.csrf(t), good))
		skRequireRefused(t, "login", status, body, 4000008, "a replayed passkey assertion")
		if st, _, _ := e.whoami(t, b3.http, nil); st != http.StatusUnauthorized {
			t.Errorf("whoami after a replayed assertion: %d, want 401", st)
		}

		// Apps sign in with passkeys too: the same nodes without the
		// script, and a session token.
		nf := e.nativeFlow(t, "login")
		options = skRequirePasskeyLogin(t, e, nf, false, true)
		_, res, err := e.Public.FrontendAPI.UpdateLoginFlow(t.Context()).Flow(nf.ID).UpdateLoginFlowBody(skPasskeyLogin("", skGet(t, key, options, e.Origin))).Execute()
		status, body = sdkAnswer(t, res, err)
		ok := requireNativeSession(t, status, body, "native passkey sign-in")
		if ok.Session.Identity == nil || ok.Session.Identity.Id != id {
			t.Errorf("native passkey sign-in as %s, want %s", asJSON(ok.Session.Identity), id)
		}
	})
}

// skAddPasskey adds a new passkey in a browser settings flow of b's
// session and answers it, checking the settings nodes on the way.
func skAddPasskey(t *testing.T, e *skEnv, b *browser, email string) *skKey {
	t.Helper()
	f := stBrowserSettings(t, b, nil)
	options := skPasskeyCreateOptions(t, f.flowView, false)
	if u := skDecodeOptions(t, options).PublicKey.User; u.Name != email && u.DisplayName != email {
		t.Errorf("settings passkey user %+v, want the display-name trait %s", u, email)
	}
	requireNode(t, f.flowView, "passkey_settings_register", "", "hidden", "passkey", 0)
	skRequireTrigger(t, f.flowView, "passkey_register_trigger", "passkey", 1050019, "oryPasskeySettingsRegistration")
	skRequireScript(t, e, f.flowView)
	att, key := skCreate(t, options, e.Origin)
	status, body := skSettings(t, b, e.Server, f.ID, skPasskeyAdd(f.csrf(t), att))
	if status != http.StatusOK {
		t.Fatalf("adding a passkey: %d, want 200: %s", status, body)
	}
	stRequireSuccess(t, stDecodeFlow(t, body))
	return key
}

func TestPasskey_SettingsAddAndRemove(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		e := skServer(t, store, skMerge(skPasskeys))
		email := uniqueEmail("passkey-settings")
		id := e.createIdentity(t, withPassword(identityBody(email), testPassword)).Id
		b := stBrowserLogin(t, e.Server, email, testPassword)
		key := skAddPasskey(t, e, b, email)
		c := skRequireOneKey(t, e.Server, id, "passkey", key, "", true)
		if !slices.Contains(c.Identifiers, string(key.handle())) || string(c.Config.UserHandle) != string(key.handle()) {
			t.Errorf("passkey identifiers %v, user_handle %q; want the handle %q the options gave", c.Identifiers, c.Config.UserHandle, key.handle())
		}

		// The new passkey signs the identity in.
		b2 := newBrowser(t, e.Server)
		lf, _ := b2.browserFlow(t, "login", nil)
		skRequirePasskeySignIn(t, e, b2, lf, true, key, id, "sign-in with the passkey added in settings")

		// With a password too, the passkey may go; then it signs no one in.
		sf := stBrowserSettings(t, b, nil)
		rm := requireNode(t, sf.flowView, "passkey_remove", key.hexID(), "submit", "passkey", 1050020)
		if rm.Attributes["disabled"] == true {
			t.Errorf("the passkey of an identity with a password cannot be removed: %s", asJSON(rm))
		}
		status, body := skSettings(t, b, e.Server, sf.ID, skPasskeyRemove(sf.csrf(t), key.hexID()))
		if status != http.StatusOK {
			t.Fatalf("removing the passkey: %d, want 200: %s", status, body)
		}
		stRequireSuccess(t, stDecodeFlow(t, body))
		if keys := skKeysOf(t, e.Server, id, "passkey"); len(keys) != 0 {
			t.Errorf("after removing it %d passkeys are stored", len(keys))
		}
		b3 := newBrowser(t, e.Server)
		lf3, _ := b3.browserFlow(t, "login", nil)
		status, body = skLogin(t, b3, e.Server, lf3.ID, skPasskeyLogin(lf3.csrf(t), skGet(t, key, skValueJSON(t, lf3.node(t, "passkey_challenge")), e.Origin)))
		refused := requireFlowAnswer(t, "login", status, body, "a removed passkey")
		if !anyMessage(refused, 4000008) && !anyMessage(refused, 4000013) && !anyMessage(refused, 4000015) {
			t.Errorf("a removed passkey: messages %s, want 4000008, 4000013 or 4000015", asJSON(refused.UI.Messages))
		}
		if st, _, _ := e.whoami(t, b3.http, nil); st != http.StatusUnauthorized {
			t.Errorf("whoami after signing in with a removed passkey: %d, want 401", st)
		}
	})
}

// skIdentifierFirstStep submits identifier to identifier-first's first
// step in a new browser and answers the browser and the second step.
func skIdentifierFirstStep(t *testing.T, e *skEnv, identifier string) (*browser, flowView) {
	t.Helper()
	b := newBrowser(t, e.Server)
	lf, _ := b.browserFlow(t, "login", nil)
	res := b.do(t, http.MethodPost, e.submitURL("login", lf.ID), map[string]any{
		"method": "identifier_first", "identifier": identifier, "csrf_token": lf.csrf(t),
	}, nil)
	return b, requireFlowAnswer(t, "login", res.status, res.body, "identifier-first step 1")
}

// TestPasskey_IdentifierFirst: the first step offers the passkey to anyone
// (nothing typed yet: the discoverable sign-in), the second to an identity
// that has one (facts §2.9).
func TestPasskey_IdentifierFirst(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		e := skServer(t, store, skMerge(skPasskeys, map[string]any{"selfservice.flows.login.style": "identifier_first"}))
		email := uniqueEmail("passkey-idfirst")
		id := e.createIdentity(t, withPassword(identityBody(email), testPassword)).Id
		key := skAddPasskey(t, e, stBrowserLogin(t, e.Server, email, testPassword), email)

		t.Run("step one", func(t *testing.T) {
			b := newBrowser(t, e.Server)
			lf, _ := b.browserFlow(t, "login", nil)
			skRequirePasskeySignIn(t, e, b, lf, true, key, id, "passkey sign-in from identifier-first's first step")
		})

		t.Run("step two", func(t *testing.T) {
			b, lf := skIdentifierFirstStep(t, e, email)
			skRequirePasskeySignIn(t, e, b, lf, false, key, id, "passkey sign-in from identifier-first's second step")
		})

		t.Run("step two without a passkey", func(t *testing.T) {
			other := uniqueEmail("passkey-idfirst-none")
			e.createIdentity(t, withPassword(identityBody(other), testPassword))
			_, lf := skIdentifierFirstStep(t, e, other)
			requireNoNode(t, lf, "passkey_login_trigger", "", "")
			requireNode(t, lf, "password", "", "password", "password", 0)
		})
	})
}
