package config

import (
	"slices"
	"strings"
	"testing"
)

// TestWebAuthnKeys: the webauthn and passkey methods and their hook lists,
// with Kratos's defaults, from files and the environment, no longer warned
// about.
func TestWebAuthnKeys(t *testing.T) {
	dir := t.TempDir()
	c, w := mustLoad(t, LoadOptions{Files: []string{writeFile(t, dir, "k.yml", prodBase)}, WorkDir: dir})
	if len(w) != 0 {
		t.Errorf("warnings: %v", w)
	}
	m := c.Selfservice.Methods
	if m.WebAuthn.Enabled || m.WebAuthn.Passwordless || m.WebAuthn.RPID != "" || m.WebAuthn.Origins != nil || m.Passkey.Enabled || m.Passkey.Origins != nil {
		t.Errorf("defaults: %+v %+v", m.WebAuthn, m.Passkey)
	}
	fl := c.Selfservice.Flows
	if fl.Login.AfterWebAuthnHooks != nil || fl.Login.AfterPasskeyHooks != nil || fl.Registration.AfterWebAuthnHooks != nil ||
		fl.Registration.AfterPasskeyHooks != nil || fl.Settings.AfterWebAuthnHooks != nil || fl.Settings.AfterPasskeyHooks != nil {
		t.Error("hook lists default to not configured")
	}

	f := writeFile(t, dir, "on.yml", prodBase+`
selfservice:
  methods:
    webauthn:
      enabled: true
      config:
        passwordless: true
        rp:
          id: example.org
          display_name: Example
          origin: https://app.example.org
          icon: https://example.org/icon.png
    passkey:
      enabled: true
      config:
        rp:
          id: example.org
          display_name: Example Passkeys
          origins: [https://example.org, "https://app.example.org:8443", "android:apk-key-hash:abc"]
  flows:
    login:
      after:
        webauthn: {hooks: [{hook: require_verified_address}]}
        passkey: {hooks: [{hook: revoke_active_sessions}]}
    registration:
      after:
        webauthn: {hooks: [{hook: session}]}
        passkey: {hooks: [{hook: session}, {hook: show_verification_ui}]}
    settings:
      after:
        webauthn: {hooks: []}
        passkey: {hooks: [{hook: web_hook, config: {url: "https://hooks.example.com/", method: POST}}]}
`)
	c, w = mustLoad(t, LoadOptions{Files: []string{f}, WorkDir: dir})
	if len(w) != 0 {
		t.Errorf("warnings: %v", w)
	}
	wa, pk := c.Selfservice.Methods.WebAuthn, c.Selfservice.Methods.Passkey
	if !wa.Enabled || !wa.Passwordless || wa.RPID != "example.org" || wa.RPDisplayName != "Example" ||
		!slices.Equal(wa.Origins, []string{"https://app.example.org"}) {
		t.Errorf("webauthn: %+v", wa)
	}
	if !pk.Enabled || pk.RPID != "example.org" || pk.RPDisplayName != "Example Passkeys" ||
		!slices.Equal(pk.Origins, []string{"https://example.org", "https://app.example.org:8443", "android:apk-key-hash:abc"}) {
		t.Errorf("passkey: %+v", pk)
	}
	fl = c.Selfservice.Flows
	if len(fl.Login.AfterWebAuthnHooks) != 1 || fl.Login.AfterWebAuthnHooks[0].Name != "require_verified_address" ||
		len(fl.Login.AfterPasskeyHooks) != 1 || len(fl.Registration.AfterWebAuthnHooks) != 1 ||
		len(fl.Registration.AfterPasskeyHooks) != 2 || fl.Settings.AfterWebAuthnHooks == nil || len(fl.Settings.AfterWebAuthnHooks) != 0 ||
		len(fl.Settings.AfterPasskeyHooks) != 1 || fl.Settings.AfterPasskeyHooks[0].Config["url"] != "https://hooks.example.com/" {
		t.Errorf("hooks: login %+v %+v, registration %+v %+v, settings %+v %+v", fl.Login.AfterWebAuthnHooks, fl.Login.AfterPasskeyHooks,
			fl.Registration.AfterWebAuthnHooks, fl.Registration.AfterPasskeyHooks, fl.Settings.AfterWebAuthnHooks, fl.Settings.AfterPasskeyHooks)
	}

	env := map[string]string{
		"SELFSERVICE_METHODS_WEBAUTHN_ENABLED":                "true",
		"SELFSERVICE_METHODS_WEBAUTHN_CONFIG_RP_ID":           "id.example.com",
		"SELFSERVICE_METHODS_WEBAUTHN_CONFIG_RP_DISPLAY_NAME": "From Env",
		"SELFSERVICE_METHODS_WEBAUTHN_CONFIG_RP_ORIGINS":      `["https://id.example.com","https://www.example.com"]`,
		"SELFSERVICE_METHODS_PASSKEY_ENABLED":                 "true",
		"SELFSERVICE_METHODS_PASSKEY_CONFIG_RP_ID":            "id.example.com",
		"SELFSERVICE_METHODS_PASSKEY_CONFIG_RP_DISPLAY_NAME":  "Env Passkeys",
		"SELFSERVICE_METHODS_PASSKEY_CONFIG_RP_ORIGINS":       "https://id.example.com,https://m.example.com",
		"SELFSERVICE_FLOWS_LOGIN_AFTER_PASSKEY_HOOKS":         `[{"hook":"revoke_active_sessions"}]`,
	}
	c, w = mustLoad(t, LoadOptions{Files: []string{writeFile(t, dir, "k.yml", prodBase)}, WorkDir: dir,
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if len(w) != 0 {
		t.Errorf("warnings: %v", w)
	}
	wa, pk = c.Selfservice.Methods.WebAuthn, c.Selfservice.Methods.Passkey
	if !wa.Enabled || wa.RPID != "id.example.com" || wa.RPDisplayName != "From Env" || !slices.Equal(wa.Origins, []string{"https://id.example.com", "https://www.example.com"}) {
		t.Errorf("webauthn from the environment: %+v", wa)
	}
	if !pk.Enabled || pk.RPDisplayName != "Env Passkeys" || !slices.Equal(pk.Origins, []string{"https://id.example.com", "https://m.example.com"}) {
		t.Errorf("passkey from the environment: %+v", pk)
	}
	if h := c.Selfservice.Flows.Login.AfterPasskeyHooks; len(h) != 1 || h[0].Name != "revoke_active_sessions" {
		t.Errorf("passkey login hooks from the environment: %+v", h)
	}
}

// TestWebAuthnKeysRefused: an enabled method needs its relying party, and
// webauthn takes one origin form only; each error names the key.
func TestWebAuthnKeysRefused(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"webauthn without rp", `
selfservice: {methods: {webauthn: {enabled: true}}}`, []string{
			`"selfservice.methods.webauthn.config.rp.id": required when selfservice.methods.webauthn.enabled is true`,
			`"selfservice.methods.webauthn.config.rp.display_name": required when selfservice.methods.webauthn.enabled is true`,
		}},
		{"webauthn without display name", `
selfservice: {methods: {webauthn: {enabled: true, config: {rp: {id: example.org}}}}}`, []string{
			`"selfservice.methods.webauthn.config.rp.display_name": required`,
		}},
		{"passkey without id", `
selfservice: {methods: {passkey: {enabled: true, config: {rp: {display_name: Example}}}}}`, []string{
			`"selfservice.methods.passkey.config.rp.id": required when selfservice.methods.passkey.enabled is true`,
		}},
		{"both origin forms", `
selfservice: {methods: {webauthn: {config: {rp: {id: example.org, display_name: X, origin: "https://a.example.org", origins: ["https://b.example.org"]}}}}}`, []string{
			`"selfservice.methods.webauthn.config.rp.origin" and "selfservice.methods.webauthn.config.rp.origins": set at most one`,
		}},
		{"not an origin", `
selfservice: {methods: {passkey: {config: {rp: {origins: ["example.org"]}}}}}`, []string{
			`"selfservice.methods.passkey.config.rp.origins": item 0: "example.org" is not an origin`,
		}},
		{"origins not a list", `
selfservice: {methods: {webauthn: {config: {rp: {origins: "https://example.org"}}}}}`, []string{
			`"selfservice.methods.webauthn.config.rp.origins": expected a list of strings`,
		}},
		{"enabled not a boolean", `
selfservice: {methods: {passkey: {enabled: sometimes}}}`, []string{
			`"selfservice.methods.passkey.enabled"`,
		}},
	} {
		_, _, err := load(t, LoadOptions{Files: []string{writeFile(t, dir, "bad.yml", prodBase+tc.yaml)}, WorkDir: dir})
		if err == nil {
			t.Errorf("%s: loaded", tc.name)
			continue
		}
		for _, want := range tc.want {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error\n%v\nwant it to contain %s", tc.name, err, want)
			}
		}
	}

	// A disabled method may leave its relying party unset, as in Kratos.
	if _, w := mustLoad(t, LoadOptions{Files: []string{writeFile(t, dir, "off.yml", prodBase+`
selfservice: {methods: {webauthn: {enabled: false, config: {passwordless: true}}, passkey: {enabled: false}}}`)}, WorkDir: dir}); len(w) != 0 {
		t.Errorf("warnings: %v", w)
	}
}

// TestWebAuthnIPRelyingParty: Kratos starts with an IP address as the
// relying party id (its example config does); so does Lanyard, warning
// that WebAuthn ceremonies need a domain.
func TestWebAuthnIPRelyingParty(t *testing.T) {
	dir := t.TempDir()
	c, w := mustLoad(t, LoadOptions{Files: []string{writeFile(t, dir, "ip.yml", prodBase+`
selfservice: {methods: {passkey: {enabled: true, config: {rp: {id: 127.0.0.1, display_name: Example, origins: ["http://127.0.0.1:4455"]}}}}}`)}, WorkDir: dir})
	if c.Selfservice.Methods.Passkey.RPID != "127.0.0.1" {
		t.Errorf("rp id = %q", c.Selfservice.Methods.Passkey.RPID)
	}
	if len(w) != 1 || !strings.Contains(w[0], `"selfservice.methods.passkey.config.rp.id"`) || !strings.Contains(w[0], "IP address") {
		t.Errorf("warnings: %v", w)
	}
}
