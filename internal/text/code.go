package text

// One-time codes as a way in: passwordless sign-in and sign-up, and the
// second factor.

func LoginCodeSent() *Message {
	return info(1010014, "We sent a code to your address. Enter it below to sign in.")
}
func LoginSendCode() *Message { return info(1010015, "Send sign in code") }

// LoginSendCodeTo is the button sending a second-factor code to address.
func LoginSendCodeTo(address, channel string) *Message {
	m := info(1010023, "Send code to "+address)
	m.Context = map[string]any{"address": address, "channel": channel}
	return m
}

func RegistrationCodeSent() *Message {
	return info(1040005, "We sent a code to your address. Enter it below to finish signing up.")
}
func RegistrationSendCode() *Message  { return info(1040006, "Sign up with code") }
func LabelRegistrationCode() *Message { return info(1070012, "Registration code") }
func LabelLoginCode() *Message        { return info(1070013, "Login code") }

func NoCodeAccount() *Message {
	return errMsg(4000035, "This account does not exist or has not set up sign in with a code.")
}
func TraitsChanged() *Message {
	return errMsg(4000036, "The details you entered changed since the code was sent. Please start again.")
}
func AccountNotFound() *Message {
	return errMsg(4000037, "This account does not exist or has no sign in method configured.")
}
func LoginCodeInvalid() *Message {
	return errMsg(4010008, "The sign in code is invalid or has already been used. Please try again.")
}
func UnknownAddress() *Message {
	return errMsg(4010010, "This address is not one of the account's addresses.")
}
func RegistrationCodeInvalid() *Message {
	return errMsg(4040003, "The registration code is invalid or has already been used. Please try again.")
}
