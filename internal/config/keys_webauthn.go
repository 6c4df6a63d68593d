package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// WebAuthnMethod is selfservice.methods.webauthn: security keys as a
// second factor or, with Passwordless, as a first factor.
type WebAuthnMethod struct {
	Enabled      bool
	Passwordless bool
	RelyingParty
}

// PasskeyMethod is selfservice.methods.passkey: discoverable credentials
// for sign-up and sign-in.
type PasskeyMethod struct {
	Enabled bool
	RelyingParty
}

// RelyingParty is a method's config.rp.
type RelyingParty struct {
	RPID          string
	RPDisplayName string
	// Origins are the page origins ceremonies may come from (webauthn's
	// deprecated single origin is folded in). Empty means the default
	// ["<public scheme>://<RPID>"], which the relying party applies.
	Origins []string
	// origin is webauthn's config.rp.origin before it is folded in.
	origin string
}

// webAuthnKeys are the keys of the webauthn and passkey methods and their
// hook lists.
var webAuthnKeys = []keySpec{
	field("selfservice.methods.webauthn.enabled", boolean, false, func(c *Config) *bool { return &c.Selfservice.Methods.WebAuthn.Enabled }),
	field("selfservice.methods.webauthn.config.passwordless", boolean, false, func(c *Config) *bool { return &c.Selfservice.Methods.WebAuthn.Passwordless }),
	field("selfservice.methods.webauthn.config.rp.id", text, "", func(c *Config) *string { return &c.Selfservice.Methods.WebAuthn.RPID }),
	field("selfservice.methods.webauthn.config.rp.display_name", text, "", func(c *Config) *string { return &c.Selfservice.Methods.WebAuthn.RPDisplayName }),
	field("selfservice.methods.webauthn.config.rp.origin", webOrigin, "", func(c *Config) *string { return &c.Selfservice.Methods.WebAuthn.origin }),
	field("selfservice.methods.webauthn.config.rp.origins", webOrigins, nil, func(c *Config) *[]string { return &c.Selfservice.Methods.WebAuthn.Origins }),
	// Deprecated in Kratos and unused by browsers.
	ignored("selfservice.methods.webauthn.config.rp.icon"),

	field("selfservice.methods.passkey.enabled", boolean, false, func(c *Config) *bool { return &c.Selfservice.Methods.Passkey.Enabled }),
	field("selfservice.methods.passkey.config.rp.id", text, "", func(c *Config) *string { return &c.Selfservice.Methods.Passkey.RPID }),
	field("selfservice.methods.passkey.config.rp.display_name", text, "", func(c *Config) *string { return &c.Selfservice.Methods.Passkey.RPDisplayName }),
	field("selfservice.methods.passkey.config.rp.origins", webOrigins, nil, func(c *Config) *[]string { return &c.Selfservice.Methods.Passkey.Origins }),

	field("selfservice.flows.login.after.webauthn.hooks", hookList, nil, func(c *Config) *[]Hook { return &c.Selfservice.Flows.Login.AfterWebAuthnHooks }),
	field("selfservice.flows.login.after.passkey.hooks", hookList, nil, func(c *Config) *[]Hook { return &c.Selfservice.Flows.Login.AfterPasskeyHooks }),
	field("selfservice.flows.registration.after.webauthn.hooks", hookList, nil, func(c *Config) *[]Hook { return &c.Selfservice.Flows.Registration.AfterWebAuthnHooks }),
	field("selfservice.flows.registration.after.passkey.hooks", hookList, nil, func(c *Config) *[]Hook { return &c.Selfservice.Flows.Registration.AfterPasskeyHooks }),
	field("selfservice.flows.settings.after.webauthn.hooks", hookList, nil, func(c *Config) *[]Hook { return &c.Selfservice.Flows.Settings.AfterWebAuthnHooks }),
	field("selfservice.flows.settings.after.passkey.hooks", hookList, nil, func(c *Config) *[]Hook { return &c.Selfservice.Flows.Settings.AfterPasskeyHooks }),
}

// webOrigin is a page origin as browsers report it in client data: a URL
// with a scheme, e.g. https://example.org or android:apk-key-hash:....
var webOrigin = then(text, func(s string, d *decodeCtx) (string, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || (u.Host == "" && u.Opaque == "") {
		return "", d.errorf("%s is not an origin (e.g. https://example.org)", quoteShort(s))
	}
	return s, nil
})

var webOrigins = then(stringList, func(ss []string, d *decodeCtx) ([]string, error) {
	for i, s := range ss {
		if _, err := webOrigin.fromYAML(s, d); err != nil {
			return nil, d.errorf("item %d: %s is not an origin (e.g. https://example.org)", i, quoteShort(s))
		}
	}
	return ss, nil
})

// finalizeWebAuthn folds webauthn's single origin into its list and, as
// Kratos's schema does, requires the relying party of an enabled method.
func (l *loader) finalizeWebAuthn(c *Config) {
	wa := &c.Selfservice.Methods.WebAuthn
	const waRP = "selfservice.methods.webauthn.config.rp."
	if wa.origin != "" && len(wa.Origins) > 0 {
		l.fail(errors.New(`config keys "` + waRP + `origin" and "` + waRP + `origins": set at most one (origin is the deprecated single form)`))
	}
	if wa.origin != "" {
		wa.Origins = []string{wa.origin}
	}
	l.checkRelyingParty("webauthn", wa.Enabled, wa.RelyingParty)
	l.checkRelyingParty("passkey", c.Selfservice.Methods.Passkey.Enabled, c.Selfservice.Methods.Passkey.RelyingParty)
}

func (l *loader) checkRelyingParty(method string, enabled bool, rp RelyingParty) {
	if !enabled {
		return
	}
	prefix := "selfservice.methods." + method + ".config.rp."
	for _, k := range []struct{ name, value string }{{"id", rp.RPID}, {"display_name", rp.RPDisplayName}} {
		if k.value == "" && !l.invalid[prefix+k.name] {
			l.fail(fmt.Errorf("config key %q: required when selfservice.methods.%s.enabled is true", prefix+k.name, method))
		}
	}
	// Kratos starts with any id and leaves the browser to refuse it; so
	// does Lanyard, but it says so.
	if reason := rpIDProblem(rp.RPID); rp.RPID != "" && reason != "" {
		l.warn(fmt.Sprintf("config key %q: %s %s, so %s ceremonies will fail", prefix+"id", quoteShort(rp.RPID), reason, method))
	}
}

// rpIDProblem says why s cannot be a relying party id, which WebAuthn
// defines as a domain: no scheme, port or path, and not an IP address.
func rpIDProblem(s string) string {
	switch {
	case strings.Contains(s, "://"):
		return "is a URL; the relying party id is a domain such as example.org"
	case strings.ContainsAny(s, ":/?# "):
		return "is not a domain (no port, path or spaces; e.g. example.org)"
	case net.ParseIP(s) != nil:
		return "is an IP address; WebAuthn needs a domain (e.g. localhost or example.org)"
	}
	return ""
}
