// Package schema loads Kratos identity schemas, validates identity traits
// against them and reads the "ory.sh/kratos" extension keyword, which says
// which traits are login identifiers and verification or recovery
// addresses.
package schema

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// DefaultID is the id of the built-in schema used when none is configured.
const DefaultID = "default"

//go:embed default.schema.json
var defaultSchemaJSON []byte

// Source names one configured schema (identity.schemas[] in Kratos's
// config). URL is file:///abs/path, base64://<data> or http(s)://...
type Source struct {
	ID  string
	URL string
}

// Registry holds the compiled identity schemas. It is immutable after
// Load and safe for concurrent use.
type Registry struct {
	schemas   []*Schema
	byID      map[string]*Schema
	defaultID string
}

// Schema is one compiled identity schema.
type Schema struct {
	ID  string
	URL string
	// Raw is the schema document as fetched, served by GET /schemas/{id}.
	Raw json.RawMessage

	compiled *jsonschema.Schema
	order    map[*jsonschema.Schema][]string
	fields   []Field
}

// Load fetches and compiles every source. With no sources the registry
// holds the built-in default schema under the id "default". defaultID
// names the schema new identities get; empty means "default" if present,
// otherwise the first source.
func Load(ctx context.Context, sources []Source, defaultID string) (*Registry, error) {
	if len(sources) == 0 {
		sources = []Source{{ID: DefaultID, URL: "base64://" + base64.StdEncoding.EncodeToString(defaultSchemaJSON)}}
	}
	r := &Registry{byID: make(map[string]*Schema, len(sources))}
	for i, src := range sources {
		if strings.TrimSpace(src.ID) == "" {
			return nil, fmt.Errorf("identity schema #%d (%s): id is empty", i+1, shortURL(src.URL))
		}
		if _, dup := r.byID[src.ID]; dup {
			return nil, fmt.Errorf("identity schema %q is configured twice", src.ID)
		}
		s, err := load(ctx, src)
		if err != nil {
			return nil, fmt.Errorf("identity schema %q (%s): %w", src.ID, shortURL(src.URL), err)
		}
		r.schemas = append(r.schemas, s)
		r.byID[s.ID] = s
	}
	switch {
	case defaultID != "":
		if _, ok := r.byID[defaultID]; !ok {
			return nil, fmt.Errorf("default identity schema %q is not among the configured schemas (%s)", defaultID, strings.Join(r.ids(), ", "))
		}
		r.defaultID = defaultID
	case r.byID[DefaultID] != nil:
		r.defaultID = DefaultID
	default:
		r.defaultID = r.schemas[0].ID
	}
	return r, nil
}

func (r *Registry) ids() []string {
	ids := make([]string, len(r.schemas))
	for i, s := range r.schemas {
		ids[i] = s.ID
	}
	return ids
}

// Get returns the schema with the given id.
func (r *Registry) Get(id string) (*Schema, bool) {
	s, ok := r.byID[id]
	return s, ok
}

// Default returns the schema new identities get when none is named.
func (r *Registry) Default() *Schema { return r.byID[r.defaultID] }

// All returns the schemas in configuration order.
func (r *Registry) All() []*Schema {
	out := make([]*Schema, len(r.schemas))
	copy(out, r.schemas)
	return out
}

// shortURL keeps error messages readable when a base64:// URL holds a
// whole document.
func shortURL(u string) string {
	if strings.HasPrefix(u, "base64://") && len(u) > 40 {
		return u[:40] + "..."
	}
	return u
}

func load(ctx context.Context, src Source) (*Schema, error) {
	raw, err := fetch(ctx, src.URL)
	if err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	docURL, err := documentURL(src)
	if err != nil {
		return nil, err
	}
	loader := &refLoader{ctx: ctx, docs: map[string]docEntry{}}
	doc, err := loader.add(docURL, raw)
	if err != nil {
		return nil, err
	}
	if err := checkIdentityShape(doc); err != nil {
		return nil, err
	}

	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7) // Kratos's default when $schema is absent
	c.AssertFormat()                  // formats are assertions in Kratos, also for 2019-09 and later
	c.AssertVocabs()
	c.RegisterVocabulary(kratosVocabulary())
	c.RegisterFormat(telFormat)
	c.UseLoader(loader)
	if err := c.AddResource(docURL, doc); err != nil {
		return nil, fmt.Errorf("compile: %w", err)
	}
	compiled, err := c.Compile(docURL)
	if err != nil {
		return nil, fmt.Errorf("compile: %w", err)
	}

	s := &Schema{
		ID:       src.ID,
		URL:      src.URL,
		Raw:      json.RawMessage(bytes.TrimSpace(raw)),
		compiled: compiled,
	}
	s.order = propertyOrder(compiled, loader.docs)
	s.fields = s.collectFields()
	return s, nil
}

// documentURL is the base URL the compiler resolves relative $refs
// against. base64 documents have none, so they get a private name.
func documentURL(src Source) (string, error) {
	u := src.URL
	switch {
	case strings.HasPrefix(u, "http://"), strings.HasPrefix(u, "https://"):
		if i := strings.IndexByte(u, '#'); i >= 0 {
			u = u[:i]
		}
		return u, nil
	case strings.HasPrefix(u, "base64://"):
		return "lanyard://schemas/" + url.PathEscape(src.ID) + ".json", nil
	}
	p := u
	if strings.HasPrefix(u, "file://") {
		var err error
		if p, err = filePath(u); err != nil {
			return "", err
		}
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String(), nil
}

// checkIdentityShape applies the part of Kratos's identity meta-schema
// that matters: the document is an object with properties.traits.
func checkIdentityShape(doc any) error {
	root, ok := doc.(map[string]any)
	if !ok {
		return errors.New("the schema must be a JSON object")
	}
	props, ok := root["properties"].(map[string]any)
	if !ok {
		return errors.New(`the schema must define "properties" with a "traits" property`)
	}
	traits, ok := props["traits"]
	if !ok {
		return errors.New(`the schema must define "properties.traits"`)
	}
	if _, ok := traits.(map[string]any); !ok {
		return errors.New(`"properties.traits" must be a schema object`)
	}
	return nil
}

type docEntry struct {
	order keyOrder
}

// refLoader fetches documents referenced by $ref and remembers the key
// order of every document it has seen.
type refLoader struct {
	ctx  context.Context
	mu   sync.Mutex
	docs map[string]docEntry
}

func (l *refLoader) add(docURL string, raw []byte) (any, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("invalid JSON: %s", syntaxErrorDetail(raw, err))
	}
	order, err := scanKeyOrder(raw)
	if err != nil {
		return nil, fmt.Errorf("invalid JSON: %s", syntaxErrorDetail(raw, err))
	}
	if err := checkExtensions(doc, "", 0); err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.docs[docURL] = docEntry{order: order}
	l.mu.Unlock()
	return doc, nil
}

// Load implements jsonschema.URLLoader for referenced documents.
func (l *refLoader) Load(u string) (any, error) {
	if strings.HasPrefix(u, "lanyard://") {
		return nil, fmt.Errorf("cannot resolve %s: schemas given as base64:// can only reference absolute http(s):// or file:// URLs", u)
	}
	if !strings.HasPrefix(u, "file://") && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		return nil, fmt.Errorf("unsupported URL %s in $ref", u)
	}
	raw, err := fetch(l.ctx, u)
	if err != nil {
		return nil, err
	}
	return l.add(u, raw)
}

// propertyOrder records, for every compiled schema with "properties", the
// property names in the order the document lists them.
func propertyOrder(root *jsonschema.Schema, docs map[string]docEntry) map[*jsonschema.Schema][]string {
	out := map[*jsonschema.Schema][]string{}
	visitSchemas(root, func(s *jsonschema.Schema) {
		if len(s.Properties) == 0 {
			return
		}
		var written []string
		if docURL, frag, ok := strings.Cut(s.Location, "#"); ok {
			if ptr, err := url.PathUnescape(frag); err == nil {
				if d, ok := docs[docURL]; ok {
					written = d.order[ptr+"/properties"]
				}
			}
		}
		names := make([]string, 0, len(s.Properties))
		seen := map[string]bool{}
		for _, n := range written {
			if _, ok := s.Properties[n]; ok && !seen[n] {
				names = append(names, n)
				seen[n] = true
			}
		}
		var rest []string
		for n := range s.Properties {
			if !seen[n] {
				rest = append(rest, n)
			}
		}
		sort.Strings(rest)
		out[s] = append(names, rest...)
	})
	return out
}

// visitSchemas calls fn once for every schema reachable from root.
func visitSchemas(root *jsonschema.Schema, fn func(*jsonschema.Schema)) {
	seen := map[*jsonschema.Schema]bool{}
	var walk func(s *jsonschema.Schema)
	walk = func(s *jsonschema.Schema) {
		if s == nil || seen[s] {
			return
		}
		seen[s] = true
		fn(s)
		for _, c := range subschemas(s) {
			walk(c)
		}
	}
	walk(root)
}

// subschemas lists the direct subschemas of s.
func subschemas(s *jsonschema.Schema) []*jsonschema.Schema {
	var out []*jsonschema.Schema
	add := func(cs ...*jsonschema.Schema) {
		for _, c := range cs {
			if c != nil {
				out = append(out, c)
			}
		}
	}
	add(s.Ref, s.RecursiveRef, s.Not, s.If, s.Then, s.Else, s.PropertyNames, s.UnevaluatedProperties,
		s.Contains, s.Items2020, s.UnevaluatedItems, s.ContentSchema)
	if s.DynamicRef != nil {
		add(s.DynamicRef.Ref)
	}
	add(s.AllOf...)
	add(s.AnyOf...)
	add(s.OneOf...)
	add(s.PrefixItems...)
	for _, c := range s.Properties {
		add(c)
	}
	for _, c := range s.PatternProperties {
		add(c)
	}
	for _, c := range s.DependentSchemas {
		add(c)
	}
	for _, d := range s.Dependencies {
		if c, ok := d.(*jsonschema.Schema); ok {
			add(c)
		}
	}
	if c, ok := s.AdditionalProperties.(*jsonschema.Schema); ok {
		add(c)
	}
	if c, ok := s.AdditionalItems.(*jsonschema.Schema); ok {
		add(c)
	}
	switch items := s.Items.(type) {
	case *jsonschema.Schema:
		add(items)
	case []*jsonschema.Schema:
		add(items...)
	}
	return out
}
