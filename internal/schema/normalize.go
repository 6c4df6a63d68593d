package schema

import (
	"errors"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// emailCheck reuses the validator library's "email" format so that the
// extension checks and the schema's own format agree on what an email is.
var emailCheck = sync.OnceValue(func() func(any) error {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	const loc = "lanyard://formats/email.json"
	if err := c.AddResource(loc, map[string]any{"format": "email"}); err != nil {
		panic(err) // static input; cannot fail
	}
	sch := c.MustCompile(loc)
	return sch.Format.Validate
})

func isEmail(s string) bool {
	return s != "" && emailCheck()(s) == nil
}

// telFormat is the "tel" format Kratos supports. Kratos asks libphonenumber
// whether the number is valid; this is a structural E.164 check: a leading
// "+", a non-zero country code digit, 7 to 15 digits in all, and only the
// usual separators between them.
var telFormat = &jsonschema.Format{
	Name: "tel",
	Validate: func(v any) error {
		s, ok := v.(string)
		if !ok {
			return nil
		}
		if _, ok := NormalizePhone(s); !ok {
			return errors.New("not an international phone number (E.164, e.g. +4915112345678)")
		}
		return nil
	},
}

// NormalizePhone returns the E.164 form ("+" and digits) of s, or false
// when s does not look like an international phone number.
func NormalizePhone(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "+") {
		return "", false
	}
	var sb strings.Builder
	sb.WriteByte('+')
	digits := 0
	for _, r := range s[1:] {
		switch {
		case r >= '0' && r <= '9':
			if digits == 0 && r == '0' {
				return "", false
			}
			sb.WriteRune(r)
			digits++
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')' || r == '/':
		default:
			return "", false
		}
	}
	if digits < 7 || digits > 15 {
		return "", false
	}
	return sb.String(), true
}

// NormalizeIdentifier is how identifiers are stored, and how a login
// strategy must treat what the user typed before looking it up: trimmed,
// phone numbers in E.164, everything else lower-cased (as Kratos does).
func NormalizeIdentifier(s string) string {
	s = strings.TrimSpace(s)
	if p, ok := NormalizePhone(s); ok {
		return p
	}
	return strings.ToLower(s)
}

// NormalizeAddress normalises a verification, recovery or code address for
// its channel ("email" or "sms").
func NormalizeAddress(via, s string) string {
	if via == ViaSMS {
		if p, ok := NormalizePhone(s); ok {
			return p
		}
		return strings.TrimSpace(s)
	}
	return strings.ToLower(strings.TrimSpace(s))
}
