package schema

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/message"
)

// ExtensionKeyword is the JSON Schema keyword Kratos uses to tie identity
// traits to credentials, verification and recovery.
const ExtensionKeyword = "ory.sh/kratos"

// Address channels accepted by the "via" settings.
const (
	ViaEmail = "email"
	ViaSMS   = "sms"
)

// Credential types that can take identifiers from traits.
const (
	CredentialPassword = "password"
	CredentialWebAuthn = "webauthn"
	CredentialCode     = "code"
)

// Extension is the parsed "ory.sh/kratos" keyword of one schema property.
type Extension struct {
	PasswordIdentifier  bool   // credentials.password.identifier
	WebAuthnIdentifier  bool   // credentials.webauthn.identifier
	PasskeyDisplayName  bool   // credentials.passkey.display_name
	TOTPAccountName     bool   // credentials.totp.account_name
	CodeIdentifier      bool   // credentials.code.identifier
	CodeVia             string // credentials.code.via: "email" or "sms"
	VerificationVia     string // verification.via: "email" or "sms"
	RecoveryVia         string // recovery.via: "email" or "sms"
	OrganizationMatcher string // organizations.matcher
}

// IsZero reports whether the keyword sets nothing.
func (e Extension) IsZero() bool { return e == Extension{} }

// parseExtension validates the keyword's shape the way Kratos's extension
// meta-schema does: known keys only, booleans and enums checked.
func parseExtension(v any) (Extension, error) {
	var e Extension
	root, err := object(v, "")
	if err != nil {
		return e, err
	}
	for key, val := range root {
		switch key {
		case "credentials":
			creds, err := object(val, "credentials")
			if err != nil {
				return e, err
			}
			if err := parseCredentials(creds, &e); err != nil {
				return e, err
			}
		case "verification":
			if e.VerificationVia, err = parseVia(val, "verification"); err != nil {
				return e, err
			}
		case "recovery":
			if e.RecoveryVia, err = parseVia(val, "recovery"); err != nil {
				return e, err
			}
		case "organizations":
			org, err := object(val, "organizations")
			if err != nil {
				return e, err
			}
			for k, v := range org {
				if k != "matcher" {
					return e, unknownKey("organizations", k)
				}
				s, ok := v.(string)
				if !ok {
					return e, fmt.Errorf("organizations.matcher must be a string")
				}
				e.OrganizationMatcher = s
			}
		default:
			return e, unknownKey("", key)
		}
	}
	if e.CodeIdentifier && e.CodeVia == "" {
		return e, errors.New(`credentials.code.identifier is true but credentials.code.via is not set (use "email" or "sms")`)
	}
	return e, nil
}

func parseCredentials(creds map[string]any, e *Extension) error {
	for method, val := range creds {
		switch method {
		case "password", "webauthn", "passkey", "totp", "code":
		default:
			return unknownKey("credentials", method)
		}
		path := "credentials." + method
		m, err := object(val, path)
		if err != nil {
			return err
		}
		for k, v := range m {
			var target *bool
			switch method + "." + k {
			case "password.identifier":
				target = &e.PasswordIdentifier
			case "webauthn.identifier":
				target = &e.WebAuthnIdentifier
			case "passkey.display_name":
				target = &e.PasskeyDisplayName
			case "totp.account_name":
				target = &e.TOTPAccountName
			case "code.identifier":
				target = &e.CodeIdentifier
			case "code.via":
				via, err := viaValue(v, path+".via")
				if err != nil {
					return err
				}
				e.CodeVia = via
				continue
			default:
				return unknownKey(path, k)
			}
			b, ok := v.(bool)
			if !ok {
				return fmt.Errorf("%s.%s must be a boolean", path, k)
			}
			*target = b
		}
	}
	return nil
}

func parseVia(v any, path string) (string, error) {
	m, err := object(v, path)
	if err != nil {
		return "", err
	}
	var via string
	for k, val := range m {
		if k != "via" {
			return "", unknownKey(path, k)
		}
		if via, err = viaValue(val, path+".via"); err != nil {
			return "", err
		}
	}
	return via, nil
}

func viaValue(v any, path string) (string, error) {
	s, ok := v.(string)
	if !ok || (s != ViaEmail && s != ViaSMS) {
		return "", fmt.Errorf(`%s must be "email" or "sms", got %s`, path, describe(v))
	}
	return s, nil
}

func object(v any, path string) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		if path == "" {
			return nil, fmt.Errorf("the value must be an object, got %s", describe(v))
		}
		return nil, fmt.Errorf("%s must be an object, got %s", path, describe(v))
	}
	return m, nil
}

func unknownKey(path, key string) error {
	if path == "" {
		return fmt.Errorf("unknown key %q", key)
	}
	return fmt.Errorf("unknown key %q in %s", key, path)
}

func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("%q", v)
	case bool:
		return fmt.Sprintf("%t", v)
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	default:
		return fmt.Sprintf("%v", v)
	}
}

// checkExtensions walks a raw schema document and validates every
// "ory.sh/kratos" keyword, so a mistake is reported with its location
// before compilation.
func checkExtensions(doc any, ptr string, depth int) error {
	if depth > maxJSONDepth {
		return nil
	}
	switch v := doc.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			child := ptr + "/" + escapePointerToken(k)
			if k == ExtensionKeyword {
				if _, err := parseExtension(v[k]); err != nil {
					return fmt.Errorf("invalid %q keyword at #%s: %w", ExtensionKeyword, child, err)
				}
				continue
			}
			if err := checkExtensions(v[k], child, depth+1); err != nil {
				return err
			}
		}
	case []any:
		for i, item := range v {
			if err := checkExtensions(item, fmt.Sprintf("%s/%d", ptr, i), depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// --- vocabulary ---

// schemaNote is attached to every compiled schema object that carries the
// Kratos keyword or a format. It keeps the raw format name, which the
// compiler drops for formats it does not know.
type schemaNote struct {
	ext    Extension
	hasExt bool
	format string
}

func noteOf(sch *jsonschema.Schema) *schemaNote {
	if sch == nil {
		return nil
	}
	for _, e := range sch.Extensions {
		if n, ok := e.(*schemaNote); ok {
			return n
		}
	}
	return nil
}

// Validate enforces what Kratos checks while it runs the extension: an
// address used for verification, recovery or code login must really be an
// email address or phone number, whatever the schema's own format says.
func (n *schemaNote) Validate(ctx *jsonschema.ValidatorContext, v any) {
	if !n.hasExt {
		return
	}
	s, ok := v.(string)
	if !ok {
		return
	}
	needEmail, needPhone := false, false
	for _, via := range []string{n.ext.VerificationVia, n.ext.RecoveryVia, codeVia(n.ext)} {
		switch via {
		case ViaEmail:
			needEmail = true
		case ViaSMS:
			needPhone = true
		}
	}
	if needEmail && !isEmail(strings.TrimSpace(s)) {
		ctx.AddError(&addressKind{Got: s, Want: "email"})
	}
	if needPhone {
		if _, ok := NormalizePhone(s); !ok {
			ctx.AddError(&addressKind{Got: s, Want: "tel"})
		}
	}
}

func codeVia(e Extension) string {
	if e.CodeIdentifier {
		return e.CodeVia
	}
	return ""
}

// addressKind is the validation error raised by schemaNote.
type addressKind struct {
	Got  string
	Want string // "email" or "tel"
}

func (*addressKind) KeywordPath() []string { return []string{ExtensionKeyword} }

func (k *addressKind) LocalizedString(p *message.Printer) string {
	return p.Sprintf("%q is not valid %q", k.Got, k.Want)
}

const vocabularyURL = "https://lanyard.invalid/vocab/ory.sh-kratos"

func kratosVocabulary() *jsonschema.Vocabulary {
	return &jsonschema.Vocabulary{
		URL: vocabularyURL,
		Compile: func(_ *jsonschema.CompilerContext, obj map[string]any) (jsonschema.SchemaExt, error) {
			n := &schemaNote{}
			if f, ok := obj["format"].(string); ok {
				n.format = f
			}
			if raw, ok := obj[ExtensionKeyword]; ok {
				ext, err := parseExtension(raw)
				if err != nil {
					return nil, fmt.Errorf("invalid %q keyword: %w", ExtensionKeyword, err)
				}
				n.ext, n.hasExt = ext, true
			}
			if !n.hasExt && n.format == "" {
				return nil, nil
			}
			return n, nil
		},
	}
}
