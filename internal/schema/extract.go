package schema

import (
	"slices"
	"sort"
	"strconv"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// extractor walks a valid document together with the compiled schema and
// applies the "ory.sh/kratos" keyword of every schema that applies to a
// value. Walking after validation keeps the compiled schema free of
// per-call state.
type extractor struct {
	s       *Schema
	out     *Extracted
	visited map[visit]bool
}

type visit struct {
	sch *jsonschema.Schema
	loc string
}

// maxWalkDepth stops pathological recursive schemas; real identity
// documents are a few levels deep.
const maxWalkDepth = 64

func (s *Schema) extract(doc any) *Extracted {
	x := &extractor{
		s:       s,
		out:     &Extracted{Identifiers: map[string][]string{}, CodeVia: map[string]string{}},
		visited: map[visit]bool{},
	}
	x.walk(s.compiled, doc, "", 0)
	return x.out
}

func (x *extractor) walk(sch *jsonschema.Schema, v any, loc string, depth int) {
	if sch == nil || depth > maxWalkDepth {
		return
	}
	key := visit{sch, loc}
	if x.visited[key] {
		return
	}
	x.visited[key] = true

	if n := noteOf(sch); n != nil && n.hasExt {
		if str, ok := v.(string); ok {
			x.apply(n.ext, str)
		}
	}

	// In-place applicators: the same value, another schema.
	x.walk(sch.Ref, v, loc, depth+1)
	x.walk(sch.RecursiveRef, v, loc, depth+1)
	if sch.DynamicRef != nil {
		x.walk(sch.DynamicRef.Ref, v, loc, depth+1)
	}
	for _, c := range sch.AllOf {
		x.walk(c, v, loc, depth+1)
	}
	// Only branches the value satisfies contribute, like an identity that
	// matches one alternative of a oneOf.
	for _, c := range sch.AnyOf {
		if c.Validate(v) == nil {
			x.walk(c, v, loc, depth+1)
		}
	}
	for _, c := range sch.OneOf {
		if c.Validate(v) == nil {
			x.walk(c, v, loc, depth+1)
		}
	}
	if sch.If != nil {
		if sch.If.Validate(v) == nil {
			x.walk(sch.Then, v, loc, depth+1)
		} else {
			x.walk(sch.Else, v, loc, depth+1)
		}
	}

	switch val := v.(type) {
	case map[string]any:
		x.walkObject(sch, val, loc, depth)
	case []any:
		x.walkArray(sch, val, loc, depth)
	}
}

func (x *extractor) walkObject(sch *jsonschema.Schema, obj map[string]any, loc string, depth int) {
	for _, name := range x.s.order[sch] {
		if pv, ok := obj[name]; ok {
			x.walk(sch.Properties[name], pv, loc+"/"+escapePointerToken(name), depth+1)
		}
	}
	if len(sch.PatternProperties) == 0 && sch.AdditionalProperties == nil && len(sch.DependentSchemas) == 0 {
		return
	}
	names := make([]string, 0, len(obj))
	for name := range obj {
		names = append(names, name)
	}
	sort.Strings(names)
	patterns := sortedPatterns(sch.PatternProperties)
	additional, _ := sch.AdditionalProperties.(*jsonschema.Schema)
	for _, name := range names {
		child := loc + "/" + escapePointerToken(name)
		matched := false
		if _, ok := sch.Properties[name]; ok {
			matched = true
		}
		for _, p := range patterns {
			if p.MatchString(name) {
				matched = true
				x.walk(sch.PatternProperties[p], obj[name], child, depth+1)
			}
		}
		if !matched && additional != nil {
			x.walk(additional, obj[name], child, depth+1)
		}
		if dep, ok := sch.DependentSchemas[name]; ok {
			x.walk(dep, obj, loc, depth+1)
		}
	}
}

func sortedPatterns(m map[jsonschema.Regexp]*jsonschema.Schema) []jsonschema.Regexp {
	ps := make([]jsonschema.Regexp, 0, len(m))
	for p := range m {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].String() < ps[j].String() })
	return ps
}

func (x *extractor) walkArray(sch *jsonschema.Schema, arr []any, loc string, depth int) {
	for i, item := range arr {
		child := loc + "/" + strconv.Itoa(i)
		var itemSch *jsonschema.Schema
		switch items := sch.Items.(type) {
		case *jsonschema.Schema:
			itemSch = items
		case []*jsonschema.Schema:
			if i < len(items) {
				itemSch = items[i]
			} else if ai, ok := sch.AdditionalItems.(*jsonschema.Schema); ok {
				itemSch = ai
			}
		}
		if i < len(sch.PrefixItems) {
			itemSch = sch.PrefixItems[i]
		} else if sch.Items2020 != nil {
			itemSch = sch.Items2020
		}
		x.walk(itemSch, item, child, depth+1)
	}
}

// apply records what one keyword says about one string value.
func (x *extractor) apply(e Extension, value string) {
	out := x.out
	if e.PasswordIdentifier {
		x.addIdentifier(CredentialPassword, NormalizeIdentifier(value))
	}
	if e.WebAuthnIdentifier {
		x.addIdentifier(CredentialWebAuthn, NormalizeIdentifier(value))
	}
	if e.CodeIdentifier && e.CodeVia != "" {
		addr := NormalizeAddress(e.CodeVia, value)
		if addr != "" {
			x.addIdentifier(CredentialCode, addr)
			if _, ok := out.CodeVia[addr]; !ok {
				out.CodeVia[addr] = e.CodeVia
			}
		}
	}
	if e.VerificationVia != "" {
		out.Verifiable = addAddress(out.Verifiable, e.VerificationVia, value)
	}
	if e.RecoveryVia != "" {
		out.Recovery = addAddress(out.Recovery, e.RecoveryVia, value)
	}
	if e.TOTPAccountName && out.TOTPAccountName == "" {
		out.TOTPAccountName = value
	}
	if e.PasskeyDisplayName && out.PasskeyDisplayName == "" {
		out.PasskeyDisplayName = value
	}
}

// addIdentifier skips empty values: an empty identifier would collide
// across identities and can never be typed at login.
func (x *extractor) addIdentifier(typ, id string) {
	if id == "" || slices.Contains(x.out.Identifiers[typ], id) {
		return
	}
	x.out.Identifiers[typ] = append(x.out.Identifiers[typ], id)
}

func addAddress(list []Address, via, value string) []Address {
	a := Address{Via: via, Value: NormalizeAddress(via, value)}
	if a.Value == "" || slices.Contains(list, a) {
		return list
	}
	return append(list, a)
}
