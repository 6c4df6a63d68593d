package text

// Messages of social sign-in (the oidc method). provider is the label a
// provider is shown with (its id when it has none).

// LoginWithProvider is the button that signs in through a provider.
func LoginWithProvider(provider, providerID string) *Message {
	m := info(1010002, "Sign in with "+provider)
	m.Context = map[string]any{"provider": provider, "provider_id": providerID}
	return m
}

// RegisterWithProvider is the button that signs up through a provider.
func RegisterWithProvider(provider, providerID string) *Message {
	m := info(1040002, "Sign up with "+provider)
	m.Context = map[string]any{"provider": provider, "provider_id": providerID}
	return m
}

// LinkProvider is the settings button that links a provider's account.
func LinkProvider(provider string) *Message {
	m := info(1050002, "Link "+provider)
	m.Context = map[string]any{"provider": provider}
	return m
}

// UnlinkProvider is the settings button that unlinks a provider's account.
func UnlinkProvider(provider string) *Message {
	m := info(1050003, "Unlink "+provider)
	m.Context = map[string]any{"provider": provider}
	return m
}

// LinkAccountFirst tells someone who signed up through provider that the
// address duplicateIdentifier belongs to an account already: signing in
// to it here links the provider to it. Kratos sends each key twice, in
// camel case (older UIs) and snake case.
func LinkAccountFirst(provider, duplicateIdentifier, newLoginURL string, credentialTypes, providers []string) *Message {
	m := info(1010016, "An account with "+duplicateIdentifier+" exists already. Sign in to it to link your "+provider+" account to it.")
	m.Context = map[string]any{
		"provider":                   provider,
		"duplicate_identifier":       duplicateIdentifier,
		"duplicateIdentifier":        duplicateIdentifier,
		"new_login_url":              newLoginURL,
		"newLoginUrl":                newLoginURL,
		"available_credential_types": credentialTypes,
		"available_providers":        providers,
	}
	return m
}

// SignInAndLink is the identifier-and-password button of a login that
// links a provider on success.
func SignInAndLink() *Message { return info(1010017, "Sign in and link") }

// ConfirmWithProvider is a provider button of a login that links another
// provider on success.
func ConfirmWithProvider(provider string) *Message {
	m := info(1010018, "Confirm with "+provider)
	m.Context = map[string]any{"provider": provider}
	return m
}

// LinkedAccountMismatch refuses linking a provider to an account other
// than the one whose address it carried.
func LinkedAccountMismatch() *Message {
	return errMsg(4010009, "This is not the account the linked sign-in belongs to.")
}
