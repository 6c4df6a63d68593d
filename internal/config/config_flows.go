package config

import "time"

// AddressFlow holds the settings of recovery and verification, the flows
// that send a code or a link to an address.
type AddressFlow struct {
	Enabled                 bool
	UIURL                   string
	Lifespan                time.Duration
	Use                     string // "code" or "link"
	NotifyUnknownRecipients bool
	AfterReturnURL          string
	BeforeHooks             []Hook
	AfterHooks              []Hook
}

// FeatureFlags holds feature_flags.*.
type FeatureFlags struct {
	UseContinueWithTransitions bool
	// LegacyRequireVerifiedLoginError makes require_verified_address answer
	// with the form error 4000010 instead of starting a verification.
	LegacyRequireVerifiedLoginError bool
}

// CodeMethod is selfservice.methods.code.
type CodeMethod struct {
	// Enabled is also true whenever PasswordlessEnabled is, as in Kratos,
	// which force-enables the method for configs written before the two
	// keys were separate.
	Enabled bool
	// PasswordlessEnabled signs in and signs up with a code alone (aal1);
	// MFAEnabled makes a code a second factor (aal2). Never both.
	PasswordlessEnabled bool
	MFAEnabled          bool
	Lifespan            time.Duration
	// MaxSubmissions is how many codes a flow accepts before it is
	// replaced by a new one.
	MaxSubmissions int
	// MissingCredentialFallback sends sign-in codes to an identity without
	// a code credential: by email to any of its credentials' identifiers
	// (passwordless), or to its verifiable addresses (MFA).
	MissingCredentialFallback bool
}

// Login flow styles (selfservice.flows.login.style).
const (
	LoginStyleUnified         = "unified"
	LoginStyleIdentifierFirst = "identifier_first"
)

// Registration flow styles (selfservice.flows.registration.style).
const (
	RegistrationStyleProfileFirst = "profile_first"
	RegistrationStyleUnified      = "unified"
)

// OneStep reports whether registration shows every method's fields on one
// form: with the unified style, or with the deprecated
// enable_legacy_one_step, which wins over the style as in Kratos.
func (r RegistrationFlow) OneStep() bool {
	return r.LegacyOneStep || r.Style == RegistrationStyleUnified
}

// LinkMethod is selfservice.methods.link.
type LinkMethod struct {
	Enabled  bool
	Lifespan time.Duration
	BaseURL  string
}
