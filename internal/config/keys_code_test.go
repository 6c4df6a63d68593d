package config

import (
	"slices"
	"strings"
	"testing"
)

// TestOneTimeCodeKeys: the keys of passwordless and second-factor codes,
// the flow styles and the enumeration switch, with Kratos's defaults, read
// from files and the environment, and no warnings about any of them.
func TestOneTimeCodeKeys(t *testing.T) {
	dir := t.TempDir()
	c, w := mustLoad(t, LoadOptions{Files: []string{writeFile(t, dir, "k.yml", prodBase)}, WorkDir: dir})
	if len(w) != 0 {
		t.Errorf("warnings: %v", w)
	}
	code := c.Selfservice.Methods.Code
	if !code.Enabled || code.PasswordlessEnabled || code.MFAEnabled || code.MissingCredentialFallback || code.MaxSubmissions != 5 {
		t.Errorf("code defaults: %+v", code)
	}
	login, reg := c.Selfservice.Flows.Login, c.Selfservice.Flows.Registration
	if login.Style != LoginStyleUnified || reg.Style != RegistrationStyleProfileFirst || reg.OneStep() {
		t.Errorf("style defaults: login %q, registration %q, one step %t", login.Style, reg.Style, reg.OneStep())
	}
	if login.AfterCodeHooks != nil || login.AfterTOTPHooks != nil || login.AfterLookupSecretHooks != nil || reg.AfterCodeHooks != nil {
		t.Errorf("hook lists default to not configured: %+v %+v", login, reg)
	}
	if c.Security.AccountEnumerationMitigate {
		t.Error("security.account_enumeration.mitigate defaults to true")
	}

	f := writeFile(t, dir, "on.yml", prodBase+`
security:
  account_enumeration:
    mitigate: true
selfservice:
  methods:
    code:
      passwordless_enabled: true
      config:
        max_submissions: 255
        missing_credential_fallback_enabled: true
  flows:
    login:
      style: identifier_first
      after:
        code:
          hooks:
            - hook: require_verified_address
        totp:
          hooks:
            - hook: revoke_active_sessions
        lookup_secret:
          hooks:
            - hook: web_hook
              config: {url: "https://hooks.example.com/", method: POST}
    registration:
      style: unified
      after:
        code:
          hooks:
            - hook: session
            - hook: show_verification_ui
`)
	c, w = mustLoad(t, LoadOptions{Files: []string{f}, WorkDir: dir})
	if len(w) != 0 {
		t.Errorf("the keys are warned about as unsupported: %v", w)
	}
	code = c.Selfservice.Methods.Code
	if !code.PasswordlessEnabled || code.MFAEnabled || !code.MissingCredentialFallback || code.MaxSubmissions != 255 {
		t.Errorf("code from the file: %+v", code)
	}
	login, reg = c.Selfservice.Flows.Login, c.Selfservice.Flows.Registration
	if login.Style != LoginStyleIdentifierFirst || reg.Style != RegistrationStyleUnified || !reg.OneStep() {
		t.Errorf("styles from the file: login %q, registration %q", login.Style, reg.Style)
	}
	names := func(hs []Hook) string {
		var out []string
		for _, h := range hs {
			out = append(out, h.Name)
		}
		return strings.Join(out, ",")
	}
	for what, got := range map[string]string{
		"login.after.code":          names(login.AfterCodeHooks),
		"login.after.totp":          names(login.AfterTOTPHooks),
		"login.after.lookup_secret": names(login.AfterLookupSecretHooks),
		"registration.after.code":   names(reg.AfterCodeHooks),
	} {
		want := map[string]string{
			"login.after.code":          "require_verified_address",
			"login.after.totp":          "revoke_active_sessions",
			"login.after.lookup_secret": "web_hook",
			"registration.after.code":   "session,show_verification_ui",
		}[what]
		if got != want {
			t.Errorf("%s hooks = %q, want %q", what, got, want)
		}
	}
	if h := login.AfterLookupSecretHooks; len(h) != 1 || h[0].Config["url"] != "https://hooks.example.com/" {
		t.Errorf("a hook's config is lost: %+v", h)
	}
	if login.AfterPasswordHooks != nil || login.AfterHooks != nil || reg.AfterPasswordHooks != nil {
		t.Error("a method's hooks leaked into another list")
	}
	if !c.Security.AccountEnumerationMitigate {
		t.Error("security.account_enumeration.mitigate: true is not read")
	}

	c, _ = mustLoad(t, LoadOptions{Files: []string{f}, WorkDir: dir, LookupEnv: env{
		"SELFSERVICE_METHODS_CODE_PASSWORDLESS_ENABLED":                       "false",
		"SELFSERVICE_METHODS_CODE_MFA_ENABLED":                                "true",
		"SELFSERVICE_METHODS_CODE_CONFIG_MISSING_CREDENTIAL_FALLBACK_ENABLED": "false",
		"SELFSERVICE_METHODS_CODE_CONFIG_MAX_SUBMISSIONS":                     "1",
		"SELFSERVICE_FLOWS_LOGIN_STYLE":                                       "unified",
		"SELFSERVICE_FLOWS_REGISTRATION_STYLE":                                "profile_first",
		"SELFSERVICE_FLOWS_LOGIN_AFTER_TOTP_HOOKS":                            `[{"hook":"require_verified_address"}]`,
		"SELFSERVICE_FLOWS_REGISTRATION_AFTER_CODE_HOOKS":                     `[{"hook":"session"}]`,
		"SECURITY_ACCOUNT_ENUMERATION_MITIGATE":                               "false",
	}.lookup})
	code = c.Selfservice.Methods.Code
	if code.PasswordlessEnabled || !code.MFAEnabled || code.MissingCredentialFallback || code.MaxSubmissions != 1 {
		t.Errorf("code from the environment: %+v", code)
	}
	login, reg = c.Selfservice.Flows.Login, c.Selfservice.Flows.Registration
	if login.Style != LoginStyleUnified || reg.Style != RegistrationStyleProfileFirst || reg.OneStep() {
		t.Errorf("styles from the environment: %q %q", login.Style, reg.Style)
	}
	if names(login.AfterTOTPHooks) != "require_verified_address" || names(reg.AfterCodeHooks) != "session" || names(login.AfterCodeHooks) != "require_verified_address" {
		t.Errorf("hooks from the environment: totp %q, registration code %q, login code %q", names(login.AfterTOTPHooks), names(reg.AfterCodeHooks), names(login.AfterCodeHooks))
	}
	if c.Security.AccountEnumerationMitigate {
		t.Error("SECURITY_ACCOUNT_ENUMERATION_MITIGATE does not override the file")
	}
}

// TestPasswordlessAndMFACodesExcludeEachOther: Kratos's schema refuses
// both, and the error names both keys, from a file or the environment.
func TestPasswordlessAndMFACodesExcludeEachOther(t *testing.T) {
	dir := t.TempDir()
	both := writeFile(t, dir, "both.yml", prodBase+`
selfservice: {methods: {code: {passwordless_enabled: true, mfa_enabled: true}}}
`)
	mfa := writeFile(t, dir, "mfa.yml", prodBase+`
selfservice: {methods: {code: {mfa_enabled: true}}}
`)
	for name, opts := range map[string]LoadOptions{
		"file":        {Files: []string{both}},
		"environment": {Files: []string{mfa}, LookupEnv: env{"SELFSERVICE_METHODS_CODE_PASSWORDLESS_ENABLED": "true"}.lookup},
		"dev mode":    {Files: []string{both}, Dev: true},
	} {
		opts.WorkDir = dir
		_, _, err := load(t, opts)
		if err == nil || !strings.Contains(err.Error(), `"selfservice.methods.code.passwordless_enabled"`) || !strings.Contains(err.Error(), `"selfservice.methods.code.mfa_enabled"`) {
			t.Errorf("%s: both on gives %v; want an error naming both keys", name, err)
		}
	}
	c, _ := mustLoad(t, LoadOptions{Files: []string{mfa}, WorkDir: dir})
	if code := c.Selfservice.Methods.Code; !code.MFAEnabled || code.PasswordlessEnabled {
		t.Errorf("mfa alone: %+v", code)
	}
}

// TestPasswordlessForcesTheCodeMethodOn: as in Kratos, passwordless_enabled
// turns the code method on even when enabled says false.
func TestPasswordlessForcesTheCodeMethodOn(t *testing.T) {
	dir := t.TempDir()
	c, _ := mustLoad(t, LoadOptions{Files: []string{writeFile(t, dir, "k.yml", prodBase+`
selfservice: {methods: {code: {enabled: false, passwordless_enabled: true}}}
`)}, WorkDir: dir})
	if !c.Selfservice.Methods.Code.Enabled {
		t.Error("passwordless_enabled: true leaves the code method off")
	}
	c, _ = mustLoad(t, LoadOptions{Files: []string{writeFile(t, dir, "off.yml", prodBase+`
selfservice: {methods: {code: {enabled: false, mfa_enabled: true}}}
`)}, WorkDir: dir})
	if c.Selfservice.Methods.Code.Enabled {
		t.Error("mfa_enabled turns a disabled code method on; Kratos only does so for passwordless_enabled")
	}
}

func TestOneTimeCodeKeysRejectBadValues(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ key, yaml, want string }{
		{"selfservice.methods.code.config.max_submissions", "selfservice: {methods: {code: {config: {max_submissions: 0}}}}", "out of range (1 to 255)"},
		{"selfservice.methods.code.config.max_submissions", "selfservice: {methods: {code: {config: {max_submissions: 256}}}}", "out of range (1 to 255)"},
		{"selfservice.methods.code.passwordless_enabled", "selfservice: {methods: {code: {passwordless_enabled: sometimes}}}", ""},
		{"selfservice.methods.code.mfa_enabled", "selfservice: {methods: {code: {mfa_enabled: 1}}}", ""},
		{"selfservice.methods.code.config.missing_credential_fallback_enabled", "selfservice: {methods: {code: {config: {missing_credential_fallback_enabled: [true]}}}}", ""},
		{"selfservice.flows.login.style", "selfservice: {flows: {login: {style: profile_first}}}", `"profile_first" is not one of unified, identifier_first`},
		{"selfservice.flows.registration.style", "selfservice: {flows: {registration: {style: identifier_first}}}", `"identifier_first" is not one of profile_first, unified`},
		{"security.account_enumeration.mitigate", "security: {account_enumeration: {mitigate: maybe}}", ""},
		{"selfservice.flows.login.after.code.hooks", "selfservice: {flows: {login: {after: {code: {hooks: [{config: {}}]}}}}}", "must name a hook"},
		{"selfservice.flows.login.after.totp.hooks", "selfservice: {flows: {login: {after: {totp: {hooks: session}}}}}", "expected a list of objects"},
		{"selfservice.flows.registration.after.code.hooks", "selfservice: {flows: {registration: {after: {code: {hooks: [session]}}}}}", "expected an object"},
	} {
		_, _, err := load(t, LoadOptions{Files: []string{writeFile(t, dir, "bad.yml", prodBase+tc.yaml)}, WorkDir: dir})
		if err == nil || !strings.Contains(err.Error(), `"`+tc.key+`"`) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %s gives %v; want an error naming the key (%q)", tc.key, tc.yaml, err, tc.want)
		}
	}
	_, _, err := load(t, LoadOptions{Files: []string{writeFile(t, dir, "k.yml", prodBase)}, WorkDir: dir,
		LookupEnv: env{"SELFSERVICE_FLOWS_LOGIN_STYLE": "two_step"}.lookup})
	if err == nil || !strings.Contains(err.Error(), "SELFSERVICE_FLOWS_LOGIN_STYLE") {
		t.Errorf("a bad style from the environment: %v", err)
	}
}

// TestRegistrationOneStep: the deprecated enable_legacy_one_step wins over
// the style, as in Kratos.
func TestRegistrationOneStep(t *testing.T) {
	for _, tc := range []struct {
		style  string
		legacy bool
		want   bool
	}{
		{RegistrationStyleProfileFirst, false, false},
		{RegistrationStyleProfileFirst, true, true},
		{RegistrationStyleUnified, false, true},
		{RegistrationStyleUnified, true, true},
	} {
		if got := (RegistrationFlow{Style: tc.style, LegacyOneStep: tc.legacy}).OneStep(); got != tc.want {
			t.Errorf("style %s, legacy %t: one step %t, want %t", tc.style, tc.legacy, got, tc.want)
		}
	}
}

// TestHooksOfOtherMethodsStillWarn: supporting the hook lists of methods
// does not quiet the keys beside them Lanyard lacks.
func TestHooksOfOtherMethodsStillWarn(t *testing.T) {
	dir := t.TempDir()
	_, w := mustLoad(t, LoadOptions{Files: []string{writeFile(t, dir, "k.yml", prodBase+`
selfservice:
  flows:
    login:
      after:
        code: {hooks: [{hook: revoke_active_sessions}], default_browser_return_url: "https://app.example.com/"}
        oidc: {hooks: [{hook: revoke_active_sessions}]}
    registration:
      after:
        code: {hooks: [{hook: session}]}
        oidc: {hooks: [{hook: session}]}
`)}, WorkDir: dir})
	want := []string{
		`config key "selfservice.flows.login.after.code.default_browser_return_url" is not supported by Lanyard yet and is ignored`,
	}
	if !slices.Equal(w, want) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(w, "\n"), strings.Join(want, "\n"))
	}
}

// TestCourierTemplatesOfCodes: the sign-in and sign-up code templates are
// overridable part by part like the others; they have no invalid variant,
// so such keys are warned about rather than taken and never used.
func TestCourierTemplatesOfCodes(t *testing.T) {
	dir := t.TempDir()
	b64 := "base64://e3sgLkxvZ2luQ29kZSB9fQ=="
	c, w := mustLoad(t, LoadOptions{Files: []string{writeFile(t, dir, "k.yml", prodBase+`
courier:
  templates:
    login_code:
      valid:
        email:
          subject: `+b64+`
          body: {html: file://./login.html.gotmpl, plaintext: file:///abs/login.txt.gotmpl}
        sms: {body: {plaintext: https://templates.example.com/login-sms.gotmpl}}
      invalid:
        email: {subject: `+b64+`}
    registration_code:
      valid:
        email:
          subject: `+b64+`
          body: {html: `+b64+`, plaintext: `+b64+`}
        sms: {body: {plaintext: `+b64+`}}
`)}, WorkDir: dir})
	want := map[string]string{
		"login_code.valid.email.subject":               b64,
		"login_code.valid.email.body.html":             "file://" + dir + "/login.html.gotmpl",
		"login_code.valid.email.body.plaintext":        "file:///abs/login.txt.gotmpl",
		"login_code.valid.sms.body.plaintext":          "https://templates.example.com/login-sms.gotmpl",
		"registration_code.valid.email.subject":        b64,
		"registration_code.valid.email.body.html":      b64,
		"registration_code.valid.email.body.plaintext": b64,
		"registration_code.valid.sms.body.plaintext":   b64,
	}
	if len(c.Courier.Templates) != len(want) {
		t.Errorf("templates %v, want %v", c.Courier.Templates, want)
	}
	for k, v := range want {
		if c.Courier.Templates[k] != v {
			t.Errorf("%s = %q, want %q", k, c.Courier.Templates[k], v)
		}
	}
	if len(w) != 1 || !strings.Contains(w[0], `"courier.templates.login_code.invalid.email.subject"`) {
		t.Errorf("warnings %v, want one about login_code.invalid", w)
	}
}
