package text

import "time"

// Messages of the passkey method. The two refusals at the end are shared
// with the webauthn method: Kratos uses the same ids for both.

// LoginWithPasskey is the button that signs in with a passkey.
func LoginWithPasskey() *Message { return info(1010021, "Sign in with a passkey") }

// RegisterWithPasskey is the button that signs up with a passkey.
func RegisterWithPasskey() *Message { return info(1040007, "Sign up with a passkey") }

// AddPasskey is the settings button that adds a passkey.
func AddPasskey() *Message { return info(1050019, "Add a passkey") }

// RemovePasskey is the settings button that removes the passkey named
// displayName, added at addedAt; UIs may word it from the context.
func RemovePasskey(displayName string, addedAt time.Time) *Message {
	addedAt = addedAt.UTC()
	m := info(1050020, "Remove passkey \""+displayName+"\"")
	m.Context = map[string]any{"display_name": displayName, "added_at": addedAt, "added_at_unix": addedAt.Unix()}
	return m
}

// SecurityKeyAccountNotFound refuses a key or passkey sign-in for an
// account that does not exist or has no key to sign in with.
func SecurityKeyAccountNotFound() *Message {
	return errMsg(4000015, "This account does not exist or has no security key or passkey to sign in with.")
}

// NoSecurityKey refuses a sign-in with a key or passkey for an account
// that has none set up.
func NoSecurityKey() *Message {
	return errMsg(4000013, "No security key or passkey is set up for this account.")
}
