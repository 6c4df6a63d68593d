package conformance

import (
	"context"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/descope/virtualwebauthn"
	"github.com/google/uuid"
	ory "github.com/ory/client-go"

	"github.com/lanyard-id/lanyard/internal/securitykey/keytest"
	"github.com/lanyard-id/lanyard/test/testserver"
)

// Helpers of the security key and passkey tests (webauthn_test.go,
// passkey_test.go): servers whose relying party is their public origin, a
// software authenticator (github.com/descope/virtualwebauthn) answering the
// options a flow's nodes carry as a browser running webauthn.js would, and
// checks of the stored credentials. The sk prefix keeps them apart.

const (
	// skRPID is the relying party id: WebAuthn takes a domain, never an IP
	// address, so these servers' public URLs name localhost.
	skRPID   = "localhost"
	skRPName = "Lanyard Conformance"
	// skForeignOrigin is a page the relying party does not trust.
	skForeignOrigin = "https://phish.example.org"
)

// skSecondFactor turns security keys on as a second factor.
var skSecondFactor = map[string]any{
	"selfservice.methods.webauthn.enabled":             true,
	"selfservice.methods.webauthn.config.passwordless": false,
}

// skPasswordless turns security keys on as a first factor, with a session
// after signing up with one.
var skPasswordless = map[string]any{
	"selfservice.methods.webauthn.enabled":                true,
	"selfservice.methods.webauthn.config.passwordless":    true,
	"selfservice.flows.registration.after.webauthn.hooks": []any{map[string]any{"hook": "session"}},
}

// skPasskeys turns passkeys on, with a session after signing up with one.
var skPasskeys = map[string]any{
	"selfservice.methods.passkey.enabled":                true,
	"selfservice.flows.registration.after.passkey.hooks": []any{map[string]any{"hook": "session"}},
}

// skMerge answers the union of config maps, later ones winning, with room
// for the refused attempts these tests make.
func skMerge(sets ...map[string]any) map[string]any {
	out := map[string]any{"protection.attempts.free_failures": 100}
	for _, set := range sets {
		for k, v := range set {
			out[k] = v
		}
	}
	return out
}

// skEnv is a running server and the origin its browsers are on.
type skEnv struct {
	*Server
	// Origin is the public base URL without the slash: the page origin
	// of the ceremonies and the relying party's only allowed origin.
	Origin string
}

// skServer starts a settings-capable selfservice server (stSpec) with set
// on its public URL http://localhost:<port>, which is also the relying
// party's only origin.
func skServer(t *testing.T, store string, set map[string]any) *skEnv {
	t.Helper()
	return skStart(t, stSpec(store, set), "")
}

// skStart starts spec on a public port chosen here, so that the config can
// name the public URL: the base URL and the relying party's origins are
// origin (the URL a browser sees: one load balancer in front of several
// instances), or the server's own URL when origin is "". The Server's
// PublicURL and Public SDK point at the instance itself.
func skStart(t *testing.T, spec serverSpec, origin string) *skEnv {
	t.Helper()
	port := testserver.FreePort(t)
	own := fmt.Sprintf("http://localhost:%d", port)
	if origin == "" {
		origin = own
	}
	set := map[string]any{}
	for k, v := range spec.set {
		set[k] = v
	}
	set["serve.public.port"] = port
	set["serve.public.base_url"] = origin + "/"
	for _, method := range []string{"webauthn", "passkey"} {
		if set["selfservice.methods."+method+".enabled"] != true {
			continue
		}
		prefix := "selfservice.methods." + method + ".config.rp."
		for key, value := range map[string]any{"id": skRPID, "display_name": skRPName, "origins": []any{origin}} {
			if _, ok := set[prefix+key]; !ok {
				set[prefix+key] = value
			}
		}
	}
	spec.set = set
	s := startServer(t, spec)
	s.PublicURL = own
	s.Public = newSDK(own, s.HTTP)
	return &skEnv{Server: s, Origin: origin}
}

// skKey is one credential of the software authenticator: its key pair,
// sign counter and the user handle it answers assertions with.
type skKey struct {
	cred virtualwebauthn.Credential
	auth virtualwebauthn.Authenticator
}

// handle is the user handle the relying party gave at registration.
func (k *skKey) handle() []byte { return k.auth.Options.UserHandle }

// hexID is how remove buttons name the key.
func (k *skKey) hexID() string { return hex.EncodeToString(k.cred.ID) }

// skCreate answers navigator.credentials.create for options (the JSON the
// script passes, {"publicKey":{...}}) on a page of origin: the attestation
// to submit and the new key.
func skCreate(t *testing.T, options, origin string) (string, *skKey) {
	t.Helper()
	opts, err := virtualwebauthn.ParseAttestationOptions(options)
	if err != nil {
		t.Fatalf("the creation options do not parse (%v): %s", err, options)
	}
	if opts.RelyingPartyID != skRPID {
		t.Errorf("creation options rp.id = %q, want %q: %s", opts.RelyingPartyID, skRPID, options)
	}
	k := &skKey{
		cred: keytest.NewCredential(),
		auth: virtualwebauthn.NewAuthenticatorWithOptions(virtualwebauthn.AuthenticatorOptions{UserHandle: []byte(opts.UserID)}),
	}
	if k.cred.IsExcludedForAttestation(*opts) {
		t.Fatalf("a fresh key is excluded: %s", options)
	}
	rp := virtualwebauthn.RelyingParty{ID: skRPID, Name: skRPName, Origin: origin}
	return virtualwebauthn.CreateAttestationResponse(rp, k.auth, k.cred, *opts), k
}

// skGet answers navigator.credentials.get for options with key k on a page
// of origin; the key's sign counter goes up by one first, as an
// authenticator's does.
func skGet(t *testing.T, k *skKey, options, origin string) string {
	t.Helper()
	opts, err := virtualwebauthn.ParseAssertionOptions(options)
	if err != nil {
		t.Fatalf("the request options do not parse (%v): %s", err, options)
	}
	if opts.RelyingPartyID != "" && opts.RelyingPartyID != skRPID {
		t.Errorf("request options rpId = %q, want %q: %s", opts.RelyingPartyID, skRPID, options)
	}
	if len(opts.AllowCredentials) > 0 && !k.cred.IsAllowedForAssertion(*opts) {
		t.Fatalf("the request options do not allow key %s: %s", k.hexID(), options)
	}
	k.cred.Counter++
	rp := virtualwebauthn.RelyingParty{ID: skRPID, Name: skRPName, Origin: origin}
	return virtualwebauthn.CreateAssertionResponse(rp, k.auth, k.cred, *opts)
}

// skOptions is what the tests read of creation and request options.
type skOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"rp"`
		RPID string `json:"rpId"`
		User struct {
			ID          string `json:"id"`
			Name        string `json:"name"`
			DisplayName string `json:"displayName"`
		} `json:"user"`
		Timeout                int `json:"timeout"`
		AuthenticatorSelection struct {
			AuthenticatorAttachment string `json:"authenticatorAttachment"`
			RequireResidentKey      *bool  `json:"requireResidentKey"`
			ResidentKey             string `json:"residentKey"`
			UserVerification        string `json:"userVerification"`
		} `json:"authenticatorSelection"`
		UserVerification string `json:"userVerification"`
		AllowCredentials []struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		} `json:"allowCredentials"`
		ExcludeCredentials []struct {
			ID string `json:"id"`
		} `json:"excludeCredentials"`
	} `json:"publicKey"`
}

func skDecodeOptions(t *testing.T, raw string) skOptions {
	t.Helper()
	var o skOptions
	if err := json.Unmarshal([]byte(raw), &o); err != nil || o.PublicKey.Challenge == "" {
		t.Fatalf("not WebAuthn options {\"publicKey\":{challenge,...}} (%v): %s", err, raw)
	}
	return o
}

// skUserID is the user handle creation options give, decoded.
func (o skOptions) skUserID(t *testing.T) []byte {
	t.Helper()
	id, err := base64.RawURLEncoding.DecodeString(o.PublicKey.User.ID)
	if err != nil {
		t.Fatalf("user.id %q is not base64url: %v", o.PublicKey.User.ID, err)
	}
	return id
}

// skAllows reports whether request options list key k.
func (o skOptions) skAllows(k *skKey) bool {
	for _, c := range o.PublicKey.AllowCredentials {
		if c.ID == base64.RawURLEncoding.EncodeToString(k.cred.ID) {
			return true
		}
	}
	return false
}

// skValueJSON is a node's value as the JSON text the script reads.
func skValueJSON(t *testing.T, n uiNode) string {
	t.Helper()
	switch v := n.value().(type) {
	case string:
		return v
	case nil:
		t.Fatalf("node %s has no value", asJSON(n))
	default:
		return asJSON(v)
	}
	return ""
}

// skAttr is a string attribute of a node.
func skAttr(n uiNode, key string) string {
	s, _ := n.Attributes[key].(string)
	return s
}

// skScriptNode answers the webauthn_script node of f, or false.
func skScriptNode(f flowView) (uiNode, bool) {
	for _, n := range f.UI.Nodes {
		if n.Type == "script" && skAttr(n, "id") == "webauthn_script" {
			return n, true
		}
	}
	return uiNode{}, false
}

// skRequireScript checks the script node of a browser flow against facts
// §5.2 and the script the server serves at its src: the integrity must be
// the SHA-512 of the served bytes.
func skRequireScript(t *testing.T, s *skEnv, f flowView) {
	t.Helper()
	n, ok := skScriptNode(f)
	if !ok {
		t.Errorf("no webauthn_script node in %s", asJSON(f.UI.Nodes))
		return
	}
	if n.Group != "webauthn" {
		t.Errorf("script node group %q, want webauthn", n.Group)
	}
	want := map[string]any{"async": true, "referrerpolicy": "no-referrer", "crossorigin": "anonymous", "type": "text/javascript", "node_type": "script"}
	for k, v := range want {
		if n.Attributes[k] != v {
			t.Errorf("script node %s = %v, want %v: %s", k, n.Attributes[k], v, asJSON(n))
		}
	}
	if _, err := uuid.Parse(skAttr(n, "nonce")); err != nil {
		t.Errorf("script nonce %q is not a UUID", skAttr(n, "nonce"))
	}
	src := skAttr(n, "src")
	base := s.Origin
	if !strings.HasPrefix(src, base+"/.well-known/ory/webauthn.js") {
		t.Fatalf("script src %q, want %s/.well-known/ory/webauthn.js", src, base)
	}
	res := sendRequest(t, plain(s.Server), http.MethodGet, s.PublicURL+strings.TrimPrefix(src, base), nil, nil)
	if res.status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", src, res.status, res.body)
	}
	sum := sha512.Sum512(res.body)
	if got, want := skAttr(n, "integrity"), "sha512-"+base64.StdEncoding.EncodeToString(sum[:]); got != want {
		t.Errorf("script integrity %q, but the served script hashes to %q", got, want)
	}
}

// skRequireTrigger checks a WebAuthn button: group, label and the script
// function it calls (onclickTrigger, and the legacy onclick), and answers
// the node.
func skRequireTrigger(t *testing.T, f flowView, name, group string, label int64, trigger string) uiNode {
	t.Helper()
	n := requireNode(t, f, name, "", "button", group, label)
	if got := skAttr(n, "onclickTrigger"); got != trigger {
		t.Errorf("%s onclickTrigger = %q, want %q", name, got, trigger)
	}
	if got := skAttr(n, "onclick"); !strings.HasPrefix(got, "window."+trigger+"(") {
		t.Errorf("%s onclick = %q, want window.%s(...)", name, got, trigger)
	}
	return n
}

// skStoredKey is one entry of a webauthn or passkey credential's config,
// as the admin API shows it with include_credential (facts §5.3).
type skStoredKey struct {
	ID              []byte `json:"id"`
	PublicKey       []byte `json:"public_key"`
	AttestationType string `json:"attestation_type"`
	Authenticator   struct {
		AAGUID       []byte `json:"aaguid"`
		SignCount    uint32 `json:"sign_count"`
		CloneWarning bool   `json:"clone_warning"`
	} `json:"authenticator"`
	DisplayName    string    `json:"display_name"`
	AddedAt        time.Time `json:"added_at"`
	IsPasswordless bool      `json:"is_passwordless"`
	Flags          struct {
		UserPresent  bool `json:"user_present"`
		UserVerified bool `json:"user_verified"`
	} `json:"flags"`
}

// skStored is a webauthn or passkey credential as the admin API shows it.
type skStored struct {
	Type        string   `json:"type"`
	Identifiers []string `json:"identifiers"`
	Version     int      `json:"version"`
	Config      *struct {
		Keys       []skStoredKey `json:"credentials"`
		UserHandle []byte        `json:"user_handle"`
	} `json:"config"`
}

// skCredential reads the identity's credential of type (webauthn,
// passkey) with include_credential; ok is false when it has none. It also
// checks that the plain read leaves the config out.
func skCredential(t *testing.T, s *Server, identityID, typ string) (skStored, bool) {
	t.Helper()
	res := s.do(t, http.MethodGet, s.AdminURL+"/admin/identities/"+identityID+"?include_credential="+typ, nil, nil)
	if res.status != http.StatusOK {
		t.Fatalf("GET identity %s: %d %s", identityID, res.status, res.body)
	}
	var withCreds struct {
		Credentials map[string]skStored `json:"credentials"`
	}
	if err := json.Unmarshal(res.body, &withCreds); err != nil {
		t.Fatalf("identity body: %v: %s", err, res.body)
	}
	var sdk ory.Identity
	if err := json.Unmarshal(res.body, &sdk); err != nil {
		t.Errorf("the SDK cannot read the identity with its %s credential: %v: %s", typ, err, res.body)
	}
	c, ok := withCreds.Credentials[typ]
	if !ok {
		return c, false
	}
	if c.Type != typ || c.Version != 1 || c.Config == nil {
		t.Errorf("credential %s: type %q version %d config %v, want type %s, version 1, a config", typ, c.Type, c.Version, c.Config != nil, typ)
	}
	if plainCred, ok := s.getIdentity(t, identityID).GetCredentials()[typ]; ok && plainCred.Config != nil {
		t.Errorf("without include_credential the %s config is shown: %s", typ, asJSON(plainCred.Config))
	}
	if c.Config == nil {
		t.FailNow()
	}
	return c, true
}

// skKeysOf answers the stored keys of the identity's credential of type
// (none when it has no such credential).
func skKeysOf(t *testing.T, s *Server, identityID, typ string) []skStoredKey {
	t.Helper()
	c, ok := skCredential(t, s, identityID, typ)
	if !ok {
		return nil
	}
	return c.Config.Keys
}

// skRequireOneKey reads the identity's credential of type (webauthn,
// passkey), checks that it holds key k alone, stored as made, and answers
// the credential.
func skRequireOneKey(t *testing.T, s *Server, identityID, typ string, k *skKey, displayName string, passwordless bool) skStored {
	t.Helper()
	c, ok := skCredential(t, s, identityID, typ)
	if !ok {
		t.Fatalf("no %s credential after adding key %s", typ, k.hexID())
	}
	if len(c.Config.Keys) != 1 {
		t.Fatalf("%d %s keys stored, want 1: %s", len(c.Config.Keys), typ, asJSON(c.Config.Keys))
	}
	got := c.Config.Keys[0]
	if string(got.ID) != string(k.cred.ID) {
		t.Errorf("stored key id %x, want %s", got.ID, k.hexID())
	}
	if len(got.PublicKey) == 0 {
		t.Error("stored key has no public_key")
	}
	if string(got.Authenticator.AAGUID) != string(k.auth.Aaguid[:]) {
		t.Errorf("stored aaguid %x, want %x", got.Authenticator.AAGUID, k.auth.Aaguid)
	}
	if got.DisplayName != displayName {
		t.Errorf("stored display_name %q, want %q", got.DisplayName, displayName)
	}
	if got.IsPasswordless != passwordless {
		t.Errorf("stored is_passwordless %t, want %t", got.IsPasswordless, passwordless)
	}
	if !got.Flags.UserPresent || !got.Flags.UserVerified {
		t.Errorf("stored flags %+v, want user_present and user_verified (the authenticator set both)", got.Flags)
	}
	if got.AddedAt.Location() != time.UTC || got.AddedAt.Nanosecond() != 0 || !stNear(got.AddedAt, time.Now(), 5*time.Minute) {
		t.Errorf("stored added_at %s, want now in UTC, whole seconds", got.AddedAt.Format(time.RFC3339Nano))
	}
	return c
}

// skRequireOnlyKeyStays checks that key k of method (webauthn, passkey),
// the identity's only way in, has a disabled remove button in b's
// settings, and that removing it anyway is refused and keeps it.
func skRequireOnlyKeyStays(t *testing.T, e *skEnv, b *browser, identityID, method string, k *skKey) {
	t.Helper()
	label, remove := int64(1050018), skWebAuthnRemove
	if method == "passkey" {
		label, remove = 1050020, skPasskeyRemove
	}
	sf := stBrowserSettings(t, b, nil)
	rm := requireNode(t, sf.flowView, method+"_remove", k.hexID(), "submit", method, label)
	if rm.Attributes["disabled"] != true {
		t.Errorf("the only first factor's remove button is not disabled: %s", asJSON(rm))
	}
	status, body := skSettings(t, b, e.Server, sf.ID, remove(sf.csrf(t), k.hexID()))
	skRequireRefused(t, "settings", status, body, 4000001, "removing the only "+method+" key")
	if keys := skKeysOf(t, e.Server, identityID, method); len(keys) != 1 {
		t.Fatalf("after a refused removal %d %s keys are stored, want 1", len(keys), method)
	}
}

// skFindKey answers the stored entry of key k, or fails.
func skFindKey(t *testing.T, keys []skStoredKey, k *skKey) skStoredKey {
	t.Helper()
	for _, got := range keys {
		if string(got.ID) == string(k.cred.ID) {
			return got
		}
	}
	t.Fatalf("key %s is not stored: %s", k.hexID(), asJSON(keys))
	return skStoredKey{}
}

// skIDBytes is an identity id as the 16 bytes of its UUID: the user handle
// of its second-factor keys.
func skIDBytes(t *testing.T, id string) []byte {
	t.Helper()
	u, err := uuid.Parse(id)
	if err != nil {
		t.Fatal(err)
	}
	return u[:]
}

// skSDK is an SDK client for server s that sends b's cookies: an
// application's page on the browser's origin calling any instance.
func skSDK(b *browser, s *Server) *ory.APIClient { return newSDK(s.PublicURL, b.http) }

// skLogin submits a login body to flowID on s through the SDK with b's
// cookies, and answers status and raw body.
func skLogin(t *testing.T, b *browser, s *Server, flowID string, body ory.UpdateLoginFlowBody) (int, []byte) {
	t.Helper()
	_, res, err := skSDK(b, s).FrontendAPI.UpdateLoginFlow(context.Background()).Flow(flowID).UpdateLoginFlowBody(body).Execute()
	return sdkAnswer(t, res, err)
}

// skRegister submits a registration body through the SDK.
func skRegister(t *testing.T, b *browser, s *Server, flowID string, body ory.UpdateRegistrationFlowBody) (int, []byte) {
	t.Helper()
	_, res, err := skSDK(b, s).FrontendAPI.UpdateRegistrationFlow(context.Background()).Flow(flowID).UpdateRegistrationFlowBody(body).Execute()
	return sdkAnswer(t, res, err)
}

// skSettings submits a settings body through the SDK.
func skSettings(t *testing.T, b *browser, s *Server, flowID string, body ory.UpdateSettingsFlowBody) (int, []byte) {
	t.Helper()
	_, res, err := skSDK(b, s).FrontendAPI.UpdateSettingsFlow(context.Background()).Flow(flowID).UpdateSettingsFlowBody(body).Execute()
	return sdkAnswer(t, res, err)
}

// skWebAuthnLogin is a webauthn login body for a browser flow.
func skWebAuthnLogin(csrf, identifier, assertion string) ory.UpdateLoginFlowBody {
	b := ory.UpdateLoginFlowWithWebAuthnMethod{Method: "webauthn", CsrfToken: ory.PtrString(csrf), Identifier: identifier}
	if assertion != "" {
		b.WebauthnLogin = ory.PtrString(assertion)
	}
	return ory.UpdateLoginFlowWithWebAuthnMethodAsUpdateLoginFlowBody(&b)
}

// skPasskeyLogin is a passkey login body; csrf "" for API flows.
func skPasskeyLogin(csrf, assertion string) ory.UpdateLoginFlowBody {
	b := ory.UpdateLoginFlowWithPasskeyMethod{Method: "passkey", PasskeyLogin: ory.PtrString(assertion)}
	if csrf != "" {
		b.CsrfToken = ory.PtrString(csrf)
	}
	return ory.UpdateLoginFlowWithPasskeyMethodAsUpdateLoginFlowBody(&b)
}

// skRequireRefused asserts a login, registration or settings submission
// that a ceremony check refused: 400 with the flow carrying message id.
func skRequireRefused(t *testing.T, kind string, status int, body []byte, id int64, what string) flowView {
	t.Helper()
	f := requireFlowAnswer(t, kind, status, body, what)
	if !anyMessage(f, id) {
		t.Errorf("%s: the flow carries no message %d: messages %s, nodes %s", what, id, asJSON(f.UI.Messages), asJSON(f.UI.Nodes))
	}
	return f
}

// skRequireSession asserts that b's cookies carry a session of identityID
// at aal with the authentication methods want (method/aal), and answers it.
func skRequireSession(t *testing.T, b *browser, s *Server, identityID, aal string, want ...string) *ory.Session {
	t.Helper()
	status, sess, res := s.whoami(t, b.http, nil)
	if status != http.StatusOK {
		t.Fatalf("whoami by cookie: %d %s", status, res.body)
	}
	if sess.Identity == nil || sess.Identity.Id != identityID {
		t.Errorf("whoami identity %s, want %s", asJSON(sess.Identity), identityID)
	}
	requireAAL(t, "whoami by cookie", sess, aal)
	requireMethods(t, sess, want...)
	return sess
}

// skRequireAAL2Required asserts whoami refuses b's aal1 session for want of
// the identity's second factor.
func skRequireAAL2Required(t *testing.T, b *browser, s *Server, what string) {
	t.Helper()
	status, _, res := s.whoami(t, b.http, nil)
	if status != http.StatusForbidden {
		t.Fatalf("%s: whoami %d, want 403 session_aal2_required: %s", what, status, res.body)
	}
	if e := requireError(t, status, res.body, http.StatusForbidden); e.Error.ID != "session_aal2_required" {
		t.Errorf("%s: whoami error id %q, want session_aal2_required", what, e.Error.ID)
	}
}
