package schema

import (
	"slices"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Field is one leaf trait property, the material for a form input.
type Field struct {
	Name      string // "traits.email", "traits.name.first"
	Type      string // JSON type: string, number, integer, boolean, array
	Format    string // e.g. email, tel, date, date-time, uri
	Title     string
	Required  bool
	Pattern   string
	MinLength *int
	MaxLength *int
	Extension Extension // the property's "ory.sh/kratos" keyword
}

// Fields lists the leaf trait properties in schema order, following $ref
// and allOf, with nested objects flattened into dotted names.
func (s *Schema) Fields() []Field {
	out := make([]Field, len(s.fields))
	for i, f := range s.fields {
		f.MinLength = clonePtr(f.MinLength)
		f.MaxLength = clonePtr(f.MaxLength)
		out[i] = f
	}
	return out
}

func clonePtr(p *int) *int {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func (s *Schema) collectFields() []Field {
	var traits *jsonschema.Schema
	for _, v := range views(s.compiled) {
		if t, ok := v.Properties["traits"]; ok {
			traits = t
			break
		}
	}
	if traits == nil {
		return nil
	}
	var out []Field
	s.fieldsOf(traits, "traits", false, 0, map[*jsonschema.Schema]bool{}, &out)
	return out
}

// maxFieldDepth keeps recursive schemas (a tree of nested objects) from
// producing endless form fields.
const maxFieldDepth = 16

func (s *Schema) fieldsOf(sch *jsonschema.Schema, name string, required bool, depth int, onPath map[*jsonschema.Schema]bool, out *[]Field) {
	if depth > maxFieldDepth || onPath[sch] {
		return
	}
	vs := views(sch)
	typ := typeOf(vs)
	if typ == "object" {
		onPath[sch] = true
		defer delete(onPath, sch)
		var req []string
		seen := map[string]bool{}
		for _, v := range vs {
			req = append(req, v.Required...)
		}
		for _, v := range vs {
			for _, prop := range s.order[v] {
				if seen[prop] {
					continue
				}
				seen[prop] = true
				s.fieldsOf(v.Properties[prop], name+"."+prop, slices.Contains(req, prop), depth+1, onPath, out)
			}
		}
		return
	}
	if typ == "" || typ == "null" {
		return
	}
	f := Field{Name: name, Type: typ, Required: required}
	for _, v := range vs {
		if f.Title == "" {
			f.Title = v.Title
		}
		if n := noteOf(v); n != nil {
			if f.Format == "" {
				f.Format = n.format
			}
			if n.hasExt && f.Extension.IsZero() {
				f.Extension = n.ext
			}
		}
		if f.Pattern == "" && v.Pattern != nil {
			f.Pattern = v.Pattern.String()
		}
		if f.MinLength == nil && v.MinLength != nil {
			f.MinLength = clonePtr(v.MinLength)
		}
		if f.MaxLength == nil && v.MaxLength != nil {
			f.MaxLength = clonePtr(v.MaxLength)
		}
	}
	*out = append(*out, f)
}

// views is a schema together with everything it pulls in without moving
// to another value: $ref targets and allOf members.
func views(sch *jsonschema.Schema) []*jsonschema.Schema {
	var out []*jsonschema.Schema
	seen := map[*jsonschema.Schema]bool{}
	var add func(s *jsonschema.Schema, depth int)
	add = func(s *jsonschema.Schema, depth int) {
		if s == nil || seen[s] || depth > maxFieldDepth {
			return
		}
		seen[s] = true
		out = append(out, s)
		add(s.Ref, depth+1)
		add(s.RecursiveRef, depth+1)
		if s.DynamicRef != nil {
			add(s.DynamicRef.Ref, depth+1)
		}
		for _, a := range s.AllOf {
			add(a, depth+1)
		}
	}
	add(sch, 0)
	return out
}

// typeOf picks the first declared non-null type; a schema with properties
// but no type is an object.
func typeOf(vs []*jsonschema.Schema) string {
	for _, v := range vs {
		if v.Types == nil || v.Types.IsEmpty() {
			continue
		}
		ts := v.Types.ToStrings()
		for _, t := range ts {
			if t != "null" {
				return t
			}
		}
		return "null"
	}
	for _, v := range vs {
		if len(v.Properties) > 0 {
			return "object"
		}
	}
	return ""
}
