package identity

import "encoding/json"

// Authenticator assurance levels, weakest first. As strings they sort in
// the same order, which Kratos relies on too.
const (
	AAL0 = "aal0" // nothing proved
	AAL1 = "aal1" // one factor
	AAL2 = "aal2" // a second factor as well
)

// FactorRules are the server settings that decide whether some
// credentials count as factors. The zero value is Kratos's default.
type FactorRules struct {
	// CodePasswordless (selfservice.methods.code.passwordless_enabled)
	// gives every identity a first factor: a code to its address.
	CodePasswordless bool
	// CodeMFA (selfservice.methods.code.mfa_enabled) makes each address of
	// a code credential a second factor.
	CodeMFA bool
	// PasswordMigrationHook (selfservice.methods.password.config.migrate_hook.enabled)
	// counts imported passwords that the hook still has to check.
	PasswordMigrationHook bool
}

// AvailableAAL is the highest assurance level identity i can reach with
// the credentials it has: aal2 with any second factor (even without a
// first one, as in Kratos), aal1 with a first factor, else aal0. Every
// credential counts, whether its method is enabled or not, so that turning
// a method off does not quietly lower what an identity must prove.
func (r FactorRules) AvailableAAL(i *Identity) string {
	switch {
	case r.HasSecondFactor(i):
		return AAL2
	case r.hasFirstFactor(i):
		return AAL1
	}
	return AAL0
}

// HasSecondFactor reports whether AvailableAAL(i) is aal2. It is what the
// session checks ask on every whoami, so identities without a second-factor
// credential are answered without decoding any config.
func (r FactorRules) HasSecondFactor(i *Identity) bool {
	for typ, c := range i.Credentials {
		switch typ {
		case CredentialsTOTP:
			if hasNonEmptyString(c.Config) {
				return true
			}
		case CredentialsLookupSecret:
			var cfg struct {
				Codes []json.RawMessage `json:"recovery_codes"`
			}
			// Used codes still count: the identity set the factor up.
			if json.Unmarshal(c.Config, &cfg) == nil && len(cfg.Codes) > 0 {
				return true
			}
		case CredentialsWebAuthn:
			for _, k := range keysOf(c) {
				if !k.Passwordless {
					return true
				}
			}
		case CredentialsCode:
			if r.CodeMFA && codeAddresses(c) > 0 {
				return true
			}
		}
	}
	return false
}

func (r FactorRules) hasFirstFactor(i *Identity) bool { return r.FirstFactors(i) > 0 }

// FirstFactors counts i's first factors as Kratos counts them when it
// decides whether one may be removed (a key, a passkey, a social sign-in):
// a password, each linked social sign-in, each passkey and each
// passwordless key count once, and passwordless codes once for everybody.
func (r FactorRules) FirstFactors(i *Identity) int {
	n := 0
	if r.CodePasswordless {
		n++
	}
	for typ, c := range i.Credentials {
		switch typ {
		case CredentialsPassword:
			var cfg PasswordConfig
			if len(c.Identifiers) > 0 && json.Unmarshal(c.Config, &cfg) == nil &&
				(cfg.HashedPassword != "" || r.PasswordMigrationHook && cfg.UsePasswordMigrationHook) {
				n++
			}
		case CredentialsOIDC:
			n += oidcLinks(c)
		case CredentialsPasskey:
			if len(c.Identifiers) > 0 {
				n += len(keysOf(c))
			}
		case CredentialsWebAuthn:
			if len(c.Identifiers) == 0 {
				continue
			}
			for _, k := range keysOf(c) {
				if k.Passwordless {
					n++
				}
			}
		}
	}
	return n
}

// securityKey is the part of a stored WebAuthn or passkey key that decides
// which factor it is.
type securityKey struct {
	Passwordless bool `json:"is_passwordless"`
}

func keysOf(c *Credential) []securityKey {
	var cfg struct {
		Credentials []securityKey `json:"credentials"`
	}
	_ = json.Unmarshal(c.Config, &cfg)
	return cfg.Credentials
}

// codeAddresses counts the addresses a code credential sends to; the
// older shape named one address type instead of a list.
func codeAddresses(c *Credential) int {
	var cfg struct {
		Addresses []struct {
			Address string `json:"address"`
		} `json:"addresses"`
		AddressType string `json:"address_type"`
	}
	if json.Unmarshal(c.Config, &cfg) != nil {
		return 0
	}
	n := 0
	for _, a := range cfg.Addresses {
		if a.Address != "" {
			n++
		}
	}
	if n == 0 && cfg.AddressType != "" {
		return 1
	}
	return n
}

// oidcLinks counts the identifiers of a social sign-in credential
// ("provider:subject") that belong to one of its providers outside an
// organization.
func oidcLinks(c *Credential) int {
	var cfg struct {
		Providers []struct {
			Subject      string  `json:"subject"`
			Provider     string  `json:"provider"`
			Organization *string `json:"organization"`
		} `json:"providers"`
	}
	if json.Unmarshal(c.Config, &cfg) != nil {
		return 0
	}
	n := 0
	for _, id := range c.Identifiers {
		for _, p := range cfg.Providers {
			if (p.Organization == nil || *p.Organization == "") && id == p.Provider+":"+p.Subject {
				n++
				break
			}
		}
	}
	return n
}

// hasNonEmptyString reports whether config is an object with at least one
// non-empty string member. A TOTP credential holds its key URL in one,
// in the clear or encrypted, under whichever name the method chooses.
func hasNonEmptyString(config json.RawMessage) bool {
	var members map[string]any
	if json.Unmarshal(config, &members) != nil {
		return false
	}
	for _, v := range members {
		if s, ok := v.(string); ok && s != "" {
			return true
		}
	}
	return false
}
