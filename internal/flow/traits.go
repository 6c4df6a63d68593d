package flow

import (
	"strings"

	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/text"
)

// TraitNodes makes one input per trait of the schema, prefilled from
// traits (which may be nil). Hidden renders them as hidden inputs, as the
// second step of two-step registration does.
func TraitNodes(sch *schema.Schema, group string, traits map[string]any, hidden bool) []*Node {
	var out []*Node
	for _, f := range sch.Fields() {
		typ := inputType(f)
		if typ == "" {
			continue
		}
		if hidden {
			typ = "hidden"
		}
		title := f.Title
		if title == "" {
			title = strings.TrimPrefix(f.Name, "traits.")
		}
		n := Input(group, f.Name, typ, lookup(traits, strings.TrimPrefix(f.Name, "traits.")), text.LabelGenerated(title, f.Name))
		n.Attributes.Required = f.Required
		n.Attributes.Pattern = f.Pattern
		switch {
		case f.Format == "email" || f.Extension.VerificationVia == "email" || f.Extension.CodeVia == "email":
			n.Attributes.Autocomplete = "email"
		case f.Format == "tel" || f.Extension.VerificationVia == "sms":
			n.Attributes.Autocomplete = "tel"
		}
		out = append(out, n)
	}
	return out
}

func inputType(f schema.Field) string {
	switch f.Type {
	case "boolean":
		return "checkbox"
	case "number", "integer":
		return "number"
	case "string":
		switch f.Format {
		case "email":
			return "email"
		case "tel":
			return "tel"
		case "date":
			return "date"
		case "date-time":
			return "datetime-local"
		case "uri", "url":
			return "url"
		}
		return "text"
	}
	return "" // arrays and objects have no single input
}

func lookup(m map[string]any, dotted string) any {
	var v any = m
	for _, part := range strings.Split(dotted, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[part]
	}
	return v
}

// IdentifierLabel labels the identifier input of login: the schema title
// of the one trait people sign in with (a password or code identifier),
// else the generic "ID".
func IdentifierLabel(sch *schema.Schema) *text.Message {
	var found *schema.Field
	for _, fd := range sch.Fields() {
		if !fd.Extension.PasswordIdentifier && !fd.Extension.CodeIdentifier {
			continue
		}
		if found != nil {
			return text.LabelID()
		}
		fd := fd
		found = &fd
	}
	if found == nil || found.Title == "" {
		return text.LabelID()
	}
	return text.LabelGenerated(found.Title, "identifier")
}
