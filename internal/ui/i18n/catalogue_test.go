package i18n

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/text"
)

// translator is the method set internal/ui's Translator asks for.
type translator interface {
	Match(acceptLanguage string) (tag string)
	Text(tag string, m *text.Message) string
	Phrase(tag, key string) string
	Date(tag string, t time.Time) string
}

var _ translator = New()

var at = time.Date(2026, 3, 4, 15, 6, 7, 8, time.UTC)

// samples calls every constructor of package text once, keyed by its
// name (the list of internal/text/context_test.go, plus Lanyard's own
// protection messages). TestEveryConstructorIsSampled keeps it complete.
func samples() map[string]*text.Message {
	return map[string]*text.Message{
		"LoginTitle":              text.LoginTitle(),
		"LoginSecondFactor":       text.LoginSecondFactor(),
		"LoginReauth":             text.LoginReauth(),
		"LoginWithPassword":       text.LoginWithPassword(),
		"RegistrationSignUp":      text.RegistrationSignUp(),
		"RegistrationContinue":    text.RegistrationContinue(),
		"RegistrationBack":        text.RegistrationBack(),
		"RegistrationChooseCred":  text.RegistrationChooseCred(),
		"LabelPassword":           text.LabelPassword(),
		"LabelID":                 text.LabelID(),
		"LabelSave":               text.LabelSave(),
		"LabelSubmit":             text.LabelSubmit(),
		"LabelContinue":           text.LabelContinue(),
		"LabelEmail":              text.LabelEmail(),
		"LabelGenerated":          text.LabelGenerated("E-Mail", "traits.email"),
		"ValidationGeneric":       text.ValidationGeneric("because"),
		"ValidationRequired":      text.ValidationRequired("password"),
		"InvalidCredentials":      text.InvalidCredentials(),
		"DuplicateIdentifier":     text.DuplicateIdentifier(),
		"NoIdentifierInSchema":    text.NoIdentifierInSchema(),
		"AddressNotVerified":      text.AddressNotVerified(),
		"PasswordPolicy":          text.PasswordPolicy("it is bad"),
		"PasswordTooSimilar":      text.PasswordTooSimilar(),
		"PasswordTooShort":        text.PasswordTooShort(8, 5),
		"PasswordTooLong":         text.PasswordTooLong(72, 80),
		"LoginExpired":            text.LoginExpired(at),
		"NoLoginStrategy":         text.NoLoginStrategy(),
		"NoRegistrationStrategy":  text.NoRegistrationStrategy(),
		"RegistrationExpired":     text.RegistrationExpired(at),
		"SettingsSaved":           text.SettingsSaved(),
		"SettingsExpired":         text.SettingsExpired(at),
		"NoSettingsStrategy":      text.NoSettingsStrategy(),
		"LabelRecoveryCode":       text.LabelRecoveryCode(),
		"LabelVerificationCode":   text.LabelVerificationCode(),
		"LabelResendCode":         text.LabelResendCode(),
		"LoginCodeSent":           text.LoginCodeSent(),
		"LoginSendCode":           text.LoginSendCode(),
		"LoginSendCodeTo":         text.LoginSendCodeTo("ada@example.org", "email"),
		"RegistrationCodeSent":    text.RegistrationCodeSent(),
		"RegistrationSendCode":    text.RegistrationSendCode(),
		"LabelRegistrationCode":   text.LabelRegistrationCode(),
		"LabelLoginCode":          text.LabelLoginCode(),
		"NoCodeAccount":           text.NoCodeAccount(),
		"TraitsChanged":           text.TraitsChanged(),
		"AccountNotFound":         text.AccountNotFound(),
		"LoginCodeInvalid":        text.LoginCodeInvalid(),
		"UnknownAddress":          text.UnknownAddress(),
		"RegistrationCodeInvalid": text.RegistrationCodeInvalid(),
		"RecoverySuccessful":      text.RecoverySuccessful(at),
		"RecoveryLinkSent":        text.RecoveryLinkSent(),
		"RecoveryCodeSent":        text.RecoveryCodeSent(),
		"RecoveryCodeInvalid":     text.RecoveryCodeInvalid(),
		"RecoveryLinkInvalid":     text.RecoveryLinkInvalid(),
		"RecoveryExpired":         text.RecoveryExpired(at),
		"NoRecoveryStrategy":      text.NoRecoveryStrategy(),
		"VerificationLinkSent":    text.VerificationLinkSent(),
		"VerificationSuccessful":  text.VerificationSuccessful(),
		"VerificationCodeSent":    text.VerificationCodeSent(),
		"VerificationLinkInvalid": text.VerificationLinkInvalid(),
		"VerificationExpired":     text.VerificationExpired(at),
		"VerificationCodeInvalid": text.VerificationCodeInvalid(),
		"NoVerificationStrategy":  text.NoVerificationStrategy(),
		"InvalidEmail":            text.InvalidEmail("x"),
		"VerificationAlreadyDone": text.VerificationAlreadyDone(),
		"LoginCompleted":          text.LoginCompleted(),
		"RegistrationCompleted":   text.RegistrationCompleted(),
		"RecoveryCompleted":       text.RecoveryCompleted(),
		"LoginLookupLabel":        text.LoginLookupLabel(),
		"LoginWithLookup":         text.LoginWithLookup(),
		"LookupReveal":            text.LookupReveal(),
		"LookupRegenerate":        text.LookupRegenerate(),
		"LookupConfirm":           text.LookupConfirm(),
		"LookupDisable":           text.LookupDisable(),
		"LookupCodesLabel":        text.LookupCodesLabel(),
		"LookupCode":              text.LookupCode("k3j2abcd"),
		"LookupCodeUsed":          text.LookupCodeUsed(at),
		"LookupCodeList": text.LookupCodeList([]string{"k3j2abcd", "used"},
			[]*text.Message{text.LookupCode("k3j2abcd"), text.LookupCodeUsed(at)}),
		"LookupUsed":      text.LookupUsed(),
		"LookupNotSetUp":  text.LookupNotSetUp(),
		"LookupInvalid":   text.LookupInvalid(),
		"LabelTOTPCode":   text.LabelTOTPCode(),
		"LoginWithTOTP":   text.LoginWithTOTP(),
		"TOTPUnlink":      text.TOTPUnlink(),
		"TOTPQRCode":      text.TOTPQRCode(),
		"TOTPSecret":      text.TOTPSecret("JBSWY3DPEHPK3PXP"),
		"TOTPSecretLabel": text.TOTPSecretLabel(),
		"LabelVerifyCode": text.LabelVerifyCode(),
		"TOTPCodeInvalid": text.TOTPCodeInvalid(),
		"NoTOTPDevice":    text.NoTOTPDevice(),

		"LoginWithPasskey":     text.LoginWithPasskey(),
		"RegisterWithPasskey":  text.RegisterWithPasskey(),
		"AddPasskey":           text.AddPasskey(),
		"RemovePasskey":        text.RemovePasskey("My phone", at),
		"LoginWithProvider":    text.LoginWithProvider("Google", "google"),
		"RegisterWithProvider": text.RegisterWithProvider("Google", "google"),
		"LinkProvider":         text.LinkProvider("Google"),
		"UnlinkProvider":       text.UnlinkProvider("Google"),
		"LinkAccountFirst": text.LinkAccountFirst("Google", "a@example.org", "https://id.example/login",
			[]string{"password"}, []string{"github"}),
		"SignInAndLink":              text.SignInAndLink(),
		"ConfirmWithProvider":        text.ConfirmWithProvider("GitHub"),
		"LinkedAccountMismatch":      text.LinkedAccountMismatch(),
		"SecurityKeyAccountNotFound": text.SecurityKeyAccountNotFound(),
		"NoSecurityKey":              text.NoSecurityKey(),

		"LoginWithSecurityKey":    text.LoginWithSecurityKey(),
		"SecurityKeyPrepare":      text.SecurityKeyPrepare(),
		"SecurityKeyContinue":     text.SecurityKeyContinue(),
		"RegisterWithSecurityKey": text.RegisterWithSecurityKey(),
		"AddSecurityKey":          text.AddSecurityKey(),
		"LabelSecurityKeyName":    text.LabelSecurityKeyName(),
		"RemoveSecurityKey":       text.RemoveSecurityKey("My key", at),
		"SecurityKeyInvalid":      text.SecurityKeyInvalid(),

		"AttemptsDelayed":  text.AttemptsDelayed(1200),
		"IdentifierLocked": text.IdentifierLocked(at, 60),
		"PasswordBreached": text.PasswordBreached(3),
	}
}

// schemaSamples are the messages identity schema validation puts on
// trait fields (flow.FromSchema makes them Messages).
func schemaSamples(t *testing.T) []*text.Message {
	t.Helper()
	doc := `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "properties": {"traits": {"type": "object", "additionalProperties": false, "required": ["req"],
    "properties": {
      "req": {"type": "string"},
      "email": {"type": "string", "format": "email"},
      "phone": {"type": "string", "format": "tel"},
      "short": {"type": "string", "minLength": 3},
      "long": {"type": "string", "maxLength": 2},
      "pat": {"type": "string", "pattern": "^[a-z]+$"},
      "min": {"type": "number", "minimum": 5},
      "xmin": {"type": "number", "exclusiveMinimum": 5},
      "max": {"type": "number", "maximum": 5},
      "xmax": {"type": "number", "exclusiveMaximum": 5.5},
      "mult": {"type": "number", "multipleOf": 3},
      "few": {"type": "array", "minItems": 2},
      "many": {"type": "array", "maxItems": 1},
      "uniq": {"type": "array", "uniqueItems": true},
      "typed": {"type": ["integer", "boolean"]},
      "konst": {"const": "x"},
      "konstobj": {"const": {"a": 1}}
    }}}
}`
	reg, err := schema.Load(context.Background(), []schema.Source{{ID: "s", URL: "base64://" + base64.StdEncoding.EncodeToString([]byte(doc))}}, "s")
	if err != nil {
		t.Fatal(err)
	}
	var traits any
	_ = json.Unmarshal([]byte(`{"email": "nope", "phone": "nope", "short": "a", "long": "abc", "pat": "A", "min": 1,
		"xmin": 5, "max": 1234.5, "xmax": 6, "mult": 4, "few": [1], "many": [1, 2], "uniq": [1, 1], "typed": "s",
		"konst": "y", "konstobj": 2, "extra": 1}`), &traits)
	_, err = reg.Default().Validate(traits)
	ve, ok := err.(*schema.ValidationError)
	if !ok {
		t.Fatalf("Validate = %v, want a *schema.ValidationError", err)
	}
	var out []*text.Message
	for _, c := range ve.Causes {
		out = append(out, &text.Message{ID: c.MessageID, Text: c.Text, Type: text.Error, Context: c.Context})
	}
	return out
}

// stored is m as a flow loaded from the store has it: through JSON.
func stored(t *testing.T, m *text.Message) *text.Message {
	t.Helper()
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var out text.Message
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func hasGerman(id int) bool {
	_, tmpl := germanMessages[id]
	_, comp := composed[id]
	return tmpl || comp
}

func TestEveryMessageHasGerman(t *testing.T) {
	c := New()
	check := func(name string, m *text.Message) {
		t.Helper()
		if !hasGerman(m.ID) {
			t.Errorf("%s: message %d (%q) has no German text", name, m.ID, m.Text)
			return
		}
		for _, form := range []*text.Message{m, stored(t, m)} {
			de := c.Text("de", form)
			if strings.ContainsAny(de, "{}") || de == "" {
				t.Errorf("%s (%d): German %q", name, m.ID, de)
			}
			// A text in its own words must differ from the English one;
			// texts that are values (codes, titles, names) are the same.
			if de == m.Text && !valueOnly(m.ID) {
				t.Errorf("%s (%d): German is the English text %q", name, m.ID, de)
			}
		}
	}
	for name, m := range samples() {
		check(name, m)
	}
	seen := map[int]bool{}
	for _, m := range schemaSamples(t) {
		seen[m.ID] = true
		check("schema "+m.Text, m)
	}
	for _, id := range []int{schema.MsgGeneric, schema.MsgRequired, schema.MsgMinLength, schema.MsgPattern,
		schema.MsgMaxLength, schema.MsgMinimum, schema.MsgExclusiveMinimum, schema.MsgMaximum,
		schema.MsgExclusiveMaximum, schema.MsgMultipleOf, schema.MsgMaxItems, schema.MsgMinItems,
		schema.MsgUniqueItems, schema.MsgWrongType, schema.MsgConst, schema.MsgConstGeneric,
		schema.MsgInvalidEmail, schema.MsgInvalidPhone} {
		if !seen[id] {
			t.Errorf("no schema sample has message %d", id)
		}
	}
}

// valueOnly are the ids whose text is a context value, the same in every
// language, and the generic one whose free-text reason stays English.
func valueOnly(id int) bool {
	switch id {
	case 1050006, 1050009, 1050015, 1070002, 4000001:
		return true
	}
	return false
}

// TestEveryConstructorIsSampled finds package text's constructors in its
// source, so that a new message cannot go without a German text.
func TestEveryConstructorIsSampled(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "..", "text", "*.go"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no sources of package text: %v", err)
	}
	sampled := samples()
	fset := token.NewFileSet()
	found := 0
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv != nil || !fd.Name.IsExported() || !returnsMessage(fd) {
				continue
			}
			found++
			if _, ok := sampled[fd.Name.Name]; !ok {
				t.Errorf("text.%s is not in samples: add it, with a German text for its id", fd.Name.Name)
			}
		}
	}
	if found != len(sampled) {
		t.Errorf("package text has %d constructors, samples has %d", found, len(sampled))
	}
}

func returnsMessage(fd *ast.FuncDecl) bool {
	res := fd.Type.Results
	if res == nil || len(res.List) != 1 {
		return false
	}
	star, ok := res.List[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	id, ok := star.X.(*ast.Ident)
	return ok && id.Name == "Message"
}

func TestGermanFillsContext(t *testing.T) {
	c := New()
	for _, tc := range []struct {
		m    *text.Message
		want string
	}{
		{text.PasswordTooShort(8, 5), "Das Passwort muss mindestens 8 Zeichen lang sein, hat aber 5."},
		{text.AttemptsDelayed(1200), "Zu viele Fehlversuche. Bitte warten Sie 1.200 Sekunden, bevor Sie es noch einmal versuchen."},
		{text.LoginExpired(at), "Der Anmeldevorgang ist seit 4.3.2026, 15:06 UTC abgelaufen. Bitte versuchen Sie es noch einmal."},
		{text.IdentifierLocked(at, 60), "Zu viele Fehlversuche. Anmeldungen mit dieser Kennung werden bis 4.3.2026, 15:06 UTC abgewiesen."},
		{text.RemovePasskey("My phone", at), "Passkey „My phone“ entfernen"},
		{text.LookupCodeUsed(at), "Verwendet am 4.3.2026, 15:06 UTC"},
		{text.LookupCodeList([]string{"k3j2abcd", "used"}, []*text.Message{text.LookupCode("k3j2abcd"), text.LookupCodeUsed(at)}),
			"k3j2abcd, verwendet"},
		{text.ValidationGeneric("The code was used already. Please request a new one."),
			"Der Code ist schon verbraucht. Bitte fordern Sie einen neuen an."},
		{text.ValidationGeneric("something else"), "something else"},
		{&text.Message{ID: 4000026, Context: map[string]any{"allowed_types": []string{"integer", "boolean"}, "actual_type": "string"}},
			"Erwartet wird integer oder boolean, angegeben ist string."},
		{&text.Message{ID: 4000020, Context: map[string]any{"maximum": 5.0, "actual": 1234.5}},
			"Der Wert darf höchstens 5 sein, ist aber 1.234,5."},
		{&text.Message{ID: 4000029, Context: map[string]any{"expected": map[string]any{"a": 1}}}, `Der Wert muss {"a":1} lauten.`},
	} {
		for _, m := range []*text.Message{tc.m, stored(t, tc.m)} {
			if got := c.Text("de", m); got != tc.want {
				t.Errorf("Text(de, %d %v) = %q, want %q", m.ID, m.Context, got, tc.want)
			}
		}
	}
}

func TestFallsBackToEnglish(t *testing.T) {
	c := New()
	unknown := &text.Message{ID: 1234567, Text: "Something new", Type: text.Info}
	for _, tag := range []string{"de", "en", "fr", ""} {
		if got := c.Text(tag, unknown); got != "Something new" {
			t.Errorf("Text(%q, unknown id) = %q", tag, got)
		}
	}
	// English is the message's own text, whatever the catalogue holds.
	for name, m := range samples() {
		if got := c.Text("en", m); got != m.Text {
			t.Errorf("Text(en, %s) = %q, want %q", name, got, m.Text)
		}
	}
	// A translation whose context value is missing shows the English text,
	// never a placeholder.
	bare := &text.Message{ID: 4000032, Text: "The password is too short."}
	if got := c.Text("de", bare); got != bare.Text {
		t.Errorf("Text(de, 4000032 without context) = %q", got)
	}
	list := &text.Message{ID: 1050015, Text: "abcd1234, efgh5678"}
	if got := c.Text("de", list); got != list.Text {
		t.Errorf("Text(de, 1050015 without context) = %q", got)
	}
	if got := c.Text("de", nil); got != "" {
		t.Errorf("Text(de, nil) = %q", got)
	}
	if got := c.Text("de-AT", text.LabelPassword()); got != "Passwort" {
		t.Errorf("Text(de-AT, LabelPassword) = %q", got)
	}
}

func TestMatch(t *testing.T) {
	c := New()
	for header, want := range map[string]string{
		"de-CH, de;q=0.9, en;q=0.8": "de",
		"de":                        "de",
		"de-AT":                     "de",
		"en-US,en;q=0.9":            "en",
		"en;q=0.1, de;q=0.5":        "de",
		"fr-FR, fr;q=0.9":           "en",
		"fr, de;q=0.3":              "de",
		"*":                         "en",
		"":                          "en",
		"§§§ not a header":          "en",
		"de;q=nonsense":             "en",
		strings.Repeat("x", 5000):   "en",
	} {
		if got := c.Match(header); got != want {
			t.Errorf("Match(%q) = %q, want %q", header, got, want)
		}
	}
}

func TestDateAndNumbers(t *testing.T) {
	c := New()
	morning := time.Date(2006, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		tag  string
		t    time.Time
		want string
	}{
		{"en", morning, "Jan 2, 2006, 3:04 AM UTC"},
		{"de", morning, "2.1.2006, 03:04 UTC"},
		{"en", at, "Mar 4, 2026, 3:06 PM UTC"},
		{"de", at, "4.3.2026, 15:06 UTC"},
		{"fr", at, "Mar 4, 2026, 3:06 PM UTC"},
		{"de", at.In(time.FixedZone("CET", 3600)), "4.3.2026, 15:06 UTC"},
	} {
		if got := c.Date(tc.tag, tc.t); got != tc.want {
			t.Errorf("Date(%q, %v) = %q, want %q", tc.tag, tc.t, got, tc.want)
		}
	}
	for _, tc := range []struct {
		tag  string
		n    float64
		want string
	}{
		{"en", 1234567, "1,234,567"},
		{"de", 1234567, "1.234.567"},
		{"en", 2.5, "2.5"},
		{"de", 2.5, "2,5"},
		{"de", -3, "-3"},
	} {
		if got := c.number(tc.tag, tc.n); got != tc.want {
			t.Errorf("number(%q, %v) = %q, want %q", tc.tag, tc.n, got, tc.want)
		}
	}
}

func TestPhrases(t *testing.T) {
	c := New()
	for _, table := range []map[string]string{englishPhrases, germanPhrases} {
		if len(table) != len(Phrases) {
			t.Errorf("a phrase table has %d keys, Phrases %d", len(table), len(Phrases))
		}
	}
	seen := map[string]bool{}
	for _, key := range Phrases {
		if seen[key] {
			t.Errorf("Phrases lists %q twice", key)
		}
		seen[key] = true
		en, inEnglish := englishPhrases[key]
		de, inGerman := germanPhrases[key]
		if !inEnglish || !inGerman || (en == "") != (de == "") {
			t.Errorf("phrase %q: en %q, de %q", key, en, de)
		}
		if en != "" && (c.Phrase("en", key) != en || c.Phrase("de", key) != de) {
			t.Errorf("Phrase(_, %q) does not read its table", key)
		}
	}
	if got := c.Phrase("de", "nav.sign_out"); got != "Abmelden" {
		t.Errorf("Phrase(de, sign_out) = %q", got)
	}
	if got := c.Phrase("fr", "nav.sign_out"); got != "Sign out" {
		t.Errorf("Phrase(fr, sign_out) = %q", got)
	}
	if got := c.Phrase("de", "no_such_key"); got != "no_such_key" {
		t.Errorf("Phrase(de, unknown) = %q", got)
	}
}
