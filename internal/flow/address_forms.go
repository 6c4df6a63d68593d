package flow

import "github.com/lanyard-id/lanyard/internal/text"

// The forms recovery and verification share: first an address to send a
// code or link to, then (for codes) the code.

// KeepOnlyCSRF empties the form but for its csrf_token, before a step
// renders its own inputs.
func (c *Container) KeepOnlyCSRF() {
	c.Nodes = []*Node{c.Find("csrf_token")}
}

// AskForAddress renders the email input and the submit of method.
func AskForAddress(f *Flow, method, email string) {
	f.UI.KeepOnlyCSRF()
	var value any
	if email != "" {
		value = email
	}
	f.UI.Add(
		Input(method, "email", "email", value, text.LabelEmail()).Required().Autocomplete("email"),
		Submit(method, "method", method, text.LabelContinue()),
	)
}

// AskForCode renders the six-digit code input, labelled by codeLabel, and
// a button that sends another code to email unless email is "".
func AskForCode(f *Flow, codeLabel *text.Message, email string) {
	f.UI.KeepOnlyCSRF()
	code := Input("code", "code", "text", nil, codeLabel).Required().Autocomplete("one-time-code")
	code.Attributes.Pattern, code.Attributes.Maxlength = "[0-9]+", 6
	f.UI.Add(
		code,
		Input("code", "method", "hidden", "code", nil),
		Submit("code", "method", "code", text.LabelContinue()),
	)
	if email != "" {
		f.UI.Add(Submit("code", "email", email, text.LabelResendCode()))
	}
}
