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
	Enabled             bool
	PasswordlessEnabled bool
	Lifespan            time.Duration
	// MaxSubmissions is how many codes a flow accepts before it is
	// replaced by a new one.
	MaxSubmissions int
}

// LinkMethod is selfservice.methods.link.
type LinkMethod struct {
	Enabled  bool
	Lifespan time.Duration
	BaseURL  string
}
