package text

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"go/ast"
	"go/constant"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lanyard-id/lanyard/internal/schema"
)

// valueKind is the JSON type a context value must have.
type valueKind string

const (
	str     valueKind = "string"
	integer valueKind = "integer"
	number  valueKind = "number"
	rfc3339 valueKind = "RFC 3339 timestamp"
	unix    valueKind = "Unix seconds"
	strList valueKind = "list of strings"
	anyJSON valueKind = "any JSON value"
)

// kratosContext is the context of every Kratos message that has one, as
// /work/shared/kratos-facts.md section 7 ("Message context keys") lists
// them. A message id not in here has no context in Kratos.
var kratosContext = map[int]map[string]valueKind{
	1010002: {"provider": str, "provider_id": str},
	1010016: {"available_credential_types": strList, "available_providers": strList, "duplicateIdentifier": str,
		"duplicate_identifier": str, "newLoginUrl": str, "new_login_url": str, "provider": str},
	1010018: {"provider": str},
	1010023: {"address": str, "channel": str},
	1040002: {"provider": str, "provider_id": str},
	1050002: {"provider": str},
	1050003: {"provider": str},
	1050006: {"secret": str},
	1050009: {"secret": str},
	1050014: {"used_at": rfc3339, "used_at_unix": unix},
	1050015: {"secrets": anyJSON}, // a list of messages 1050009 and 1050014
	1050018: {"added_at": rfc3339, "added_at_unix": unix, "display_name": str},
	1050020: {"added_at": rfc3339, "added_at_unix": unix, "display_name": str},
	1060001: {"privilegedSessionExpiresAt": rfc3339, "privileged_session_expires_at": rfc3339,
		"privileged_session_expires_at_unix": unix},
	1060004: {"masked_address": str},
	1070002: {"name": str, "title": str},
	4000001: {"reason": str},
	4000002: {"property": str},
	4000003: {"actual_length": integer, "min_length": integer},
	4000004: {"pattern": str},
	4000005: {"reason": str},
	4000017: {"actual_length": integer, "max_length": integer},
	4000018: {"actual": number, "minimum": number},
	4000019: {"actual": number, "minimum": number},
	4000020: {"actual": number, "maximum": number},
	4000021: {"actual": number, "maximum": number},
	4000022: {"actual": number, "base": number},
	4000023: {"actual_items": integer, "max_items": integer},
	4000024: {"actual_items": integer, "min_items": integer},
	4000025: {"index_a": integer, "index_b": integer},
	4000026: {"actual_type": str, "allowed_types": strList},
	4000028: {"available_credential_types": strList, "available_oidc_providers": strList, "credential_identifier_hint": str},
	4000029: {"expected": anyJSON},
	4000032: {"actual_length": integer, "min_length": integer},
	4000033: {"actual_length": integer, "max_length": integer},
	4000034: {"breaches": integer},
	4000040: {"value": str},
	4000041: {"value": str},
	4010001: {"expired_at": rfc3339, "expired_at_unix": unix},
	4040001: {"expired_at": rfc3339, "expired_at_unix": unix},
	4050001: {"expired_at": rfc3339, "expired_at_unix": unix},
	4060005: {"expired_at": rfc3339, "expired_at_unix": unix},
	4070005: {"expired_at": rfc3339, "expired_at_unix": unix},
	5000001: {"reason": str},
}

// Lanyard's own message ids (protection.go): Kratos has no such messages,
// so there is no context of Kratos's to match.
const ownFirst, ownLast = 4900000, 4909999

func ownID(id int64) bool { return id >= ownFirst && id <= ownLast }

// at is a fixed moment for the samples, so that a failure names stable
// values.
var at = time.Date(2026, 3, 4, 5, 6, 7, 8, time.UTC)

// samples calls every Kratos-numbered constructor of this package once,
// keyed by its name.
func samples() map[string]*Message {
	return map[string]*Message{
		"LoginTitle":              LoginTitle(),
		"LoginSecondFactor":       LoginSecondFactor(),
		"LoginReauth":             LoginReauth(),
		"LoginWithPassword":       LoginWithPassword(),
		"RegistrationSignUp":      RegistrationSignUp(),
		"RegistrationContinue":    RegistrationContinue(),
		"RegistrationBack":        RegistrationBack(),
		"RegistrationChooseCred":  RegistrationChooseCred(),
		"LabelPassword":           LabelPassword(),
		"LabelID":                 LabelID(),
		"LabelSave":               LabelSave(),
		"LabelSubmit":             LabelSubmit(),
		"LabelContinue":           LabelContinue(),
		"LabelEmail":              LabelEmail(),
		"LabelGenerated":          LabelGenerated("E-Mail", "traits.email"),
		"ValidationGeneric":       ValidationGeneric("because"),
		"ValidationRequired":      ValidationRequired("password"),
		"InvalidCredentials":      InvalidCredentials(),
		"DuplicateIdentifier":     DuplicateIdentifier(),
		"NoIdentifierInSchema":    NoIdentifierInSchema(),
		"AddressNotVerified":      AddressNotVerified(),
		"PasswordPolicy":          PasswordPolicy("it is bad"),
		"PasswordTooSimilar":      PasswordTooSimilar(),
		"PasswordTooShort":        PasswordTooShort(8, 5),
		"PasswordTooLong":         PasswordTooLong(72, 80),
		"PasswordBreached":        PasswordBreached(3),
		"LoginExpired":            LoginExpired(at),
		"NoLoginStrategy":         NoLoginStrategy(),
		"NoRegistrationStrategy":  NoRegistrationStrategy(),
		"RegistrationExpired":     RegistrationExpired(at),
		"SettingsSaved":           SettingsSaved(),
		"SettingsExpired":         SettingsExpired(at),
		"NoSettingsStrategy":      NoSettingsStrategy(),
		"LabelRecoveryCode":       LabelRecoveryCode(),
		"LabelVerificationCode":   LabelVerificationCode(),
		"LabelResendCode":         LabelResendCode(),
		"LoginCodeSent":           LoginCodeSent(),
		"LoginSendCode":           LoginSendCode(),
		"LoginSendCodeTo":         LoginSendCodeTo("ada@example.org", "email"),
		"RegistrationCodeSent":    RegistrationCodeSent(),
		"RegistrationSendCode":    RegistrationSendCode(),
		"LabelRegistrationCode":   LabelRegistrationCode(),
		"LabelLoginCode":          LabelLoginCode(),
		"NoCodeAccount":           NoCodeAccount(),
		"TraitsChanged":           TraitsChanged(),
		"AccountNotFound":         AccountNotFound(),
		"LoginCodeInvalid":        LoginCodeInvalid(),
		"UnknownAddress":          UnknownAddress(),
		"RegistrationCodeInvalid": RegistrationCodeInvalid(),
		"RecoverySuccessful":      RecoverySuccessful(at),
		"RecoveryLinkSent":        RecoveryLinkSent(),
		"RecoveryCodeSent":        RecoveryCodeSent(),
		"RecoveryCodeInvalid":     RecoveryCodeInvalid(),
		"RecoveryLinkInvalid":     RecoveryLinkInvalid(),
		"RecoveryExpired":         RecoveryExpired(at),
		"NoRecoveryStrategy":      NoRecoveryStrategy(),
		"VerificationLinkSent":    VerificationLinkSent(),
		"VerificationSuccessful":  VerificationSuccessful(),
		"VerificationCodeSent":    VerificationCodeSent(),
		"VerificationLinkInvalid": VerificationLinkInvalid(),
		"VerificationExpired":     VerificationExpired(at),
		"VerificationCodeInvalid": VerificationCodeInvalid(),
		"NoVerificationStrategy":  NoVerificationStrategy(),
		"InvalidEmail":            InvalidEmail("x"),
		"VerificationAlreadyDone": VerificationAlreadyDone(),
		"LoginCompleted":          LoginCompleted(),
		"RegistrationCompleted":   RegistrationCompleted(),
		"RecoveryCompleted":       RecoveryCompleted(),
		"LoginLookupLabel":        LoginLookupLabel(),
		"LoginWithLookup":         LoginWithLookup(),
		"LookupReveal":            LookupReveal(),
		"LookupRegenerate":        LookupRegenerate(),
		"LookupConfirm":           LookupConfirm(),
		"LookupDisable":           LookupDisable(),
		"LookupCodesLabel":        LookupCodesLabel(),
		"LookupCode":              LookupCode("k3j2abcd"),
		"LookupCodeUsed":          LookupCodeUsed(at),
		"LookupCodeList":          LookupCodeList([]string{"k3j2abcd", "used"}, []*Message{LookupCode("k3j2abcd"), LookupCodeUsed(at)}),
		"LookupUsed":              LookupUsed(),
		"LookupNotSetUp":          LookupNotSetUp(),
		"LookupInvalid":           LookupInvalid(),
		"LabelTOTPCode":           LabelTOTPCode(),
		"LoginWithTOTP":           LoginWithTOTP(),
		"TOTPUnlink":              TOTPUnlink(),
		"TOTPQRCode":              TOTPQRCode(),
		"TOTPSecret":              TOTPSecret("JBSWY3DPEHPK3PXP"),
		"TOTPSecretLabel":         TOTPSecretLabel(),
		"LabelVerifyCode":         LabelVerifyCode(),
		"TOTPCodeInvalid":         TOTPCodeInvalid(),
		"NoTOTPDevice":            NoTOTPDevice(),

		"LoginWithPasskey":           LoginWithPasskey(),
		"RegisterWithPasskey":        RegisterWithPasskey(),
		"AddPasskey":                 AddPasskey(),
		"RemovePasskey":              RemovePasskey("My phone", at),
		"LoginWithProvider":          LoginWithProvider("Google", "google"),
		"RegisterWithProvider":       RegisterWithProvider("Google", "google"),
		"LinkProvider":               LinkProvider("Google"),
		"UnlinkProvider":             UnlinkProvider("Google"),
		"LinkAccountFirst":           LinkAccountFirst("Google", "a@example.org", "https://id.example/login", []string{"password"}, []string{"github"}),
		"SignInAndLink":              SignInAndLink(),
		"ConfirmWithProvider":        ConfirmWithProvider("GitHub"),
		"LinkedAccountMismatch":      LinkedAccountMismatch(),
		"SecurityKeyAccountNotFound": SecurityKeyAccountNotFound(),
		"NoSecurityKey":              NoSecurityKey(),

		"LoginWithSecurityKey":    LoginWithSecurityKey(),
		"SecurityKeyPrepare":      SecurityKeyPrepare(),
		"SecurityKeyContinue":     SecurityKeyContinue(),
		"RegisterWithSecurityKey": RegisterWithSecurityKey(),
		"AddSecurityKey":          AddSecurityKey(),
		"LabelSecurityKeyName":    LabelSecurityKeyName(),
		"RemoveSecurityKey":       RemoveSecurityKey("My key", at),
		"SecurityKeyInvalid":      SecurityKeyInvalid(),
	}
}

// checkContext compares m's context, as a UI receives it in JSON, with
// Kratos's keys and types for m's id.
func checkContext(t *testing.T, name string, m *Message) {
	t.Helper()
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var got struct {
		Context map[string]any `json:"context"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	want := kratosContext[m.ID]
	if !slices.Equal(sortedKeys(got.Context), sortedKeys(want)) {
		t.Errorf("%s (%d): context keys %v, Kratos's are %v", name, m.ID, sortedKeys(got.Context), sortedKeys(want))
	}
	for key, kind := range want {
		if v, ok := got.Context[key]; ok && !hasKind(v, kind) {
			t.Errorf("%s (%d): context %q = %s, want a JSON %s", name, m.ID, key, jsonOf(v), kind)
		}
	}
	// A Unix time says the same as its RFC 3339 sibling.
	for key, kind := range want {
		if kind != unix {
			continue
		}
		stamp, _ := got.Context[strings.TrimSuffix(key, "_unix")].(string)
		parsed, err := time.Parse(time.RFC3339Nano, stamp)
		if n, _ := got.Context[key].(json.Number); err == nil && n.String() != strconv.FormatInt(parsed.Unix(), 10) {
			t.Errorf("%s (%d): %s = %s, but %s", name, m.ID, key, n, stamp)
		}
	}
}

func TestContextMatchesKratos(t *testing.T) {
	for name, m := range samples() {
		if ownID(int64(m.ID)) {
			t.Errorf("%s: id %d is in Lanyard's own range but is sampled as Kratos's", name, m.ID)
		}
		checkContext(t, name, m)
	}
	if m := RecoverySuccessful(at); m.Context["privileged_session_expires_at_unix"] != at.Unix() ||
		!strings.Contains(m.Text, "2026-03-04T05:06:07Z") {
		t.Errorf("RecoverySuccessful(%v) = %+v", at, m)
	}
	if m := LoginExpired(time.Now().Add(-90 * time.Second)); !strings.Contains(m.Text, "1m30s") {
		t.Errorf("LoginExpired 90 s ago says %q", m.Text)
	}
}

// TestEveryConstructorIsChecked finds the constructors in the package's
// source, so that a new message cannot skip the context check: each is in
// samples (and makes the id it is sampled with), or uses an id of
// Lanyard's own.
func TestEveryConstructorIsChecked(t *testing.T) {
	fset := token.NewFileSet()
	paths, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	info := &types.Info{Types: map[ast.Expr]types.TypeAndValue{}, Defs: map[*ast.Ident]types.Object{}}
	conf := types.Config{Importer: importer.Default()}
	pkg, err := conf.Check("text", fset, files, info)
	if err != nil {
		t.Fatal(err)
	}
	message := pkg.Scope().Lookup("Message").Type()

	sampled := samples()
	found := map[string]bool{}
	for _, f := range files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv != nil || !fd.Name.IsExported() {
				continue
			}
			sig := info.Defs[fd.Name].Type().(*types.Signature)
			if sig.Results().Len() != 1 || !types.Identical(sig.Results().At(0).Type(), types.NewPointer(message)) {
				continue
			}
			name := fd.Name.Name
			found[name] = true
			ids := constantInts(fd.Body, info)
			m, ok := sampled[name]
			switch {
			case ok && !slices.Contains(ids, int64(m.ID)):
				t.Errorf("%s is sampled with id %d, which its body does not use (constants: %v)", name, m.ID, ids)
			case !ok && !slices.ContainsFunc(ids, ownID):
				t.Errorf("%s is neither in samples nor uses an id of Lanyard's own (%d-%d): add it to samples",
					name, ownFirst, ownLast)
			}
		}
	}
	for name := range sampled {
		if !found[name] {
			t.Errorf("samples has %s, which is no constructor of this package", name)
		}
	}
}

// TestSchemaMessagesMatchKratos checks the messages that schema
// validation puts on trait fields, which flow.FromSchema turns into
// Messages.
func TestSchemaMessagesMatchKratos(t *testing.T) {
	doc := `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "properties": {"traits": {"type": "object", "additionalProperties": false, "required": ["req"],
    "properties": {
      "req": {"type": "string"},
      "email": {"type": "string", "format": "email"},
      "short": {"type": "string", "minLength": 3},
      "long": {"type": "string", "maxLength": 2},
      "pat": {"type": "string", "pattern": "^[a-z]+$"},
      "min": {"type": "number", "minimum": 5},
      "xmin": {"type": "number", "exclusiveMinimum": 5},
      "max": {"type": "number", "maximum": 5},
      "xmax": {"type": "number", "exclusiveMaximum": 5},
      "mult": {"type": "number", "multipleOf": 3},
      "few": {"type": "array", "minItems": 2},
      "many": {"type": "array", "maxItems": 1},
      "uniq": {"type": "array", "uniqueItems": true},
      "typed": {"type": "integer"},
      "konst": {"const": "x"}
    }}}
}`
	reg, err := schema.Load(context.Background(), []schema.Source{{ID: "s", URL: "base64://" + base64.StdEncoding.EncodeToString([]byte(doc))}}, "s")
	if err != nil {
		t.Fatal(err)
	}
	var traits any
	_ = json.Unmarshal([]byte(`{"email": "nope", "short": "a", "long": "abc", "pat": "A", "min": 1, "xmin": 5, "max": 9,
		"xmax": 5, "mult": 4, "few": [1], "many": [1, 2], "uniq": [1, 1], "typed": "s", "konst": "y", "extra": 1}`), &traits)
	_, err = reg.Default().Validate(traits)
	ve, ok := err.(*schema.ValidationError)
	if !ok {
		t.Fatalf("Validate = %v, want a *schema.ValidationError", err)
	}
	seen := map[int]bool{}
	for _, c := range ve.Causes {
		seen[c.MessageID] = true
		checkContext(t, c.Field, &Message{ID: c.MessageID, Text: c.Text, Type: Error, Context: c.Context})
	}
	for _, id := range []int{4000001, 4000002, 4000003, 4000004, 4000017, 4000018, 4000019, 4000020, 4000021,
		4000022, 4000023, 4000024, 4000025, 4000026, 4000029, 4000040} {
		if !seen[id] {
			t.Errorf("no cause with message %d; causes: %+v", id, ve.Causes)
		}
	}
}

// constantInts lists the integer constants used in body.
func constantInts(body ast.Node, info *types.Info) []int64 {
	var out []int64
	ast.Inspect(body, func(n ast.Node) bool {
		e, ok := n.(ast.Expr)
		if !ok {
			return true
		}
		if tv, ok := info.Types[e]; ok && tv.Value != nil && tv.Value.Kind() == constant.Int {
			if v, exact := constant.Int64Val(tv.Value); exact {
				out = append(out, v)
			}
		}
		return true
	})
	return out
}

func hasKind(v any, kind valueKind) bool {
	switch kind {
	case str:
		_, ok := v.(string)
		return ok
	case integer, unix:
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		i, err := n.Int64()
		return err == nil && (kind == integer || i > 1e9)
	case number:
		_, ok := v.(json.Number)
		return ok
	case rfc3339:
		s, ok := v.(string)
		if !ok {
			return false
		}
		_, err := time.Parse(time.RFC3339Nano, s)
		return err == nil
	case strList:
		list, ok := v.([]any)
		for _, e := range list {
			if _, isStr := e.(string); !isStr {
				return false
			}
		}
		return ok
	case anyJSON:
		return true
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
