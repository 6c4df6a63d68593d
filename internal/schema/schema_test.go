package schema

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func b64(s string) string { return "base64://" + base64.StdEncoding.EncodeToString([]byte(s)) }

func mustLoad(t *testing.T, sources []Source, defaultID string) *Registry {
	t.Helper()
	r, err := Load(context.Background(), sources, defaultID)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return r
}

func mustSchema(t *testing.T, doc string) *Schema {
	t.Helper()
	r := mustLoad(t, []Source{{ID: "s", URL: b64(doc)}}, "")
	return r.Default()
}

func decode(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return v
}

func validationError(t *testing.T, err error) *ValidationError {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want *ValidationError, got %T: %v", err, err)
	}
	return ve
}

func TestDefaultSchema(t *testing.T) {
	r := mustLoad(t, nil, "")
	s := r.Default()
	if s.ID != DefaultID || !strings.HasPrefix(s.URL, "base64://") {
		t.Fatalf("unexpected default schema %q %q", s.ID, s.URL)
	}
	if got, ok := r.Get("default"); !ok || got != s {
		t.Fatal("Get(default) failed")
	}
	if len(r.All()) != 1 {
		t.Fatalf("All() = %d schemas", len(r.All()))
	}
	if !json.Valid(s.Raw) || !strings.Contains(string(s.Raw), `"ory.sh/kratos"`) {
		t.Fatalf("Raw is not the schema document: %s", s.Raw)
	}

	ex, err := s.Validate(decode(t, `{"email":"Foo@Example.COM","name":{"first":"Ada"}}`))
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	want := &Extracted{
		Identifiers: map[string][]string{
			"password": {"foo@example.com"},
			"webauthn": {"foo@example.com"},
			"code":     {"foo@example.com"},
		},
		Verifiable:         []Address{{Via: "email", Value: "foo@example.com"}},
		Recovery:           []Address{{Via: "email", Value: "foo@example.com"}},
		TOTPAccountName:    "Foo@Example.COM",
		PasskeyDisplayName: "Foo@Example.COM",
		CodeVia:            map[string]string{"foo@example.com": "email"},
	}
	if !reflect.DeepEqual(ex, want) {
		t.Fatalf("extracted\n got %+v\nwant %+v", ex, want)
	}

	fields := s.Fields()
	var names []string
	for _, f := range fields {
		names = append(names, f.Name)
	}
	if strings.Join(names, ",") != "traits.email,traits.name.first,traits.name.last" {
		t.Fatalf("fields = %v", names)
	}
	email := fields[0]
	if email.Type != "string" || email.Format != "email" || email.Title != "E-Mail" || !email.Required ||
		email.MinLength == nil || *email.MinLength != 3 || email.MaxLength == nil || *email.MaxLength != 320 ||
		!email.Extension.PasswordIdentifier || email.Extension.VerificationVia != "email" {
		t.Fatalf("email field = %+v", email)
	}
	if fields[1].Required || fields[1].Title != "First Name" || *fields[1].MaxLength != 256 {
		t.Fatalf("first name field = %+v", fields[1])
	}
}

func TestExampleSchemaFromFile(t *testing.T) {
	abs, err := filepath.Abs("testdata/identity.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	r := mustLoad(t, []Source{{ID: "preset", URL: "file://" + abs}}, "preset")
	s := r.Default()
	if s.ID != "preset" {
		t.Fatalf("default = %q", s.ID)
	}
	raw, _ := os.ReadFile(abs)
	if strings.TrimSpace(string(raw)) != string(s.Raw) {
		t.Fatal("Raw differs from the file")
	}
	if _, err := s.Validate(decode(t, `{"email":"a@b.co"}`)); err != nil {
		t.Fatalf("valid traits rejected: %v", err)
	}
	// Relative file:// URLs as used in many Kratos configs.
	wd, _ := os.Getwd()
	t.Chdir(filepath.Join(wd, "testdata"))
	if _, err := Load(context.Background(), []Source{{ID: "rel", URL: "file://./identity.schema.json"}}, ""); err != nil {
		t.Fatalf("relative file URL: %v", err)
	}
}

func TestCauses(t *testing.T) {
	s := mustSchema(t, `{
	  "$schema": "http://json-schema.org/draft-07/schema#",
	  "type": "object",
	  "properties": {"traits": {"type": "object", "properties": {
	    "email":    {"type": "string", "format": "email"},
	    "username": {"type": "string", "minLength": 3, "maxLength": 5, "pattern": "^[a-z]+$"},
	    "age":      {"type": "integer", "minimum": 18, "maximum": 130},
	    "plan":     {"const": "free"},
	    "tags":     {"type": "array", "maxItems": 2, "uniqueItems": true},
	    "phone":    {"type": "string", "format": "tel"}
	  }, "required": ["email", "username"], "additionalProperties": false}}
	}`)

	cases := []struct {
		name    string
		traits  string
		pointer string
		field   string
		id      int
		ctx     map[string]any
	}{
		{"missing", `{"username":"abc"}`, "/traits/email", "traits.email", MsgRequired, map[string]any{"property": "email"}},
		{"too short", `{"email":"a@b.co","username":"ab"}`, "/traits/username", "traits.username", MsgMinLength, map[string]any{"min_length": 3, "actual_length": 2}},
		{"too long", `{"email":"a@b.co","username":"abcdef"}`, "/traits/username", "traits.username", MsgMaxLength, map[string]any{"max_length": 5, "actual_length": 6}},
		{"pattern", `{"email":"a@b.co","username":"ABC"}`, "/traits/username", "traits.username", MsgPattern, map[string]any{"pattern": "^[a-z]+$"}},
		{"bad email", `{"email":"nope","username":"abc"}`, "/traits/email", "traits.email", MsgInvalidEmail, map[string]any{"value": "nope"}},
		{"bad phone", `{"email":"a@b.co","username":"abc","phone":"12"}`, "/traits/phone", "traits.phone", MsgInvalidPhone, map[string]any{"value": "12"}},
		{"wrong type", `{"email":"a@b.co","username":7}`, "/traits/username", "traits.username", MsgWrongType, map[string]any{"allowed_types": []string{"string"}, "actual_type": "number"}},
		{"minimum", `{"email":"a@b.co","username":"abc","age":3}`, "/traits/age", "traits.age", MsgMinimum, map[string]any{"minimum": 18.0, "actual": 3.0}},
		{"maximum", `{"email":"a@b.co","username":"abc","age":300}`, "/traits/age", "traits.age", MsgMaximum, map[string]any{"maximum": 130.0, "actual": 300.0}},
		{"const", `{"email":"a@b.co","username":"abc","plan":"pro"}`, "/traits/plan", "traits.plan", MsgConst, map[string]any{"expected": "free"}},
		{"max items", `{"email":"a@b.co","username":"abc","tags":[1,2,3]}`, "/traits/tags", "traits.tags", MsgMaxItems, map[string]any{"max_items": 2, "actual_items": 3}},
		{"unique items", `{"email":"a@b.co","username":"abc","tags":[1,1]}`, "/traits/tags", "traits.tags", MsgUniqueItems, map[string]any{"index_a": 0, "index_b": 1}},
		{"additional property", `{"email":"a@b.co","username":"abc","x":1}`, "/traits", "traits", MsgGeneric, nil},
		{"traits not an object", `"str"`, "/traits", "traits", MsgWrongType, map[string]any{"allowed_types": []string{"object"}, "actual_type": "string"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ex, err := s.Validate(decode(t, tc.traits))
			if ex != nil {
				t.Fatal("extracted values returned for invalid traits")
			}
			ve := validationError(t, err)
			if len(ve.Causes) != 1 {
				t.Fatalf("want 1 cause, got %+v", ve.Causes)
			}
			c := ve.Causes[0]
			if c.Pointer != tc.pointer || c.Field != tc.field || c.MessageID != tc.id || c.Text == "" {
				t.Fatalf("cause = %+v", c)
			}
			if tc.ctx != nil && !reflect.DeepEqual(c.Context, tc.ctx) {
				t.Fatalf("context = %#v, want %#v", c.Context, tc.ctx)
			}
			if !strings.Contains(ve.Error(), "I[#"+tc.pointer+"]") {
				t.Fatalf("Error() = %q", ve.Error())
			}
		})
	}

	t.Run("texts", func(t *testing.T) {
		_, err := s.Validate(decode(t, `{"username":"ab"}`))
		ve := validationError(t, err)
		texts := map[string]string{}
		for _, c := range ve.Causes {
			texts[c.Field] = c.Text
		}
		if texts["traits.email"] != "Property email is missing." || texts["traits.username"] != "length must be >= 3, but got 2" {
			t.Fatalf("texts = %v", texts)
		}
	})

	t.Run("every failure listed", func(t *testing.T) {
		_, err := s.Validate(decode(t, `{"email":"nope","username":"ABCDEFG","age":"x","extra":true}`))
		ve := validationError(t, err)
		if len(ve.Causes) < 5 {
			t.Fatalf("want at least 5 causes, got %+v", ve.Causes)
		}
		msg := ve.Error()
		for _, p := range []string{"I[#/traits/email]", "I[#/traits/username]", "I[#/traits/age]", "I[#/traits]", "S[#/properties/traits/properties/email/format]"} {
			if !strings.Contains(msg, p) {
				t.Fatalf("Error() %q lacks %q", msg, p)
			}
		}
		if strings.Contains(msg, "\n") {
			t.Fatal("Error() spans several lines")
		}
	})
}

func TestDraft2020(t *testing.T) {
	s := mustSchema(t, `{
	  "$schema": "https://json-schema.org/draft/2020-12/schema",
	  "type": "object",
	  "$defs": {"mail": {"type": "string", "format": "email", "title": "Mail",
	    "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}, "verification": {"via": "email"}}}},
	  "properties": {"traits": {"type": "object", "properties": {
	    "zeta":  {"type": "string"},
	    "email": {"$ref": "#/$defs/mail"},
	    "alpha": {"type": "boolean"}
	  }, "required": ["email"], "unevaluatedProperties": false}}
	}`)
	// Formats are assertions here too, although 2020-12 makes them
	// annotations by default.
	_, err := s.Validate(decode(t, `{"email":"not-an-email"}`))
	if ve := validationError(t, err); ve.Causes[0].MessageID != MsgInvalidEmail {
		t.Fatalf("causes = %+v", ve.Causes)
	}
	_, err = s.Validate(decode(t, `{"email":"a@b.co","other":1}`))
	validationError(t, err)

	ex, err := s.Validate(decode(t, `{"email":"USER@b.co"}`))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ex.Identifiers["password"], []string{"user@b.co"}) || ex.Verifiable[0].Value != "user@b.co" {
		t.Fatalf("extracted = %+v", ex)
	}
	// Fields follow written order, not alphabetical order, through $ref.
	var names []string
	for _, f := range s.Fields() {
		names = append(names, f.Name)
	}
	if strings.Join(names, ",") != "traits.zeta,traits.email,traits.alpha" {
		t.Fatalf("fields = %v", names)
	}
	if f := s.Fields()[1]; f.Title != "Mail" || f.Format != "email" || !f.Extension.PasswordIdentifier || !f.Required {
		t.Fatalf("email field = %+v", f)
	}
}

func TestNoSchemaKeywordDefaultsToDraft7(t *testing.T) {
	// In draft-07 "$defs" is not a keyword and "definitions" is; a draft
	// 2020-12 default would also turn off dependencies. Use a draft-07-only
	// feature: "items" as an array (tuple validation).
	s := mustSchema(t, `{"properties": {"traits": {"type": "object", "properties": {
	  "pair": {"type": "array", "items": [{"type": "string"}, {"type": "integer"}]}}}}}`)
	if _, err := s.Validate(decode(t, `{"pair":["a",1]}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Validate(decode(t, `{"pair":[1,"a"]}`)); err == nil {
		t.Fatal("tuple items were not applied; draft-07 was not the default")
	}
}

func TestIdentifierArraysAndPhones(t *testing.T) {
	s := mustSchema(t, `{
	  "$schema": "http://json-schema.org/draft-07/schema#",
	  "properties": {"traits": {"type": "object", "properties": {
	    "emails": {"type": "array", "items": {"type": "string", "format": "email",
	      "ory.sh/kratos": {"credentials": {"password": {"identifier": true}, "code": {"identifier": true, "via": "email"}},
	        "verification": {"via": "email"}, "recovery": {"via": "email"}}}},
	    "phone": {"type": "string", "format": "tel",
	      "ory.sh/kratos": {"credentials": {"password": {"identifier": true}, "code": {"identifier": true, "via": "sms"}},
	        "verification": {"via": "sms"}}},
	    "username": {"type": "string", "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}}}
	  }}}
	}`)
	ex, err := s.Validate(decode(t, `{"emails":["B@x.io","a@x.io","b@X.io"],"phone":"+49 151 1234-5678","username":"  MixedCase "}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := ex.Identifiers["password"]; !reflect.DeepEqual(got, []string{"b@x.io", "a@x.io", "+4915112345678", "mixedcase"}) {
		t.Fatalf("password identifiers = %v", got)
	}
	if got := ex.Identifiers["code"]; !reflect.DeepEqual(got, []string{"b@x.io", "a@x.io", "+4915112345678"}) {
		t.Fatalf("code identifiers = %v", got)
	}
	if ex.CodeVia["+4915112345678"] != "sms" || ex.CodeVia["a@x.io"] != "email" {
		t.Fatalf("code via = %v", ex.CodeVia)
	}
	wantVer := []Address{{"email", "b@x.io"}, {"email", "a@x.io"}, {"sms", "+4915112345678"}}
	if !reflect.DeepEqual(ex.Verifiable, wantVer) {
		t.Fatalf("verifiable = %v", ex.Verifiable)
	}
	if len(ex.Recovery) != 2 {
		t.Fatalf("recovery = %v", ex.Recovery)
	}

	// An address channel is enforced even without a format on the field.
	s2 := mustSchema(t, `{"properties": {"traits": {"type": "object", "properties": {
	  "contact": {"type": "string", "ory.sh/kratos": {"verification": {"via": "email"}}},
	  "mobile": {"type": "string", "ory.sh/kratos": {"credentials": {"code": {"identifier": true, "via": "sms"}}}}}}}}`)
	_, err = s2.Validate(decode(t, `{"contact":"no-at-sign","mobile":"0151 123"}`))
	ve := validationError(t, err)
	ids := map[string]int{}
	for _, c := range ve.Causes {
		ids[c.Field] = c.MessageID
	}
	if ids["traits.contact"] != MsgInvalidEmail || ids["traits.mobile"] != MsgInvalidPhone {
		t.Fatalf("causes = %+v", ve.Causes)
	}
}

func TestConditionalBranches(t *testing.T) {
	s := mustSchema(t, `{"properties": {"traits": {"type": "object", "oneOf": [
	  {"properties": {"kind": {"const": "mail"}, "id": {"type": "string", "format": "email",
	    "ory.sh/kratos": {"verification": {"via": "email"}}}}, "required": ["kind"]},
	  {"properties": {"kind": {"const": "name"}, "id": {"type": "string",
	    "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}}}}, "required": ["kind"]}
	]}}}`)
	ex, err := s.Validate(decode(t, `{"kind":"name","id":"Bob"}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(ex.Verifiable) != 0 || !reflect.DeepEqual(ex.Identifiers["password"], []string{"bob"}) {
		t.Fatalf("extracted = %+v", ex)
	}
}

func TestLoadErrors(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name    string
		sources []Source
		def     string
		want    []string
	}{
		{"syntax error", []Source{{ID: "broken", URL: b64("{\n  \"properties\": {\n    \"traits\": {,}\n  }\n}")}}, "", []string{`"broken"`, "invalid JSON", "line 3"}},
		{"trailing garbage", []Source{{ID: "t", URL: b64(`{"properties":{"traits":{}}} x`)}}, "", []string{`"t"`, "invalid JSON"}},
		{"no traits", []Source{{ID: "nt", URL: b64(`{"properties":{}}`)}}, "", []string{`"nt"`, "properties.traits"}},
		{"not an object", []Source{{ID: "arr", URL: b64(`[]`)}}, "", []string{`"arr"`, "JSON object"}},
		{"bad keyword", []Source{{ID: "kw", URL: b64(`{"properties":{"traits":{"type":"strin"}}}`)}}, "", []string{`"kw"`, "compile"}},
		{"bad via", []Source{{ID: "via", URL: b64(`{"properties":{"traits":{"properties":{"e":{"ory.sh/kratos":{"verification":{"via":"pigeon"}}}}}}}`)}}, "", []string{`"via"`, "verification.via", "pigeon", "#/properties/traits/properties/e/ory.sh~1kratos"}},
		{"unknown extension key", []Source{{ID: "uk", URL: b64(`{"properties":{"traits":{"properties":{"e":{"ory.sh/kratos":{"credentials":{"magic":{}}}}}}}}`)}}, "", []string{`"magic"`}},
		{"code without via", []Source{{ID: "cv", URL: b64(`{"properties":{"traits":{"properties":{"e":{"ory.sh/kratos":{"credentials":{"code":{"identifier":true}}}}}}}}`)}}, "", []string{"credentials.code.via"}},
		{"identifier not bool", []Source{{ID: "nb", URL: b64(`{"properties":{"traits":{"properties":{"e":{"ory.sh/kratos":{"credentials":{"password":{"identifier":"yes"}}}}}}}}`)}}, "", []string{"boolean"}},
		{"missing file", []Source{{ID: "mf", URL: "file:///nonexistent/identity.schema.json"}}, "", []string{`"mf"`, "fetch"}},
		{"bad scheme", []Source{{ID: "ftp", URL: "ftp://example.com/x.json"}}, "", []string{"unsupported URL scheme"}},
		{"bad base64", []Source{{ID: "b", URL: "base64://!!!"}}, "", []string{"base64"}},
		{"empty id", []Source{{ID: "", URL: b64(`{}`)}}, "", []string{"id is empty"}},
		{"duplicate id", []Source{{ID: "a", URL: b64(`{"properties":{"traits":{}}}`)}, {ID: "a", URL: b64(`{"properties":{"traits":{}}}`)}}, "", []string{"twice"}},
		{"unknown default", []Source{{ID: "a", URL: b64(`{"properties":{"traits":{}}}`)}}, "b", []string{`"b"`, "not among"}},
		{"unresolvable ref", []Source{{ID: "r", URL: b64(`{"properties":{"traits":{"$ref":"other.json"}}}`)}}, "", []string{`"r"`, "base64://"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(ctx, tc.sources, tc.def)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestDefaultIDSelection(t *testing.T) {
	doc := b64(`{"properties":{"traits":{}}}`)
	r := mustLoad(t, []Source{{ID: "a", URL: doc}, {ID: "b", URL: doc}}, "")
	if r.Default().ID != "a" {
		t.Fatalf("default = %q", r.Default().ID)
	}
	r = mustLoad(t, []Source{{ID: "a", URL: doc}, {ID: "default", URL: doc}}, "")
	if r.Default().ID != "default" {
		t.Fatalf("default = %q", r.Default().ID)
	}
	r = mustLoad(t, []Source{{ID: "a", URL: doc}, {ID: "b", URL: doc}}, "b")
	if r.Default().ID != "b" || r.All()[0].ID != "a" {
		t.Fatal("order or default wrong")
	}
	if _, ok := r.Get("zzz"); ok {
		t.Fatal("Get of unknown id succeeded")
	}
}

func TestHTTPLoadingAndRefs(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/identity.schema.json", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"$schema":"http://json-schema.org/draft-07/schema#","properties":{"traits":{"type":"object","properties":{
		  "email":{"$ref":"defs.json#/definitions/email"},"nick":{"type":"string"}}}}}`))
	})
	mux.HandleFunc("/defs.json", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"definitions":{"email":{"type":"string","format":"email",
		  "ory.sh/kratos":{"credentials":{"password":{"identifier":true}}}}}}`))
	})
	mux.HandleFunc("/big.json", func(w http.ResponseWriter, _ *http.Request) {
		pad := strings.Repeat(" ", MaxSchemaSize)
		_, _ = w.Write([]byte(`{"properties":{"traits":{}}}` + pad))
	})
	mux.HandleFunc("/missing.json", http.NotFound)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	r := mustLoad(t, []Source{{ID: "remote", URL: srv.URL + "/identity.schema.json"}}, "")
	s := r.Default()
	ex, err := s.Validate(decode(t, `{"email":"Remote@Example.org","nick":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ex.Identifiers["password"], []string{"remote@example.org"}) {
		t.Fatalf("identifiers = %v", ex.Identifiers)
	}
	if _, err := s.Validate(decode(t, `{"email":"nope"}`)); err == nil {
		t.Fatal("format from referenced document not applied")
	}
	var names []string
	for _, f := range s.Fields() {
		names = append(names, f.Name+":"+f.Format)
	}
	if strings.Join(names, ",") != "traits.email:email,traits.nick:" {
		t.Fatalf("fields = %v", names)
	}

	_, err = Load(context.Background(), []Source{{ID: "big", URL: srv.URL + "/big.json"}}, "")
	if err == nil || !strings.Contains(err.Error(), "larger than the limit") {
		t.Fatalf("size limit not enforced: %v", err)
	}
	_, err = Load(context.Background(), []Source{{ID: "gone", URL: srv.URL + "/missing.json"}}, "")
	if err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), `"gone"`) {
		t.Fatalf("404 not reported: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Load(ctx, []Source{{ID: "c", URL: srv.URL + "/identity.schema.json"}}, ""); err == nil {
		t.Fatal("cancelled context ignored")
	}
}

func TestSizeLimitFileAndBase64(t *testing.T) {
	big := `{"properties":{"traits":{}}}` + strings.Repeat(" ", MaxSchemaSize)
	p := filepath.Join(t.TempDir(), "big.json")
	if err := os.WriteFile(p, []byte(big), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"file://" + p, b64(big)} {
		_, err := Load(context.Background(), []Source{{ID: "big", URL: u}}, "")
		if err == nil || !strings.Contains(err.Error(), "larger than the limit") {
			t.Fatalf("%.20s: size limit not enforced: %v", u, err)
		}
	}
	// Just under the limit is fine.
	ok := `{"properties":{"traits":{}}}`
	ok += strings.Repeat(" ", MaxSchemaSize-len(ok))
	if _, err := Load(context.Background(), []Source{{ID: "ok", URL: b64(ok)}}, ""); err != nil {
		t.Fatal(err)
	}
}

func TestBase64Variants(t *testing.T) {
	doc := `{"properties":{"traits":{"type":"object"}}}`
	for _, u := range []string{
		"base64://" + base64.StdEncoding.EncodeToString([]byte(doc)),
		"base64://" + base64.RawURLEncoding.EncodeToString([]byte(doc)),
	} {
		if _, err := Load(context.Background(), []Source{{ID: "x", URL: u}}, ""); err != nil {
			t.Fatalf("%s: %v", u, err)
		}
	}
}

func TestOddTraitValues(t *testing.T) {
	s := mustLoad(t, nil, "").Default()
	for _, traits := range []any{nil, 42, []any{}, map[string]any{"email": nil}, map[string]any{"email": struct{}{}}, map[string]string{"email": "a@b.co"}} {
		ex, err := s.Validate(traits)
		if err == nil || ex != nil {
			t.Fatalf("%#v accepted", traits)
		}
		validationError(t, err)
	}
	// json.Number values are accepted like float64 ones.
	s2 := mustSchema(t, `{"properties":{"traits":{"properties":{"n":{"type":"integer","minimum":1}}}}}`)
	if _, err := s2.Validate(map[string]any{"n": json.Number("0")}); err == nil {
		t.Fatal("minimum not applied to json.Number")
	}
}

func TestConcurrentValidate(t *testing.T) {
	s := mustLoad(t, nil, "").Default()
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if i%2 == 0 {
					if _, err := s.Validate(map[string]any{"email": "A@b.co"}); err != nil {
						t.Error(err)
						return
					}
				} else if _, err := s.Validate(map[string]any{"email": "x"}); err == nil {
					t.Error("invalid accepted")
					return
				}
				_ = s.Fields()
			}
		}()
	}
	wg.Wait()
}

func TestNormalizePhone(t *testing.T) {
	cases := map[string]string{
		"+49 151 1234 5678":  "+4915112345678",
		" +1 (555) 010-9999": "+15550109999",
		"+44.20.7946.0958":   "+442079460958",
		"0151 12345678":      "",
		"+0123456789":        "",
		"+123":               "",
		"+1234567890123456":  "",
		"+49 151 abc":        "",
	}
	for in, want := range cases {
		got, ok := NormalizePhone(in)
		if (want == "") == ok || got != want {
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func FuzzValidate(f *testing.F) {
	for _, seed := range []string{
		`{"email":"a@b.co"}`, `{"email":"A@B.CO","name":{"first":"x","last":"y"}}`, `null`, `[]`, `{"email":1}`,
		`{"emails":["a@b.co","x"],"phone":"+49 1511 234567","n":1e400}`, `{"email":"` + strings.Repeat("a", 400) + `@b.co"}`,
	} {
		f.Add([]byte(seed))
	}
	def, err := Load(context.Background(), nil, "")
	if err != nil {
		f.Fatal(err)
	}
	rich, err := Load(context.Background(), []Source{{ID: "rich", URL: b64(`{
	  "$schema": "https://json-schema.org/draft/2020-12/schema",
	  "properties": {"traits": {"type": "object", "properties": {
	    "emails": {"type": "array", "items": {"type": "string", "format": "email",
	      "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}, "verification": {"via": "email"}}}},
	    "phone": {"type": "string", "ory.sh/kratos": {"credentials": {"code": {"identifier": true, "via": "sms"}}}},
	    "n": {"type": "number", "multipleOf": 0.5, "maximum": 10},
	    "tree": {"$ref": "#/$defs/node"}
	  }, "anyOf": [{"required": ["emails"]}, {"required": ["phone"]}]}},
	  "$defs": {"node": {"type": "object", "properties": {"v": {"type": "string",
	    "ory.sh/kratos": {"credentials": {"webauthn": {"identifier": true}}}}, "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}}
	}`)}}, "")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var traits any
		if json.Unmarshal(data, &traits) != nil {
			return
		}
		for _, s := range []*Schema{def.Default(), rich.Default()} {
			ex, err := s.Validate(traits)
			if err != nil {
				var ve *ValidationError
				if !errors.As(err, &ve) || len(ve.Causes) == 0 || ve.Error() == "" {
					t.Fatalf("unexpected error %T %v", err, err)
				}
				continue
			}
			if ex == nil || ex.Identifiers == nil || ex.CodeVia == nil {
				t.Fatal("nil extraction for valid traits")
			}
		}
	})
}
