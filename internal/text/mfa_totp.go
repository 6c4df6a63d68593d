package text

// Messages of the TOTP method (authenticator apps).

// LabelTOTPCode labels the code input of a second-factor sign-in.
func LabelTOTPCode() *Message { return info(1010006, "Authentication code") }

// LoginWithTOTP is the button that signs in with an authenticator app.
func LoginWithTOTP() *Message { return info(1010009, "Use authenticator app") }

// TOTPUnlink is the settings button that removes the authenticator app.
func TOTPUnlink() *Message { return info(1050004, "Remove authenticator app") }

// TOTPQRCode labels the QR code an authenticator app scans.
func TOTPQRCode() *Message { return info(1050005, "QR code for your authenticator app") }

// TOTPSecret shows the key to type into an authenticator app that cannot
// scan the QR code; the key is both the text and context.secret.
func TOTPSecret(secret string) *Message {
	m := info(1050006, secret)
	m.Context = map[string]any{"secret": secret}
	return m
}

// TOTPSecretLabel explains the key shown by TOTPSecret.
func TOTPSecretLabel() *Message {
	return info(1050017, "Cannot scan the QR code? Enter this key into your authenticator app instead.")
}

// LabelVerifyCode labels the input that confirms a new authenticator app.
func LabelVerifyCode() *Message { return info(1070006, "Verify code") }

// TOTPCodeInvalid refuses a wrong, expired or already used code.
func TOTPCodeInvalid() *Message {
	return errMsg(4000008, "The authentication code is not valid. Please try again.")
}

// NoTOTPDevice refuses a TOTP sign-in of an identity without an
// authenticator app.
func NoTOTPDevice() *Message {
	return errMsg(4000011, "No authenticator app is set up for this account.")
}
