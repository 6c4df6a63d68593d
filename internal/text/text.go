// Package text holds the messages shown in flows. Each carries Kratos's
// numeric id, so UIs that translate by id keep working; the English texts
// are Lanyard's own.
package text

import (
	"fmt"
	"time"
)

// Message is the SDK's UiText.
type Message struct {
	ID      int            `json:"id"`
	Text    string         `json:"text"`
	Type    string         `json:"type"`
	Context map[string]any `json:"context,omitempty"`
}

// Message types.
const (
	Info    = "info"
	Error   = "error"
	Success = "success"
)

func info(id int, text string) *Message { return &Message{ID: id, Text: text, Type: Info} }
func errMsg(id int, text string) *Message {
	return &Message{ID: id, Text: text, Type: Error}
}

// Labels and buttons.
func LoginTitle() *Message { return info(1010001, "Sign in") }
func LoginReauth() *Message {
	return info(1010003, "Please confirm this action by verifying that it is you.")
}
func LoginWithPassword() *Message    { return info(1010022, "Sign in with password") }
func RegistrationSignUp() *Message   { return info(1040001, "Sign up") }
func RegistrationContinue() *Message { return info(1040003, "Continue") }
func RegistrationBack() *Message     { return info(1040008, "Back") }
func RegistrationChooseCred() *Message {
	return info(1040009, "Please choose a credential to authenticate yourself with.")
}
func LabelPassword() *Message { return info(1070001, "Password") }
func LabelID() *Message       { return info(1070004, "ID") }
func LabelSave() *Message     { return info(1070003, "Save") }
func LabelSubmit() *Message   { return info(1070005, "Submit") }
func LabelContinue() *Message { return info(1070009, "Continue") }
func LabelEmail() *Message    { return info(1070007, "Email") }

// LabelGenerated is a label taken from the identity schema's title.
func LabelGenerated(title, name string) *Message {
	m := info(1070002, title)
	m.Context = map[string]any{"title": title, "name": name}
	return m
}

// Validation errors.
func ValidationGeneric(reason string) *Message {
	m := errMsg(4000001, reason)
	m.Context = map[string]any{"reason": reason}
	return m
}

func ValidationRequired(property string) *Message {
	m := errMsg(4000002, fmt.Sprintf("Property %s is missing.", property))
	m.Context = map[string]any{"property": property}
	return m
}

func InvalidCredentials() *Message {
	return errMsg(4000006, "The provided credentials are invalid, check for spelling mistakes in your password or username, email address, or phone number.")
}

func DuplicateIdentifier() *Message {
	return errMsg(4000007, "An account with the same identifier (email, phone, username, ...) exists already.")
}

func NoIdentifierInSchema() *Message {
	return errMsg(4000009, "Could not find any login identifiers. Did you forget to set them? This could also be caused by a server misconfiguration.")
}

func AddressNotVerified() *Message {
	return errMsg(4000010, "Account not active yet. Did you forget to verify your email address?")
}

func PasswordPolicy(reason string) *Message {
	m := errMsg(4000005, "The password can not be used because "+reason+".")
	m.Context = map[string]any{"reason": reason}
	return m
}

func PasswordTooSimilar() *Message {
	return errMsg(4000031, "The password can not be used because it is too similar to the identifier.")
}

func PasswordTooShort(min, actual int) *Message {
	m := errMsg(4000032, fmt.Sprintf("The password must be at least %d characters long, but got %d.", min, actual))
	m.Context = map[string]any{"min_length": min, "actual_length": actual}
	return m
}

func PasswordTooLong(max, actual int) *Message {
	m := errMsg(4000033, fmt.Sprintf("The password must be at most %d characters long, but got %d.", max, actual))
	m.Context = map[string]any{"max_length": max, "actual_length": actual}
	return m
}

func PasswordBreached(breaches int) *Message {
	m := errMsg(4000034, "The password has been found in data breaches and must no longer be used.")
	m.Context = map[string]any{"breaches": breaches}
	return m
}

// expired tells that a flow, code or link expired at expiredAt. UIs fill
// their own texts from expired_at (RFC 3339) and expired_at_unix, as
// Kratos's messages carry them.
func expired(id int, what string, expiredAt time.Time) *Message {
	ago := max(time.Since(expiredAt), 0).Round(time.Second)
	m := errMsg(id, fmt.Sprintf("The %s expired %s ago, please try again.", what, ago))
	m.Context = map[string]any{"expired_at": expiredAt.UTC(), "expired_at_unix": expiredAt.Unix()}
	return m
}

// Flow errors.
func LoginExpired(expiredAt time.Time) *Message {
	return expired(4010001, "login flow", expiredAt)
}

func NoLoginStrategy() *Message {
	return errMsg(4010002, "Could not find a strategy to log you in with. Did you fill out the form correctly?")
}

func NoRegistrationStrategy() *Message {
	return errMsg(4010003, "Could not find a strategy to sign you up with. Did you fill out the form correctly?")
}

func RegistrationExpired(expiredAt time.Time) *Message {
	return expired(4040001, "registration flow", expiredAt)
}

// Settings.
func SettingsSaved() *Message {
	return &Message{ID: 1050001, Text: "Your changes have been saved.", Type: Success}
}

func SettingsExpired(expiredAt time.Time) *Message {
	return expired(4050001, "settings flow", expiredAt)
}

func NoSettingsStrategy() *Message {
	return errMsg(4010004, "Could not find a strategy to update your settings. Did you fill out the form correctly?")
}

// Recovery and verification.
func LabelRecoveryCode() *Message     { return info(1070010, "Recovery code") }
func LabelVerificationCode() *Message { return info(1070011, "Verification code") }
func LabelResendCode() *Message       { return info(1070008, "Resend code") }

// RecoverySuccessful says until when the recovered session may change
// credentials without signing in again. Kratos's context has the time
// under two names (camelCase for older UIs) and as Unix seconds.
func RecoverySuccessful(privilegedUntil time.Time) *Message {
	until := privilegedUntil.UTC()
	m := &Message{ID: 1060001, Type: Success,
		Text: "You recovered your account. Change your password or add another way to sign in before " + until.Format(time.RFC3339) + "."}
	m.Context = map[string]any{
		"privilegedSessionExpiresAt":         until,
		"privileged_session_expires_at":      until,
		"privileged_session_expires_at_unix": until.Unix(),
	}
	return m
}

func RecoveryLinkSent() *Message {
	return info(1060002, "If that address belongs to an account, we sent it a link to recover the account.")
}

func RecoveryCodeSent() *Message {
	return info(1060003, "If that address belongs to an account, we sent it a code to recover the account. Enter the code below.")
}

func RecoveryCodeInvalid() *Message {
	return errMsg(4060006, "The recovery code is invalid or was used already. Please try again.")
}

func RecoveryLinkInvalid() *Message {
	return errMsg(4060004, "The recovery link is invalid or was used already. Please request a new one.")
}

func RecoveryExpired(expiredAt time.Time) *Message {
	return expired(4060005, "recovery flow", expiredAt)
}

func NoRecoveryStrategy() *Message {
	return errMsg(4010005, "Could not find a strategy to recover your account with. Did you fill out the form correctly?")
}

func VerificationLinkSent() *Message {
	return info(1080001, "If that address belongs to an account, we sent it a link to verify it.")
}

func VerificationSuccessful() *Message {
	return &Message{ID: 1080002, Text: "You verified your address.", Type: Success}
}

func VerificationCodeSent() *Message {
	return info(1080003, "If that address belongs to an account, we sent it a verification code. Enter the code below.")
}

func VerificationLinkInvalid() *Message {
	return errMsg(4070001, "The verification link is invalid or was used already. Please request a new one.")
}

func VerificationExpired(expiredAt time.Time) *Message {
	return expired(4070005, "verification flow", expiredAt)
}

func VerificationCodeInvalid() *Message {
	return errMsg(4070006, "The verification code is invalid or was used already. Please try again.")
}

func NoVerificationStrategy() *Message {
	return errMsg(4010006, "Could not find a strategy to verify your address with. Did you fill out the form correctly?")
}

func InvalidEmail(value string) *Message {
	m := errMsg(4000040, fmt.Sprintf("%q is not a valid email address.", value))
	m.Context = map[string]any{"value": value}
	return m
}

// VerificationAlreadyDone answers a submission to a verification flow that
// already verified its address.
func VerificationAlreadyDone() *Message {
	return errMsg(4070002, "This address was verified with this flow already. Start a new flow to verify another address.")
}
