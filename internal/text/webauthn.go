package text

import "time"

// Messages of the webauthn method (security keys). Its refusals of an
// unknown account or of one without keys are shared with the passkey
// method (passkey.go).

// LoginWithSecurityKey is the button that signs in with a security key.
func LoginWithSecurityKey() *Message { return info(1010008, "Sign in with a security key") }

// SecurityKeyPrepare asks for the key once the account is known, in a
// sign-in without a password.
func SecurityKeyPrepare() *Message {
	return info(1010012, "Get your security key ready (or your device's fingerprint or face unlock), then continue.")
}

// SecurityKeyContinue is the button that starts the key's challenge once
// the account is known.
func SecurityKeyContinue() *Message { return info(1010013, "Continue") }

// RegisterWithSecurityKey is the button that signs up with a security key.
func RegisterWithSecurityKey() *Message { return info(1040004, "Sign up with a security key") }

// AddSecurityKey is the settings button that adds a security key.
func AddSecurityKey() *Message { return info(1050012, "Add a security key") }

// LabelSecurityKeyName labels the input naming a new security key.
func LabelSecurityKeyName() *Message { return info(1050013, "Name of the security key") }

// RemoveSecurityKey is the settings button that removes the key named
// displayName, added at addedAt; UIs may word it from the context.
func RemoveSecurityKey(displayName string, addedAt time.Time) *Message {
	addedAt = addedAt.UTC()
	m := info(1050018, "Remove security key \""+displayName+"\"")
	m.Context = map[string]any{"display_name": displayName, "added_at": addedAt, "added_at_unix": addedAt.Unix()}
	return m
}

// SecurityKeyInvalid refuses an answer of a security key that does not
// check out. Kratos reuses the id of a wrong TOTP code for it.
func SecurityKeyInvalid() *Message {
	return errMsg(4000008, "The security key could not be verified. Please try again.")
}
