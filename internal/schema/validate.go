package schema

import (
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Kratos message ids for schema validation failures.
const (
	MsgGeneric          = 4000001
	MsgRequired         = 4000002
	MsgMinLength        = 4000003
	MsgPattern          = 4000004
	MsgMaxLength        = 4000017
	MsgMinimum          = 4000018
	MsgExclusiveMinimum = 4000019
	MsgMaximum          = 4000020
	MsgExclusiveMaximum = 4000021
	MsgMultipleOf       = 4000022
	MsgMaxItems         = 4000023
	MsgMinItems         = 4000024
	MsgUniqueItems      = 4000025
	MsgWrongType        = 4000026
	MsgConst            = 4000029
	MsgConstGeneric     = 4000030
	MsgInvalidEmail     = 4000040
	MsgInvalidPhone     = 4000041
)

// ValidationError reports every way the traits violate the schema.
type ValidationError struct {
	Causes []Cause
}

// Cause is one schema violation, located and translated into a Kratos
// message.
type Cause struct {
	Pointer       string         // instance location, e.g. "/traits/email"
	Field         string         // dotted UI node name, e.g. "traits.email"
	SchemaPointer string         // failing keyword, e.g. "#/properties/traits/properties/email/format"
	MessageID     int            // Kratos message id
	Text          string         // English text
	Context       map[string]any // values used in Text, with Kratos's key names
}

// Error names every failing field on one line; admins see it as the error
// reason.
func (e *ValidationError) Error() string {
	if len(e.Causes) == 0 {
		return "the traits do not match the identity schema"
	}
	parts := make([]string, len(e.Causes))
	for i, c := range e.Causes {
		parts[i] = fmt.Sprintf("I[#%s] S[%s] %s", c.Pointer, c.SchemaPointer, c.Text)
	}
	return strings.Join(parts, "; ")
}

// Extracted is what the extension keywords pick out of valid traits.
type Extracted struct {
	// Identifiers maps a credential type ("password", "webauthn", "code") to
	// its normalised identifiers, de-duplicated, in schema order.
	Identifiers        map[string][]string
	Verifiable         []Address
	Recovery           []Address
	TOTPAccountName    string
	PasskeyDisplayName string
	// CodeVia maps each code identifier to its channel ("email" or "sms").
	CodeVia map[string]string
}

// Address is a verification or recovery address.
type Address struct {
	Via   string // "email" or "sms"
	Value string // normalised
}

// Validate validates traits (decoded JSON) as the document {"traits":
// traits}. When they are valid it returns what the extension keywords
// select; otherwise a *ValidationError.
func (s *Schema) Validate(traits any) (*Extracted, error) {
	doc := map[string]any{"traits": traits}
	if err := s.compiled.Validate(doc); err != nil {
		return nil, translate(err)
	}
	return s.extract(doc), nil
}

var printer = message.NewPrinter(language.English)

func translate(err error) *ValidationError {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return &ValidationError{Causes: []Cause{{
			Pointer: "", Field: "", SchemaPointer: "#", MessageID: MsgGeneric,
			Text: err.Error(), Context: map[string]any{"reason": err.Error()},
		}}}
	}
	var causes []Cause
	collectCauses(ve, &causes)
	sort.SliceStable(causes, func(i, j int) bool { return causes[i].Pointer < causes[j].Pointer })
	// anyOf/oneOf branches and the extension check can report the same
	// problem twice.
	seen := map[string]bool{}
	out := causes[:0]
	for _, c := range causes {
		key := fmt.Sprintf("%s\x00%d\x00%s", c.Pointer, c.MessageID, c.Text)
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, c)
	}
	return &ValidationError{Causes: out}
}

// collectCauses flattens the error tree to its leaves, as Kratos does when
// it puts messages on UI nodes.
func collectCauses(e *jsonschema.ValidationError, out *[]Cause) {
	if len(e.Causes) > 0 {
		for _, c := range e.Causes {
			collectCauses(c, out)
		}
		return
	}
	schemaPtr := keywordLocation(e)
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		for _, m := range k.Missing {
			*out = append(*out, requiredCause(e.InstanceLocation, m, schemaPtr))
		}
		return
	case *kind.DependentRequired:
		for _, m := range k.Missing {
			*out = append(*out, requiredCause(e.InstanceLocation, m, schemaPtr))
		}
		return
	case *kind.Dependency:
		for _, m := range k.Missing {
			*out = append(*out, requiredCause(e.InstanceLocation, m, schemaPtr))
		}
		return
	}
	id, text, ctx := message4(e)
	*out = append(*out, Cause{
		Pointer:       jsonPointer(e.InstanceLocation),
		Field:         dottedName(e.InstanceLocation),
		SchemaPointer: schemaPtr,
		MessageID:     id,
		Text:          text,
		Context:       ctx,
	})
}

// requiredCause points at the missing property itself, so that the
// message lands on that property's UI node.
func requiredCause(loc []string, missing, schemaPtr string) Cause {
	tokens := append(append([]string{}, loc...), missing)
	return Cause{
		Pointer:       jsonPointer(tokens),
		Field:         dottedName(tokens),
		SchemaPointer: schemaPtr,
		MessageID:     MsgRequired,
		Text:          fmt.Sprintf("Property %s is missing.", missing),
		Context:       map[string]any{"property": missing},
	}
}

func keywordLocation(e *jsonschema.ValidationError) string {
	_, frag, _ := strings.Cut(e.SchemaURL, "#")
	if f, err := url.PathUnescape(frag); err == nil {
		frag = f
	}
	var kw []string
	if e.ErrorKind != nil {
		kw = e.ErrorKind.KeywordPath()
	}
	return "#" + frag + jsonPointer(kw)
}

// message4 maps an error kind to Kratos's message id, an English text and
// the context values, using Kratos's context key names.
func message4(e *jsonschema.ValidationError) (int, string, map[string]any) {
	switch k := e.ErrorKind.(type) {
	case *kind.MinLength:
		return MsgMinLength, fmt.Sprintf("length must be >= %d, but got %d", k.Want, k.Got),
			map[string]any{"min_length": k.Want, "actual_length": k.Got}
	case *kind.MaxLength:
		return MsgMaxLength, fmt.Sprintf("length must be <= %d, but got %d", k.Want, k.Got),
			map[string]any{"max_length": k.Want, "actual_length": k.Got}
	case *kind.Pattern:
		return MsgPattern, fmt.Sprintf("does not match pattern %q", k.Want),
			map[string]any{"pattern": k.Want}
	case *kind.Format:
		got := fmt.Sprint(k.Got)
		switch k.Want {
		case "email":
			return MsgInvalidEmail, fmt.Sprintf("%q is not a valid email address", got), map[string]any{"value": got}
		case "tel":
			return MsgInvalidPhone, fmt.Sprintf("%q is not a valid phone number", got), map[string]any{"value": got}
		}
		text := fmt.Sprintf("%q is not valid %q", got, k.Want)
		return MsgGeneric, text, map[string]any{"reason": text}
	case *addressKind:
		if k.Want == "email" {
			return MsgInvalidEmail, fmt.Sprintf("%q is not a valid email address", k.Got), map[string]any{"value": k.Got}
		}
		return MsgInvalidPhone, fmt.Sprintf("%q is not a valid phone number", k.Got), map[string]any{"value": k.Got}
	case *kind.Minimum:
		want, got := ratFloat(k.Want), ratFloat(k.Got)
		return MsgMinimum, fmt.Sprintf("must be >= %v but found %v", want, got), map[string]any{"minimum": want, "actual": got}
	case *kind.ExclusiveMinimum:
		want, got := ratFloat(k.Want), ratFloat(k.Got)
		return MsgExclusiveMinimum, fmt.Sprintf("must be > %v but found %v", want, got), map[string]any{"minimum": want, "actual": got}
	case *kind.Maximum:
		want, got := ratFloat(k.Want), ratFloat(k.Got)
		return MsgMaximum, fmt.Sprintf("must be <= %v but found %v", want, got), map[string]any{"maximum": want, "actual": got}
	case *kind.ExclusiveMaximum:
		want, got := ratFloat(k.Want), ratFloat(k.Got)
		return MsgExclusiveMaximum, fmt.Sprintf("must be < %v but found %v", want, got), map[string]any{"maximum": want, "actual": got}
	case *kind.MultipleOf:
		want, got := ratFloat(k.Want), ratFloat(k.Got)
		return MsgMultipleOf, fmt.Sprintf("%v is not a multiple of %v", got, want), map[string]any{"base": want, "actual": got}
	case *kind.MaxItems:
		return MsgMaxItems, fmt.Sprintf("at most %d items allowed, but found %d", k.Want, k.Got),
			map[string]any{"max_items": k.Want, "actual_items": k.Got}
	case *kind.MinItems:
		return MsgMinItems, fmt.Sprintf("at least %d items required, but found %d", k.Want, k.Got),
			map[string]any{"min_items": k.Want, "actual_items": k.Got}
	case *kind.UniqueItems:
		return MsgUniqueItems, fmt.Sprintf("items at index %d and %d are equal", k.Duplicates[0], k.Duplicates[1]),
			map[string]any{"index_a": k.Duplicates[0], "index_b": k.Duplicates[1]}
	case *kind.Type:
		return MsgWrongType, fmt.Sprintf("expected %s, but got %s", strings.Join(k.Want, " or "), k.Got),
			map[string]any{"allowed_types": append([]string(nil), k.Want...), "actual_type": k.Got}
	case *kind.Const:
		switch k.Want.(type) {
		case map[string]any, []any:
			return MsgConstGeneric, "value does not equal the required constant", nil
		}
		return MsgConst, fmt.Sprintf("must be equal to constant %v", k.Want), map[string]any{"expected": k.Want}
	case *kind.AdditionalProperties:
		text := fmt.Sprintf("additional properties %s are not allowed", quoteAll(k.Properties))
		if len(k.Properties) == 1 {
			text = fmt.Sprintf("additional property %q is not allowed", k.Properties[0])
		}
		return MsgGeneric, text, map[string]any{"reason": text}
	case nil:
		return MsgGeneric, "validation failed", map[string]any{"reason": "validation failed"}
	}
	text := e.ErrorKind.LocalizedString(printer)
	return MsgGeneric, text, map[string]any{"reason": text}
}

func ratFloat(r *big.Rat) float64 {
	if r == nil {
		return 0
	}
	f, _ := r.Float64()
	return f
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
