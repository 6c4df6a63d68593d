package text

// Answers to a submission for a flow that another submission completed.

func LoginCompleted() *Message {
	return errMsg(4010007, "You are signed in already with this flow; it cannot be used again.")
}

func RegistrationCompleted() *Message {
	return errMsg(4040002, "This registration was completed already; it cannot be repeated.")
}

func RecoveryCompleted() *Message {
	return errMsg(4060001, "This account recovery was completed already; start a new one if you need to.")
}

// LoginSecondFactor asks a signed-in user for their second factor.
func LoginSecondFactor() *Message {
	return info(1010004, "Please complete the second authentication challenge.")
}
