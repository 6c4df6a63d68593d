package config

import (
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const (
	testGoogleSecret = "google-client-secret-4711"
	testApplePEM     = "-----BEGIN PRIVATE KEY-----\nMIGTAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBHkwdwIBAQQg\n-----END PRIVATE KEY-----"
)

// kratosProviders is a provider list as Kratos's documentation writes
// them: presets, a generic provider with discovery, Apple and Microsoft.
var kratosProviders = `
selfservice:
  methods:
    oidc:
      enabled: false
      config:
        base_redirect_uri: https://auth.example.org
        providers:
          - id: google
            provider: google
            label: Google
            client_id: google-client.apps.googleusercontent.com
            client_secret: ` + testGoogleSecret + `
            mapper_url: file://./oidc.google.jsonnet
            scope: [email, profile]
            requested_claims:
              id_token:
                email: {essential: true}
                email_verified: null
            additional_id_token_audiences: [ios-client.apps.googleusercontent.com]
          - id: github
            provider: github
            client_id: gh-client
            client_secret: gh-secret
            mapper_url: base64://bG9jYWwgY2xhaW1zID0gc3RkLmV4dFZhcignY2xhaW1zJyk7IHt9
            scope: [user:email]
          - id: corp
            provider: generic
            client_id: corp-client
            client_secret: corp-secret
            issuer_url: https://sso.example.com/realms/corp
            mapper_url: https://config.example.org/corp.jsonnet
            pkce: force
            claims_source: userinfo
            scope: [openid, email]
          - id: apple
            provider: apple
            client_id: org.example.app
            apple_team_id: KP76DQS54M
            apple_private_key_id: UX56C66723
            apple_private_key: "` + strings.ReplaceAll(testApplePEM, "\n", `\n`) + `"
            mapper_url: file:///etc/lanyard/apple.jsonnet
          - id: microsoft
            provider: microsoft
            client_id: ms-client
            client_secret: ms-secret
            microsoft_tenant: common
            subject_source: me
            mapper_url: file://ms.jsonnet
  flows:
    login:
      after:
        oidc: {hooks: [{hook: revoke_active_sessions}]}
    registration:
      after:
        oidc: {hooks: [{hook: session}]}
    settings:
      after:
        oidc: {hooks: [{hook: web_hook, config: {url: "https://hooks.example.com/", method: POST}}]}
`

func wantKratosProviders(dir string) []OIDCProvider {
	file := func(p string) string { return "file://" + filepath.ToSlash(filepath.Join(dir, p)) }
	return []OIDCProvider{
		{
			ID: "google", Provider: "google", Label: "Google", ClientID: "google-client.apps.googleusercontent.com",
			ClientSecret: testGoogleSecret, MapperURL: file("oidc.google.jsonnet"), Scope: []string{"email", "profile"},
			RequestedClaims:            map[string]any{"id_token": map[string]any{"email": map[string]any{"essential": true}, "email_verified": nil}},
			AdditionalIDTokenAudiences: []string{"ios-client.apps.googleusercontent.com"},
			PKCE:                       PKCEAuto, ClaimsSource: ClaimsSourceIDToken, SubjectSource: "userinfo", AccountLinkingMode: "confirm_with_existing_credential",
		},
		{
			ID: "github", Provider: "github", ClientID: "gh-client", ClientSecret: "gh-secret",
			MapperURL: "base64://bG9jYWwgY2xhaW1zID0gc3RkLmV4dFZhcignY2xhaW1zJyk7IHt9", Scope: []string{"user:email"},
			PKCE: PKCEAuto, ClaimsSource: ClaimsSourceIDToken, SubjectSource: "userinfo", AccountLinkingMode: "confirm_with_existing_credential",
		},
		{
			ID: "corp", Provider: "generic", ClientID: "corp-client", ClientSecret: "corp-secret",
			IssuerURL: "https://sso.example.com/realms/corp", MapperURL: "https://config.example.org/corp.jsonnet",
			Scope: []string{"openid", "email"}, PKCE: PKCEForce, ClaimsSource: ClaimsSourceUserinfo, SubjectSource: "userinfo",
			AccountLinkingMode: "confirm_with_existing_credential",
		},
		{
			ID: "apple", Provider: "apple", ClientID: "org.example.app", AppleTeamID: "KP76DQS54M", ApplePrivateKeyID: "UX56C66723",
			ApplePrivateKey: testApplePEM, MapperURL: "file:///etc/lanyard/apple.jsonnet",
			PKCE: PKCEAuto, ClaimsSource: ClaimsSourceIDToken, SubjectSource: "userinfo", AccountLinkingMode: "confirm_with_existing_credential",
		},
		{
			ID: "microsoft", Provider: "microsoft", ClientID: "ms-client", ClientSecret: "ms-secret", MicrosoftTenant: "common",
			SubjectSource: "me", MapperURL: file("ms.jsonnet"),
			PKCE: PKCEAuto, ClaimsSource: ClaimsSourceIDToken, AccountLinkingMode: "confirm_with_existing_credential",
		},
	}
}

// TestOIDCDefaults: social sign-in is off, has no providers, and its
// callbacks hang off the public base URL.
func TestOIDCDefaults(t *testing.T) {
	dir := t.TempDir()
	c, w := mustLoad(t, LoadOptions{Files: []string{writeFile(t, dir, "k.yml", prodBase+"serve: {public: {base_url: https://id.example.org/kratos}}\n")}, WorkDir: dir})
	if len(w) != 0 {
		t.Errorf("warnings: %v", w)
	}
	o := c.Selfservice.Methods.OIDC
	if o.Enabled || o.Providers != nil {
		t.Errorf("defaults: %+v", o)
	}
	if got := o.BaseRedirectURI.String(); got != "https://id.example.org/kratos/" {
		t.Errorf("base redirect URI = %s", got)
	}
	fl := c.Selfservice.Flows
	if fl.Login.AfterOIDCHooks != nil || fl.Registration.AfterOIDCHooks != nil || fl.Settings.AfterOIDCHooks != nil {
		t.Error("oidc hook lists default to not configured")
	}
}

// TestOIDCProvidersFromYAML: a Kratos provider list is read field by
// field, relative mapper files resolve against the working directory, and
// nothing is warned while the method stays disabled.
func TestOIDCProvidersFromYAML(t *testing.T) {
	dir := t.TempDir()
	c, w := mustLoad(t, LoadOptions{Files: []string{writeFile(t, dir, "k.yml", prodBase+kratosProviders)}, WorkDir: dir})
	if len(w) != 0 {
		t.Errorf("warnings: %v", w)
	}
	o := c.Selfservice.Methods.OIDC
	if got := o.BaseRedirectURI.String(); got != "https://auth.example.org/" {
		t.Errorf("base redirect URI = %s", got)
	}
	if want := wantKratosProviders(dir); !reflect.DeepEqual(o.Providers, want) {
		t.Errorf("providers:\n%#v\nwant:\n%#v", o.Providers, want)
		for i := range min(len(want), len(o.Providers)) {
			if !reflect.DeepEqual(o.Providers[i], want[i]) {
				t.Errorf("first difference in providers[%d]", i)
				break
			}
		}
	}
	fl := c.Selfservice.Flows
	if len(fl.Login.AfterOIDCHooks) != 1 || fl.Login.AfterOIDCHooks[0].Name != "revoke_active_sessions" ||
		len(fl.Registration.AfterOIDCHooks) != 1 || fl.Registration.AfterOIDCHooks[0].Name != "session" ||
		len(fl.Settings.AfterOIDCHooks) != 1 || fl.Settings.AfterOIDCHooks[0].Config["url"] != "https://hooks.example.com/" {
		t.Errorf("hooks: %+v %+v %+v", fl.Login.AfterOIDCHooks, fl.Registration.AfterOIDCHooks, fl.Settings.AfterOIDCHooks)
	}
	wantRedirects := []string{
		"https://auth.example.org/self-service/methods/oidc/callback/google",
		"https://auth.example.org/self-service/methods/oidc/callback/github",
		"https://auth.example.org/self-service/methods/oidc/callback",
		"https://auth.example.org/self-service/methods/oidc/callback/apple",
		"https://auth.example.org/self-service/methods/oidc/callback/microsoft",
	}
	for i, p := range o.Providers {
		if got := o.RedirectURI(p); got != wantRedirects[i] {
			t.Errorf("redirect URI of %s = %s, want %s", p.ID, got, wantRedirects[i])
		}
	}
	org := OIDCProvider{ID: "okta", OrganizationID: "acme"}
	if got := o.RedirectURI(org); got != "https://auth.example.org/self-service/methods/oidc/organization/acme/callback/okta" {
		t.Errorf("organization redirect URI = %s", got)
	}
}

// TestOIDCProvidersFromEnvironment: the same list as JSON in
// SELFSERVICE_METHODS_OIDC_CONFIG_PROVIDERS replaces the file's.
func TestOIDCProvidersFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	jsonList := `[
	 {"id":"google","provider":"google","label":"Google","client_id":"google-client.apps.googleusercontent.com",
	  "client_secret":"` + testGoogleSecret + `","mapper_url":"file://./oidc.google.jsonnet","scope":["email","profile"],
	  "requested_claims":{"id_token":{"email":{"essential":true},"email_verified":null}},
	  "additional_id_token_audiences":["ios-client.apps.googleusercontent.com"]},
	 {"id":"github","provider":"github","client_id":"gh-client","client_secret":"gh-secret",
	  "mapper_url":"base64://bG9jYWwgY2xhaW1zID0gc3RkLmV4dFZhcignY2xhaW1zJyk7IHt9","scope":["user:email"]},
	 {"id":"corp","provider":"generic","client_id":"corp-client","client_secret":"corp-secret",
	  "issuer_url":"https://sso.example.com/realms/corp","mapper_url":"https://config.example.org/corp.jsonnet",
	  "pkce":"force","claims_source":"userinfo","scope":["openid","email"]},
	 {"id":"apple","provider":"apple","client_id":"org.example.app","apple_team_id":"KP76DQS54M",
	  "apple_private_key_id":"UX56C66723","apple_private_key":` + fmt.Sprintf("%q", testApplePEM) + `,
	  "mapper_url":"file:///etc/lanyard/apple.jsonnet"},
	 {"id":"microsoft","provider":"microsoft","client_id":"ms-client","client_secret":"ms-secret",
	  "microsoft_tenant":"common","subject_source":"me","mapper_url":"file://ms.jsonnet"}
	]`
	file := writeFile(t, dir, "k.yml", prodBase+`
selfservice:
  methods:
    oidc:
      config:
        providers:
          - {id: old, provider: google, client_id: x, client_secret: y, mapper_url: "file:///old.jsonnet"}
`)
	c, w := mustLoad(t, LoadOptions{Files: []string{file}, WorkDir: dir, LookupEnv: env{
		"SELFSERVICE_METHODS_OIDC_ENABLED":                  "true",
		"SELFSERVICE_METHODS_OIDC_CONFIG_PROVIDERS":         jsonList,
		"SELFSERVICE_METHODS_OIDC_CONFIG_BASE_REDIRECT_URI": "https://auth.example.org",
		"SELFSERVICE_FLOWS_REGISTRATION_AFTER_OIDC_HOOKS":   `[{"hook":"session"}]`,
		"SELFSERVICE_FLOWS_LOGIN_AFTER_OIDC_HOOKS":          `[{"hook":"require_verified_address"}]`,
		"SELFSERVICE_FLOWS_SETTINGS_AFTER_OIDC_HOOKS":       `[]`,
	}.lookup})
	o := c.Selfservice.Methods.OIDC
	if !o.Enabled || o.BaseRedirectURI.String() != "https://auth.example.org/" {
		t.Errorf("enabled %t, base %s", o.Enabled, o.BaseRedirectURI)
	}
	if want := wantKratosProviders(dir); !reflect.DeepEqual(o.Providers, want) {
		t.Errorf("providers:\n%#v\nwant:\n%#v", o.Providers, want)
	}
	fl := c.Selfservice.Flows
	if len(fl.Registration.AfterOIDCHooks) != 1 || len(fl.Login.AfterOIDCHooks) != 1 || fl.Settings.AfterOIDCHooks == nil || len(fl.Settings.AfterOIDCHooks) != 0 {
		t.Errorf("hooks: %+v %+v %+v", fl.Login.AfterOIDCHooks, fl.Registration.AfterOIDCHooks, fl.Settings.AfterOIDCHooks)
	}
	if len(w) != 0 {
		t.Errorf("warnings = %v, want none", w)
	}
}

// TestOIDCProviderRefusals: each rule of Kratos's schema refuses the config
// with an error naming the offending field, and no secret is repeated.
func TestOIDCProviderRefusals(t *testing.T) {
	const (
		okGoogle = `{id: google, provider: google, client_id: g, client_secret: s3cr3t-value, mapper_url: "file:///m.jsonnet"}`
		okApple  = `id: apple, provider: apple, client_id: org.example, apple_team_id: T, apple_private_key_id: K, apple_private_key: PRIVATE-KEY-VALUE, mapper_url: "file:///m.jsonnet"`
		okMS     = `id: ms, provider: microsoft, client_id: m, client_secret: s3cr3t-value, microsoft_tenant: common, mapper_url: "file:///m.jsonnet"`
		okBase   = `id: x, provider: generic, client_id: c, client_secret: s3cr3t-value, mapper_url: "file:///m.jsonnet"`
	)
	const p2 = "selfservice.methods.oidc.config.providers[2]."
	cases := []struct {
		name, third, key string
	}{
		{"missing id", `{provider: google, client_id: c, client_secret: s3cr3t-value, mapper_url: "file:///m.jsonnet"}`, p2 + "id"},
		{"missing provider", `{id: x, client_id: c, client_secret: s3cr3t-value, mapper_url: "file:///m.jsonnet"}`, p2 + "provider"},
		{"missing client_id", `{id: x, provider: github, client_secret: s3cr3t-value, mapper_url: "file:///m.jsonnet"}`, p2 + "client_id"},
		{"missing mapper_url", `{id: x, provider: github, client_id: c, client_secret: s3cr3t-value}`, p2 + "mapper_url"},
		{"unknown preset", `{` + strings.Replace(okBase, "generic", "myspace", 1) + `}`, p2 + "provider"},
		{"jackson", `{` + strings.Replace(okBase, "generic", "jackson", 1) + `}`, p2 + "provider"},
		{"missing client_secret", `{id: x, provider: gitlab, client_id: c, mapper_url: "file:///m.jsonnet"}`, p2 + "client_secret"},
		{"apple with client_secret", `{` + okApple + `, client_secret: s3cr3t-value}`, p2 + "client_secret"},
		{"apple without team id", `{` + strings.Replace(okApple, "apple_team_id: T, ", "", 1) + `}`, p2 + "apple_team_id"},
		{"apple without key id", `{` + strings.Replace(okApple, "apple_private_key_id: K, ", "", 1) + `}`, p2 + "apple_private_key_id"},
		{"apple without key", `{` + strings.Replace(okApple, "apple_private_key: PRIVATE-KEY-VALUE, ", "", 1) + `}`, p2 + "apple_private_key"},
		{"apple key on google", `{` + okBase + `, apple_private_key: PRIVATE-KEY-VALUE}`, p2 + "apple_private_key"},
		{"microsoft without tenant", `{` + strings.Replace(okMS, "microsoft_tenant: common, ", "", 1) + `}`, p2 + "microsoft_tenant"},
		{"tenant on generic", `{` + okBase + `, microsoft_tenant: common}`, p2 + "microsoft_tenant"},
		{"duplicate id", okGoogle, p2 + "id"},
		{"mapper scheme", `{` + strings.Replace(okBase, "file:///m.jsonnet", "ftp://example.org/m.jsonnet", 1) + `}`, p2 + "mapper_url"},
		{"mapper without scheme", `{` + strings.Replace(okBase, "file:///m.jsonnet", "m.jsonnet", 1) + `}`, p2 + "mapper_url"},
		{"pkce", `{` + okBase + `, pkce: sometimes}`, p2 + "pkce"},
		{"claims_source", `{` + okBase + `, claims_source: access_token}`, p2 + "claims_source"},
		{"subject_source", `{` + okMS + `, subject_source: graph}`, p2 + "subject_source"},
		{"account_linking_mode", `{` + okBase + `, account_linking_mode: always}`, p2 + "account_linking_mode"},
		{"issuer_url", `{` + okBase + `, issuer_url: "not a url"}`, p2 + "issuer_url"},
		{"scope", `{` + okBase + `, scope: openid}`, p2 + "scope"},
		{"audiences", `{` + okBase + `, additional_id_token_audiences: [1]}`, p2 + "additional_id_token_audiences"},
		{"requested_claims", `{` + okBase + `, requested_claims: {id_token: {email: {essential: maybe}}}}`, p2 + "requested_claims"},
		{"client_id type", `{id: x, provider: github, client_id: 7, client_secret: s3cr3t-value, mapper_url: "file:///m.jsonnet"}`, p2 + "client_id"},
		{"item not an object", `just-a-string`, "selfservice.methods.oidc.config.providers"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			yml := prodBase + "selfservice: {methods: {oidc: {config: {providers: [" + okGoogle + ", {" + okApple + "}, " + tc.third + "]}}}}\n"
			_, _, err := load(t, LoadOptions{Files: []string{writeFile(t, dir, "k.yml", yml)}, WorkDir: dir})
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), `config key "`+tc.key+`"`) {
				t.Errorf("error does not name %s: %v", tc.key, err)
			}
			for _, secret := range []string{"s3cr3t-value", "PRIVATE-KEY-VALUE"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error repeats a secret: %v", err)
				}
			}
		})
	}

	// From the environment the error names the variable and the field.
	dir := t.TempDir()
	_, _, err := load(t, LoadOptions{Files: []string{writeFile(t, dir, "k.yml", prodBase)}, WorkDir: dir, LookupEnv: env{
		"SELFSERVICE_METHODS_OIDC_CONFIG_PROVIDERS": `[{"id":"g","provider":"google","client_id":"c","mapper_url":"file:///m.jsonnet"}]`,
	}.lookup})
	if err == nil || !strings.Contains(err.Error(), "SELFSERVICE_METHODS_OIDC_CONFIG_PROVIDERS") ||
		!strings.Contains(err.Error(), `"selfservice.methods.oidc.config.providers[0].client_secret"`) {
		t.Errorf("environment error: %v", err)
	}
}

// TestOIDCProviderUnknownFieldWarns: a field Lanyard does not know is named
// in a warning rather than silently dropped.
func TestOIDCProviderUnknownFieldWarns(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "k.yml", prodBase+`selfservice: {methods: {oidc: {config: {providers: [{id: g, provider: google, client_id: c, client_secret: s, mapper_url: "file:///m.jsonnet", favourite_colour: blue}]}}}}`+"\n")
	_, w := mustLoad(t, LoadOptions{Files: []string{f}, WorkDir: dir})
	want := []string{unsupportedWarning("selfservice.methods.oidc.config.providers[0].favourite_colour")}
	if !slices.Equal(w, want) {
		t.Errorf("warnings = %v, want %v", w, want)
	}
}

// TestOIDCProviderStringHidesSecrets: printing a config never shows a
// client secret or an Apple private key.
func TestOIDCProviderStringHidesSecrets(t *testing.T) {
	p := OIDCProvider{ID: "g", ClientSecret: testGoogleSecret, ApplePrivateKey: testApplePEM}
	o := OIDCMethod{Providers: []OIDCProvider{p}}
	for _, s := range []string{fmt.Sprint(p), fmt.Sprintf("%+v", o), fmt.Sprintf("%#v", o)} {
		if strings.Contains(s, testGoogleSecret) || strings.Contains(s, "PRIVATE KEY") {
			t.Errorf("secret printed: %s", s)
		}
	}
}
