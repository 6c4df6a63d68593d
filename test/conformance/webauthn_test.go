package conformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	ory "github.com/ory/client-go"
)

// Security keys (the webauthn method) end to end, as a second factor and
// as a first one, driven like a browser running webauthn.js: the options
// come from the flow's nodes, a software authenticator answers them for the
// server's origin, and the answer goes back with the CSRF cookie.

// skWebAuthnAdd is a settings body adding a key.
func skWebAuthnAdd(csrf, attestation, name string) ory.UpdateSettingsFlowBody {
	return ory.UpdateSettingsFlowWithWebAuthnMethodAsUpdateSettingsFlowBody(&ory.UpdateSettingsFlowWithWebAuthnMethod{
		Method: "webauthn", CsrfToken: ory.PtrString(csrf),
		WebauthnRegister: ory.PtrString(attestation), WebauthnRegisterDisplayname: ory.PtrString(name),
	})
}

// skWebAuthnRemove is a settings body removing the key with hex id.
func skWebAuthnRemove(csrf, hexID string) ory.UpdateSettingsFlowBody {
	return ory.UpdateSettingsFlowWithWebAuthnMethodAsUpdateSettingsFlowBody(&ory.UpdateSettingsFlowWithWebAuthnMethod{
		Method: "webauthn", CsrfToken: ory.PtrString(csrf), WebauthnRemove: ory.PtrString(hexID),
	})
}

// skSettingsFlow reads a settings flow by id with b's cookies.
func skSettingsFlow(t *testing.T, b *browser, id string) stFlow {
	t.Helper()
	res := b.do(t, http.MethodGet, b.s.PublicURL+"/self-service/settings/flows?id="+url.QueryEscape(id), nil, jsonAccept)
	if res.status != http.StatusOK {
		t.Fatalf("GET settings flow %s: %d %s", id, res.status, res.body)
	}
	return stDecodeFlow(t, res.body)
}

// skLoginFlow opens a browser login flow on s with b's cookies (the
// browser may be bound to another instance).
func skLoginFlow(t *testing.T, b *browser, s *Server, query url.Values) flowView {
	t.Helper()
	u := s.PublicURL + "/self-service/login/browser"
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	res := b.do(t, http.MethodGet, u, nil, jsonAccept)
	if res.status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, res.status, res.body)
	}
	return decodeFlow(t, "login", res.body)
}

var aal2Query = url.Values{"aal": {"aal2"}}

// skPasswordSignIn signs email in with its password in a browser (JSON)
// and answers the browser. An identity with a second factor gets Kratos's
// 422 pointing at the aal2 login, with its aal1 session cookie set.
func skPasswordSignIn(t *testing.T, s *Server, email string) *browser {
	t.Helper()
	b, res := browserPasswordLogin(t, s, email, testPassword)
	switch {
	case res.status != http.StatusOK:
		requireSentToAAL2(t, b, res, "password sign-in of "+email)
	case b.cookie("ory_kratos_session") == nil:
		t.Fatalf("password sign-in of %s set no session cookie", email)
	}
	return b
}

// skRebind is b's cookie jar talking to instance s.
func skRebind(b *browser, s *Server) *browser {
	return &browser{s: s, jar: b.jar, http: b.http, sdk: newSDK(s.PublicURL, b.http)}
}

// skSessionsBy counts the identity's sessions that began with a sign-in
// by method.
func skSessionsBy(t *testing.T, s *Server, identityID, method string) int {
	t.Helper()
	sessions, res, err := s.Admin.IdentityAPI.ListIdentitySessions(context.Background(), identityID).Execute()
	requireOK(t, res, err, http.StatusOK)
	n := 0
	for _, sess := range sessions {
		if len(sess.AuthenticationMethods) > 0 && sess.AuthenticationMethods[0].GetMethod() == method {
			n++
		}
	}
	return n
}

// skRequireInlinedCeremony checks the hidden field of a security-key
// ceremony, its button field+"_trigger" calling the script's function with
// the options inlined in onclick, and the script node; it answers the
// options.
func skRequireInlinedCeremony(t *testing.T, e *skEnv, f flowView, field string, triggerLabel int64, function string) string {
	t.Helper()
	requireNode(t, f, field, "", "hidden", "webauthn", 0)
	trigger := skRequireTrigger(t, f, field+"_trigger", "webauthn", triggerLabel, function)
	skRequireScript(t, e, f)
	raw := skValueJSON(t, trigger)
	if got := skAttr(trigger, "onclick"); got != "window."+function+"("+raw+")" {
		t.Errorf("%s_trigger onclick = %q, want the options inlined: window.%s(%s)", field, got, function, raw)
	}
	return raw
}

// skRequireWebAuthnRegistration checks the nodes that add a key (settings,
// or passwordless registration with trigger label triggerLabel) and
// answers the creation options.
func skRequireWebAuthnRegistration(t *testing.T, e *skEnv, f flowView, triggerLabel int64) skOptions {
	t.Helper()
	requireNode(t, f, "webauthn_register_displayname", "", "text", "webauthn", 1050013)
	o := skDecodeOptions(t, skRequireInlinedCeremony(t, e, f, "webauthn_register", triggerLabel, "oryWebAuthnRegistration"))
	pk := o.PublicKey
	if pk.RP.ID != skRPID || pk.RP.Name != skRPName {
		t.Errorf("creation options rp = %+v, want {id %s, name %s}", pk.RP, skRPID, skRPName)
	}
	if pk.Timeout != 120000 {
		t.Errorf("creation options timeout %d, want 120000", pk.Timeout)
	}
	if got := pk.AuthenticatorSelection.UserVerification; got != "discouraged" {
		t.Errorf("creation options userVerification %q, want discouraged", got)
	}
	if got := pk.AuthenticatorSelection.AuthenticatorAttachment; got != "" {
		t.Errorf("creation options authenticatorAttachment %q, want none (any key)", got)
	}
	return o
}

// skRequireWebAuthnLogin checks the nodes that ask for a key at login
// (trigger label triggerLabel, the hidden identifier) and answers the
// trigger's request options.
func skRequireWebAuthnLogin(t *testing.T, e *skEnv, f flowView, identifier string, triggerLabel int64) string {
	t.Helper()
	if n, ok := findNode(f, "identifier", "", "hidden"); !ok || n.value() != identifier {
		t.Errorf("no hidden identifier %q in %s", identifier, asJSON(f.UI.Nodes))
	}
	raw := skRequireInlinedCeremony(t, e, f, "webauthn_login", triggerLabel, "oryWebAuthnLogin")
	if o := skDecodeOptions(t, raw); o.PublicKey.RPID != skRPID {
		t.Errorf("request options rpId %q, want %q", o.PublicKey.RPID, skRPID)
	}
	return raw
}

func TestWebAuthn_SecondFactorAddSignInRemove(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		e := skServer(t, store, skMerge(skSecondFactor))
		email := uniqueEmail("wa-2fa")
		id := e.createIdentity(t, withPassword(identityBody(email), testPassword)).Id

		// Security keys are for browsers: an app's settings flow has none
		// of their nodes.
		app := stLogin(t, e.Server, email, testPassword, nil)
		native := stNativeSettings(t, e.Server, app.Token)
		requireNoNode(t, native.flowView, "webauthn_register_trigger", "", "")
		if n, ok := skScriptNode(native.flowView); ok {
			t.Errorf("an API settings flow has the script node %s", asJSON(n))
		}

		b := skPasswordSignIn(t, e.Server, email)
		f := stBrowserSettings(t, b, nil)
		o := skRequireWebAuthnRegistration(t, e, f.flowView, 1050012)
		if !bytes.Equal(o.skUserID(t), skIDBytes(t, id)) {
			t.Errorf("creation options user.id %x, want the identity id's bytes %x", o.skUserID(t), skIDBytes(t, id))
		}
		options := skValueJSON(t, f.node(t, "webauthn_register_trigger"))

		// A key made on a foreign page is refused and nothing is stored.
		evil, _ := skCreate(t, options, skForeignOrigin)
		status, body := skSettings(t, b, e.Server, f.ID, skWebAuthnAdd(f.csrf(t), evil, "Phished"))
		if status < 400 || status >= 500 {
			t.Errorf("adding a key made for %s: %d, want a 4xx: %s", skForeignOrigin, status, body)
		}
		if keys := skKeysOf(t, e.Server, id, "webauthn"); len(keys) != 0 {
			t.Fatalf("a refused key was stored: %s", asJSON(keys))
		}

		// The key is added under its name and the session proved it: aal2.
		f = skSettingsFlow(t, b, f.ID)
		att, key := skCreate(t, skValueJSON(t, f.node(t, "webauthn_register_trigger")), e.Origin)
		status, body = skSettings(t, b, e.Server, f.ID, skWebAuthnAdd(f.csrf(t), att, "Desk key"))
		if status != http.StatusOK {
			t.Fatalf("adding a key: %d, want 200: %s", status, body)
		}
		stRequireSuccess(t, stDecodeFlow(t, body))
		skRequireSession(t, b, e.Server, id, "aal2", "password/aal1", "webauthn/aal2")
		c := skRequireOneKey(t, e.Server, id, "webauthn", key, "Desk key", false)
		if !slices.Equal(c.Identifiers, []string{email}) {
			t.Errorf("webauthn identifiers %v, want [%s]", c.Identifiers, email)
		}
		if !bytes.Equal(c.Config.UserHandle, skIDBytes(t, id)) {
			t.Errorf("user_handle %x, want the identity id's bytes", c.Config.UserHandle)
		}

		// A password sign-in is aal1 now; whoami wants the key.
		b2 := skPasswordSignIn(t, e.Server, email)
		skRequireAAL2Required(t, b2, e.Server, "a password sign-in of an identity with a key")
		lf := skLoginFlow(t, b2, e.Server, aal2Query)
		options = skRequireWebAuthnLogin(t, e, lf, email, 1010008)
		if !skDecodeOptions(t, options).skAllows(key) {
			t.Errorf("aal2 request options do not allow the identity's key: %s", options)
		}

		// An assertion made for a foreign page is refused.
		status, body = skLogin(t, b2, e.Server, lf.ID, skWebAuthnLogin(lf.csrf(t), email, skGet(t, key, options, skForeignOrigin)))
		skRequireRefused(t, "login", status, body, 4000008, "an assertion made for "+skForeignOrigin)
		skRequireAAL2Required(t, b2, e.Server, "after a foreign-origin assertion")

		// The right one steps the session up.
		lf = b2.flowByID(t, "login", lf.ID)
		good := skGet(t, key, skValueJSON(t, lf.node(t, "webauthn_login_trigger")), e.Origin)
		status, body = skLogin(t, b2, e.Server, lf.ID, skWebAuthnLogin(lf.csrf(t), email, good))
		if status != http.StatusOK {
			t.Fatalf("aal2 sign-in with the key: %d, want 200: %s", status, body)
		}
		skRequireSession(t, b2, e.Server, id, "aal2", "password/aal1", "webauthn/aal2")
		if got := skFindKey(t, skKeysOf(t, e.Server, id, "webauthn"), key).Authenticator.SignCount; got != key.cred.Counter {
			t.Errorf("stored sign_count %d, want the authenticator's %d", got, key.cred.Counter)
		}

		// Replayed on another flow, the same assertion proves nothing.
		b3 := skPasswordSignIn(t, e.Server, email)
		lf3 := skLoginFlow(t, b3, e.Server, aal2Query)
		status, body = skLogin(t, b3, e.Server, lf3.ID, skWebAuthnLogin(lf3.csrf(t), email, good))
		skRequireRefused(t, "login", status, body, 4000008, "a replayed assertion")
		skRequireAAL2Required(t, b3, e.Server, "after a replayed assertion")

		// A counter that went back is a cloned key: refused.
		stored := key.cred.Counter
		key.cred.Counter = 0
		lf3 = b3.flowByID(t, "login", lf3.ID)
		status, body = skLogin(t, b3, e.Server, lf3.ID, skWebAuthnLogin(lf3.csrf(t), email, skGet(t, key, skValueJSON(t, lf3.node(t, "webauthn_login_trigger")), e.Origin)))
		if status != http.StatusBadRequest {
			t.Errorf("an assertion whose counter went back (%d after %d): %d, want 400: %s", key.cred.Counter, stored, status, body)
		}
		skRequireAAL2Required(t, b3, e.Server, "after a cloned key's assertion")
		if got := skFindKey(t, skKeysOf(t, e.Server, id, "webauthn"), key).Authenticator.SignCount; got != stored {
			t.Errorf("stored sign_count %d after a refused clone, want %d", got, stored)
		}
		if !skLogged(e.Server, "level=WARN", id) {
			t.Errorf("no warning in the server log names the identity whose key looks cloned")
		}

		// Settings (aal2 now) list the key with a remove button.
		sf := stBrowserSettings(t, b, nil)
		rm := requireNode(t, sf.flowView, "webauthn_remove", key.hexID(), "submit", "webauthn", 1050018)
		if rm.Meta.Label != nil && rm.Meta.Label.Context["display_name"] != "Desk key" {
			t.Errorf("remove label context %s, want display_name Desk key", asJSON(rm.Meta.Label.Context))
		}
		if rm.Attributes["disabled"] == true {
			t.Errorf("a second factor's remove button is disabled: %s", asJSON(rm))
		}

		// An unknown key id changes nothing.
		unknown := make([]byte, 32)
		_, _ = rand.Read(unknown)
		status, body = skSettings(t, b, e.Server, sf.ID, skWebAuthnRemove(sf.csrf(t), hex.EncodeToString(unknown)))
		if status != http.StatusBadRequest {
			t.Errorf("removing an unknown key: %d, want 400: %s", status, body)
		}
		if keys := skKeysOf(t, e.Server, id, "webauthn"); len(keys) != 1 {
			t.Fatalf("after removing an unknown key %d keys are stored, want 1", len(keys))
		}

		// Removing it leaves the password alone: aal1 is enough again.
		sf = skSettingsFlow(t, b, sf.ID)
		status, body = skSettings(t, b, e.Server, sf.ID, skWebAuthnRemove(sf.csrf(t), key.hexID()))
		if status != http.StatusOK {
			t.Fatalf("removing the key: %d, want 200: %s", status, body)
		}
		stRequireSuccess(t, stDecodeFlow(t, body))
		if keys := skKeysOf(t, e.Server, id, "webauthn"); len(keys) != 0 {
			t.Errorf("after removing it %d keys are stored: %s", len(keys), asJSON(keys))
		}
		b4 := skPasswordSignIn(t, e.Server, email)
		skRequireSession(t, b4, e.Server, id, "aal1", "password/aal1")
	})
}

func TestWebAuthn_PasswordlessSignUpAndSignIn(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		e := skServer(t, store, skMerge(skPasswordless))
		email := uniqueEmail("wa-passwordless")

		// Sign-up, profile first: the traits, then the key.
		b := newBrowser(t, e.Server)
		rf, _ := b.browserFlow(t, "registration", nil)
		res := b.do(t, http.MethodPost, e.submitURL("registration", rf.ID), map[string]any{
			"method": "profile", "csrf_token": rf.csrf(t), "traits": map[string]any{"email": email},
		}, nil)
		rf = requireFlowAnswer(t, "registration", res.status, res.body, "the profile step")
		o := skRequireWebAuthnRegistration(t, e, rf, 1040004)
		if n := len(o.skUserID(t)); n != 16 {
			t.Errorf("creation options user.id has %d bytes, want a random UUID's 16", n)
		}
		att, key := skCreate(t, skValueJSON(t, rf.node(t, "webauthn_register_trigger")), e.Origin)
		status, body := skRegister(t, b, e.Server, rf.ID, ory.UpdateRegistrationFlowWithWebAuthnMethodAsUpdateRegistrationFlowBody(&ory.UpdateRegistrationFlowWithWebAuthnMethod{
			Method: "webauthn", CsrfToken: ory.PtrString(rf.csrf(t)), Traits: map[string]any{"email": email},
			WebauthnRegister: ory.PtrString(att), WebauthnRegisterDisplayname: ory.PtrString("Laptop"),
		}))
		if status != http.StatusOK {
			t.Fatalf("sign-up with a key: %d, want 200: %s", status, body)
		}
		ok := decodeSuccess(t, body)
		if ok.Identity == nil || ok.Session == nil {
			t.Fatalf("sign-up answer without identity and session (session hook after webauthn): %s", body)
		}
		id := ok.Identity.Id
		skRequireSession(t, b, e.Server, id, "aal1", "webauthn/aal1")
		c := skRequireOneKey(t, e.Server, id, "webauthn", key, "Laptop", true)
		if !slices.Equal(c.Identifiers, []string{email}) {
			t.Errorf("webauthn identifiers %v, want [%s]", c.Identifiers, email)
		}
		if !bytes.Equal(c.Config.UserHandle, key.handle()) {
			t.Errorf("user_handle %x, want the one the options gave: %x", c.Config.UserHandle, key.handle())
		}

		// The only way in cannot be removed.
		skRequireOnlyKeyStays(t, e, b, id, "webauthn", key)

		// Apps get no key nodes, and a key submission finds no method.
		nr := e.nativeFlow(t, "registration")
		requireNoNode(t, nr, "webauthn_register_trigger", "", "")
		nl := e.nativeFlow(t, "login")
		requireNoNode(t, nl, "method", "webauthn", "")
		_, res2, err := e.Public.FrontendAPI.UpdateLoginFlow(t.Context()).Flow(nl.ID).UpdateLoginFlowBody(
			ory.UpdateLoginFlowWithWebAuthnMethodAsUpdateLoginFlowBody(&ory.UpdateLoginFlowWithWebAuthnMethod{Method: "webauthn", Identifier: email})).Execute()
		status, body = sdkAnswer(t, res2, err)
		skRequireRefused(t, "login", status, body, 4010002, "a webauthn submission to an API login flow")

		// Sign-in: the identifier first, then the key (JSON, as an app).
		b2 := newBrowser(t, e.Server)
		lf, _ := b2.browserFlow(t, "login", nil)
		requireNode(t, lf, "identifier", "", "text", "default", 0)
		requireNode(t, lf, "method", "webauthn", "submit", "webauthn", 1010008)
		status, body = skLogin(t, b2, e.Server, lf.ID, skWebAuthnLogin(lf.csrf(t), email, ""))
		if er := requireError(t, status, body, http.StatusUnprocessableEntity); er.Error.ID != "browser_location_change_required" {
			t.Errorf("first step: error id %q, want browser_location_change_required", er.Error.ID)
		}
		lf = b2.flowByID(t, "login", lf.ID)
		requireFlowMessage(t, lf, 1010012)
		options := skRequireWebAuthnLogin(t, e, lf, email, 1010013)
		status, body = skLogin(t, b2, e.Server, lf.ID, skWebAuthnLogin(lf.csrf(t), email, skGet(t, key, options, e.Origin)))
		if status != http.StatusOK {
			t.Fatalf("passwordless sign-in: %d, want 200: %s", status, body)
		}
		skRequireSession(t, b2, e.Server, id, "aal1", "webauthn/aal1")

		// The same as a plain form: 303 back to the login UI, then home.
		b3 := newBrowser(t, e.Server)
		lf3, _ := b3.browserFlow(t, "login", nil)
		lf3 = b3.formBackToUI(t, "login", loginUI, lf3, url.Values{"method": {"webauthn"}, "identifier": {email}})
		assertion := skGet(t, key, skValueJSON(t, lf3.node(t, "webauthn_login_trigger")), e.Origin)
		sess, _ := b3.formSignsIn(t, "login", lf3, url.Values{"method": {"webauthn"}, "identifier": {email}, "webauthn_login": {assertion}})
		if sess.Identity == nil || sess.Identity.Id != id {
			t.Errorf("form sign-in as %s, want %s", asJSON(sess.Identity), id)
		}

		// That assertion was for that flow only.
		b4 := newBrowser(t, e.Server)
		lf4, _ := b4.browserFlow(t, "login", nil)
		status, body = skLogin(t, b4, e.Server, lf4.ID, skWebAuthnLogin(lf4.csrf(t), email, assertion))
		skRequireRefused(t, "login", status, body, 4000008, "a replayed passwordless assertion")

		// No account, or one without a key: 4000015, and no session.
		pw := uniqueEmail("wa-password-only")
		e.createIdentity(t, withPassword(identityBody(pw), testPassword))
		for _, who := range []string{uniqueEmail("wa-nobody"), pw} {
			b5 := newBrowser(t, e.Server)
			lf5, _ := b5.browserFlow(t, "login", nil)
			status, body = skLogin(t, b5, e.Server, lf5.ID, skWebAuthnLogin(lf5.csrf(t), who, ""))
			skRequireRefused(t, "login", status, body, 4000015, "passwordless sign-in of "+who)
			if st, _, _ := e.whoami(t, b5.http, nil); st != http.StatusUnauthorized {
				t.Errorf("whoami after a refused sign-in of %s: %d, want 401", who, st)
			}
		}
	})
}

func TestWebAuthn_ScriptIsServedForCaching(t *testing.T) {
	t.Parallel()
	e := skServer(t, storeSQLite, skMerge(skSecondFactor))
	res := sendRequest(t, plain(e.Server), http.MethodGet, e.PublicURL+"/.well-known/ory/webauthn.js", nil, nil)
	if res.status != http.StatusOK {
		t.Fatalf("GET webauthn.js: %d %s", res.status, res.body)
	}
	if got := res.header.Get("Content-Type"); got != "text/javascript; charset=UTF-8" {
		t.Errorf("Content-Type %q, want text/javascript; charset=UTF-8", got)
	}
	for _, name := range []string{"oryWebAuthnLogin", "oryWebAuthnRegistration", "oryPasskeyLogin", "oryPasskeyLoginAutocompleteInit",
		"oryPasskeyRegistration", "oryPasskeySettingsRegistration", "__oryWebAuthnInitialized", "oryWebAuthnInitialized"} {
		if !bytes.Contains(res.body, []byte(name)) {
			t.Errorf("webauthn.js does not mention %s", name)
		}
	}

	// The URL in the flows names this content: cached for a long time.
	email := uniqueEmail("wa-script")
	e.createIdentity(t, withPassword(identityBody(email), testPassword))
	b := skPasswordSignIn(t, e.Server, email)
	f := stBrowserSettings(t, b, nil)
	skRequireScript(t, e, f.flowView)
	n, _ := skScriptNode(f.flowView)
	versioned := sendRequest(t, plain(e.Server), http.MethodGet, e.PublicURL+strings.TrimPrefix(skAttr(n, "src"), e.Origin), nil, nil)
	if !bytes.Equal(versioned.body, res.body) {
		t.Errorf("the script at the node's src differs from /.well-known/ory/webauthn.js")
	}
	if age := skMaxAge(versioned.header.Get("Cache-Control")); age < 86400 {
		t.Errorf("Cache-Control %q at the node's src, want a long max-age (>= 1 day)", versioned.header.Get("Cache-Control"))
	}
}

// skLogged reports whether one line of the server's log holds every part.
func skLogged(s *Server, parts ...string) bool {
	for _, line := range strings.Split(s.Stderr(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}

// skMaxAge is the max-age of a Cache-Control value, or -1.
func skMaxAge(cc string) int {
	for _, part := range strings.Split(cc, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "max-age="); ok {
			if n, err := strconv.Atoi(v); err == nil {
				return n
			}
		}
	}
	return -1
}

// TestSecurityKey_CeremonyAcrossInstances: every ceremony begins on one
// instance and ends on the other, both behind one public URL on one
// PostgreSQL database (on SQLite one server plays both), so nothing of a
// ceremony may live in a process.
func TestSecurityKey_CeremonyAcrossInstances(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		spec := stSpec(store, skMerge(skSecondFactor, skPasskeys))
		var a, z *skEnv
		if store == storePostgres {
			spec.dsn = newPostgresDatabase(t)
			a = skStart(t, spec, "")
			z = skStart(t, spec, a.Origin)
		} else {
			a = skStart(t, spec, "")
			z = a
		}
		email := uniqueEmail("sk-instances")
		id := a.createIdentity(t, withPassword(identityBody(email), testPassword)).Id

		// A key added in settings: begun on a, finished on z.
		b := stBrowserLogin(t, a.Server, email, testPassword)
		f := stBrowserSettings(t, b, nil)
		att, key := skCreate(t, skValueJSON(t, f.node(t, "webauthn_register_trigger")), a.Origin)
		status, body := skSettings(t, b, z.Server, f.ID, skWebAuthnAdd(f.csrf(t), att, "Shared key"))
		if status != http.StatusOK {
			t.Fatalf("adding a key begun on the other instance: %d, want 200: %s", status, body)
		}
		skRequireSession(t, b, z.Server, id, "aal2", "password/aal1", "webauthn/aal2")

		// Stepping up: begun on z, finished on a.
		b2 := skPasswordSignIn(t, z.Server, email)
		lf := skLoginFlow(t, b2, z.Server, aal2Query)
		assertion := skGet(t, key, skValueJSON(t, lf.node(t, "webauthn_login_trigger")), a.Origin)
		status, body = skLogin(t, b2, a.Server, lf.ID, skWebAuthnLogin(lf.csrf(t), email, assertion))
		if status != http.StatusOK {
			t.Fatalf("aal2 sign-in begun on the other instance: %d, want 200: %s", status, body)
		}
		skRequireSession(t, b2, a.Server, id, "aal2", "password/aal1", "webauthn/aal2")

		// A passkey added in settings: begun on z, finished on a.
		pb := skRebind(b2, z.Server)
		pf := stBrowserSettings(t, pb, nil)
		patt, passkey := skCreate(t, skPasskeyCreateOptions(t, pf.flowView, false), a.Origin)
		status, body = skSettings(t, pb, a.Server, pf.ID, skPasskeyAdd(pf.csrf(t), patt))
		if status != http.StatusOK {
			t.Fatalf("adding a passkey begun on the other instance: %d, want 200: %s", status, body)
		}

		// A discoverable passkey sign-in: begun on a, finished on z. The
		// identity has a security key, so the aal1 session it opens is
		// sent on to the aal2 login, as after its password.
		b3 := newBrowser(t, a.Server)
		plf := skLoginFlow(t, b3, a.Server, nil)
		passertion := skGet(t, passkey, skValueJSON(t, plf.node(t, "passkey_challenge")), a.Origin)
		status, body = skLogin(t, b3, z.Server, plf.ID, skPasskeyLogin(plf.csrf(t), passertion))
		if er := requireError(t, status, body, http.StatusUnprocessableEntity); er.Error.ID != "browser_location_change_required" {
			t.Fatalf("passkey sign-in begun on the other instance: %s, want 422 browser_location_change_required to the aal2 login", body)
		}
		skRequireAAL2Required(t, b3, z.Server, "a passkey sign-in of an identity with a security key")
		if n := skSessionsBy(t, z.Server, id, "passkey"); n != 1 {
			t.Errorf("%d sessions of the identity signed in by passkey, want 1", n)
		}
	})
}
