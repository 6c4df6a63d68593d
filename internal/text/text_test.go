package text

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// The ids UIs translate by, from Kratos's message catalogue; the texts are
// ours and only need to be non-empty.
func TestMessageIDs(t *testing.T) {
	cases := []struct {
		name string
		m    *Message
		id   int
		typ  string
	}{
		{"LoginTitle", LoginTitle(), 1010001, Info},
		{"LoginReauth", LoginReauth(), 1010003, Info},
		{"LoginWithPassword", LoginWithPassword(), 1010022, Info},
		{"RegistrationSignUp", RegistrationSignUp(), 1040001, Info},
		{"RegistrationContinue", RegistrationContinue(), 1040003, Info},
		{"RegistrationBack", RegistrationBack(), 1040008, Info},
		{"RegistrationChooseCred", RegistrationChooseCred(), 1040009, Info},
		{"LabelPassword", LabelPassword(), 1070001, Info},
		{"LabelGenerated", LabelGenerated("E-Mail", "traits.email"), 1070002, Info},
		{"LabelSave", LabelSave(), 1070003, Info},
		{"LabelID", LabelID(), 1070004, Info},
		{"LabelSubmit", LabelSubmit(), 1070005, Info},
		{"LabelEmail", LabelEmail(), 1070007, Info},
		{"LabelResendCode", LabelResendCode(), 1070008, Info},
		{"LabelContinue", LabelContinue(), 1070009, Info},
		{"LabelRecoveryCode", LabelRecoveryCode(), 1070010, Info},
		{"LabelVerificationCode", LabelVerificationCode(), 1070011, Info},
		{"SettingsSaved", SettingsSaved(), 1050001, Success},
		{"RecoverySuccessful", RecoverySuccessful(time.Now().Add(10 * time.Minute)), 1060001, Success},
		{"RecoveryLinkSent", RecoveryLinkSent(), 1060002, Info},
		{"RecoveryCodeSent", RecoveryCodeSent(), 1060003, Info},
		{"VerificationLinkSent", VerificationLinkSent(), 1080001, Info},
		{"VerificationSuccessful", VerificationSuccessful(), 1080002, Success},
		{"VerificationCodeSent", VerificationCodeSent(), 1080003, Info},
		{"ValidationGeneric", ValidationGeneric("because"), 4000001, Error},
		{"ValidationRequired", ValidationRequired("password"), 4000002, Error},
		{"PasswordPolicy", PasswordPolicy("it is bad"), 4000005, Error},
		{"InvalidCredentials", InvalidCredentials(), 4000006, Error},
		{"DuplicateIdentifier", DuplicateIdentifier(), 4000007, Error},
		{"NoIdentifierInSchema", NoIdentifierInSchema(), 4000009, Error},
		{"AddressNotVerified", AddressNotVerified(), 4000010, Error},
		{"PasswordTooSimilar", PasswordTooSimilar(), 4000031, Error},
		{"PasswordTooShort", PasswordTooShort(8, 5), 4000032, Error},
		{"PasswordTooLong", PasswordTooLong(72, 80), 4000033, Error},
		{"InvalidEmail", InvalidEmail("x"), 4000040, Error},
		{"LoginExpired", LoginExpired(time.Now().Add(-5 * time.Minute)), 4010001, Error},
		{"NoLoginStrategy", NoLoginStrategy(), 4010002, Error},
		{"NoRegistrationStrategy", NoRegistrationStrategy(), 4010003, Error},
		{"NoSettingsStrategy", NoSettingsStrategy(), 4010004, Error},
		{"NoRecoveryStrategy", NoRecoveryStrategy(), 4010005, Error},
		{"NoVerificationStrategy", NoVerificationStrategy(), 4010006, Error},
		{"RegistrationExpired", RegistrationExpired(time.Now().Add(-time.Minute)), 4040001, Error},
		{"SettingsExpired", SettingsExpired(time.Now().Add(-time.Minute)), 4050001, Error},
		{"RecoveryLinkInvalid", RecoveryLinkInvalid(), 4060004, Error},
		{"RecoveryExpired", RecoveryExpired(time.Now().Add(-time.Minute)), 4060005, Error},
		{"RecoveryCodeInvalid", RecoveryCodeInvalid(), 4060006, Error},
		{"VerificationLinkInvalid", VerificationLinkInvalid(), 4070001, Error},
		{"VerificationExpired", VerificationExpired(time.Now().Add(-time.Minute)), 4070005, Error},
		{"VerificationCodeInvalid", VerificationCodeInvalid(), 4070006, Error},
	}
	for _, c := range cases {
		if c.m.ID != c.id || c.m.Type != c.typ || strings.TrimSpace(c.m.Text) == "" {
			t.Errorf("%s = %d %q %q; want id %d of type %q", c.name, c.m.ID, c.m.Type, c.m.Text, c.id, c.typ)
		}
	}
	if a, b := LoginTitle(), LoginTitle(); a == b {
		t.Error("constructors share one message: a caller could change it for everybody")
	}
}

func TestMessageContext(t *testing.T) {
	m := PasswordTooShort(8, 5)
	if m.Context["min_length"] != 8 || m.Context["actual_length"] != 5 || !strings.Contains(m.Text, "8") || !strings.Contains(m.Text, "5") {
		t.Errorf("PasswordTooShort = %+v", m)
	}
	m = PasswordTooLong(72, 80)
	if m.Context["max_length"] != 72 || m.Context["actual_length"] != 80 {
		t.Errorf("PasswordTooLong = %+v", m)
	}
	m = LabelGenerated("E-Mail", "traits.email")
	if m.Text != "E-Mail" || m.Context["title"] != "E-Mail" || m.Context["name"] != "traits.email" {
		t.Errorf("LabelGenerated = %+v", m)
	}
	if m := ValidationRequired("identifier"); m.Context["property"] != "identifier" || !strings.Contains(m.Text, "identifier") {
		t.Errorf("ValidationRequired = %+v", m)
	}
	if m := ValidationGeneric("because"); m.Context["reason"] != "because" || m.Text != "because" {
		t.Errorf("ValidationGeneric = %+v", m)
	}

	raw, _ := json.Marshal(InvalidCredentials())
	var v map[string]any
	_ = json.Unmarshal(raw, &v)
	if _, ok := v["context"]; ok || v["id"] != float64(4000006) || v["type"] != "error" {
		t.Errorf("JSON of a message without context = %s", raw)
	}
	raw, _ = json.Marshal(PasswordTooShort(8, 5))
	if !strings.Contains(string(raw), `"context":{"actual_length":5,"min_length":8}`) {
		t.Errorf("JSON of PasswordTooShort = %s", raw)
	}
}
