package config

import "time"

// flowKeys are the keys of recovery, verification, the code and link
// methods and the per-method login hooks.
var flowKeys = []keySpec{
	field("selfservice.flows.recovery.enabled", boolean, false, func(c *Config) *bool { return &c.Selfservice.Flows.Recovery.Enabled }),
	field("selfservice.flows.recovery.ui_url", urlText, "", func(c *Config) *string { return &c.Selfservice.Flows.Recovery.UIURL }),
	field("selfservice.flows.recovery.lifespan", duration, time.Hour, func(c *Config) *time.Duration { return &c.Selfservice.Flows.Recovery.Lifespan }),
	field("selfservice.flows.recovery.use", enum("code", "link"), "code", func(c *Config) *string { return &c.Selfservice.Flows.Recovery.Use }),
	field("selfservice.flows.recovery.notify_unknown_recipients", boolean, false, func(c *Config) *bool { return &c.Selfservice.Flows.Recovery.NotifyUnknownRecipients }),
	field("selfservice.flows.recovery.after.default_browser_return_url", urlText, "", func(c *Config) *string { return &c.Selfservice.Flows.Recovery.AfterReturnURL }),
	field("selfservice.flows.recovery.after.hooks", hookList, nil, func(c *Config) *[]Hook { return &c.Selfservice.Flows.Recovery.AfterHooks }),

	field("selfservice.flows.verification.enabled", boolean, false, func(c *Config) *bool { return &c.Selfservice.Flows.Verification.Enabled }),
	field("selfservice.flows.verification.ui_url", urlText, "", func(c *Config) *string { return &c.Selfservice.Flows.Verification.UIURL }),
	field("selfservice.flows.verification.lifespan", duration, time.Hour, func(c *Config) *time.Duration { return &c.Selfservice.Flows.Verification.Lifespan }),
	field("selfservice.flows.verification.use", enum("code", "link"), "code", func(c *Config) *string { return &c.Selfservice.Flows.Verification.Use }),
	field("selfservice.flows.verification.notify_unknown_recipients", boolean, false, func(c *Config) *bool { return &c.Selfservice.Flows.Verification.NotifyUnknownRecipients }),
	field("selfservice.flows.verification.after.default_browser_return_url", urlText, "", func(c *Config) *string { return &c.Selfservice.Flows.Verification.AfterReturnURL }),
	field("selfservice.flows.verification.after.hooks", hookList, nil, func(c *Config) *[]Hook { return &c.Selfservice.Flows.Verification.AfterHooks }),

	field("selfservice.flows.login.after.hooks", hookList, nil, func(c *Config) *[]Hook { return &c.Selfservice.Flows.Login.AfterHooks }),
	field("selfservice.flows.login.after.password.hooks", hookList, nil, func(c *Config) *[]Hook { return &c.Selfservice.Flows.Login.AfterPasswordHooks }),
	field("selfservice.flows.login.after.code.hooks", hookList, nil, func(c *Config) *[]Hook { return &c.Selfservice.Flows.Login.AfterCodeHooks }),
	field("selfservice.flows.login.after.totp.hooks", hookList, nil, func(c *Config) *[]Hook { return &c.Selfservice.Flows.Login.AfterTOTPHooks }),
	field("selfservice.flows.login.after.lookup_secret.hooks", hookList, nil, func(c *Config) *[]Hook { return &c.Selfservice.Flows.Login.AfterLookupSecretHooks }),

	field("selfservice.methods.code.enabled", boolean, true, func(c *Config) *bool { return &c.Selfservice.Methods.Code.Enabled }),
	field("selfservice.methods.code.config.lifespan", duration, time.Hour, func(c *Config) *time.Duration { return &c.Selfservice.Methods.Code.Lifespan }),
	field("selfservice.methods.code.passwordless_enabled", boolean, false, func(c *Config) *bool { return &c.Selfservice.Methods.Code.PasswordlessEnabled }),
	field("selfservice.methods.code.mfa_enabled", boolean, false, func(c *Config) *bool { return &c.Selfservice.Methods.Code.MFAEnabled }),
	field("selfservice.methods.code.config.max_submissions", integer[int](1, 255), 5, func(c *Config) *int { return &c.Selfservice.Methods.Code.MaxSubmissions }),
	field("selfservice.methods.code.config.missing_credential_fallback_enabled", boolean, false, func(c *Config) *bool { return &c.Selfservice.Methods.Code.MissingCredentialFallback }),
	field("selfservice.methods.link.enabled", boolean, true, func(c *Config) *bool { return &c.Selfservice.Methods.Link.Enabled }),
	field("selfservice.methods.link.config.lifespan", duration, time.Hour, func(c *Config) *time.Duration { return &c.Selfservice.Methods.Link.Lifespan }),
	field("selfservice.methods.link.config.base_url", urlText, "", func(c *Config) *string { return &c.Selfservice.Methods.Link.BaseURL }),

	field("feature_flags.use_continue_with_transitions", boolean, false, func(c *Config) *bool { return &c.FeatureFlags.UseContinueWithTransitions }),
	field("feature_flags.legacy_require_verified_login_error", boolean, false, func(c *Config) *bool { return &c.FeatureFlags.LegacyRequireVerifiedLoginError }),
}
