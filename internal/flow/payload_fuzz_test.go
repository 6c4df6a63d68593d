package flow

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// fuzzFields types a few form keys the way an identity schema would, so
// the number and boolean conversions are exercised too.
var fuzzFields = []schema.Field{
	{Name: "traits.email", Type: "string", Format: "email"},
	{Name: "traits.age", Type: "integer"},
	{Name: "traits.score", Type: "number"},
	{Name: "traits.newsletter", Type: "boolean"},
	{Name: "traits.name.first", Type: "string"},
}

var fuzzContentTypes = []string{
	"application/json",
	"application/json; charset=utf-8",
	"application/vnd.api+json",
	"application/x-www-form-urlencoded",
	"application/x-www-form-urlencoded; charset=utf-8",
	"multipart/form-data; boundary=xyz",
	"text/plain",
	"",
	"application/json; charset=\"", // unparsable media type
}

// FuzzDecodePayload feeds arbitrary bodies through DecodePayload: it must
// never panic, and every failure must be a client error in the wire shape.
func FuzzDecodePayload(f *testing.F) {
	seeds := []struct {
		ct   uint8
		body string
	}{
		{0, `{"method":"password","password":"secret","traits":{"email":"a@example.org"}}`},
		{0, `{"method":"profile","traits":{"name":{"first":"A","last":"B"}}}`},
		{0, `null`},
		{0, `[]`},
		{0, `{"a":1} {"b":2}`},
		{0, `{"a":`},
		{0, ``},
		{0, `"string"`},
		{0, `{"traits":{"age":1e400}}`},
		{2, `{"x":true}`},
		{3, `method=password&password=x&traits.email=a%40example.org&csrf_token=abc`},
		{3, `traits.age=42&traits.score=1.5&traits.newsletter=on`},
		{3, `traits.age=&traits.newsletter=&traits.score=abc`},
		{3, `traits=x&traits.email=y&traits.email.z=w&traits`},
		{3, `a..b=1&.=2&..=3&=4&%zz=5`},
		{3, `traits.name.first=A&traits.name=B&traits.name.last=C`},
		{4, `traits.email=a@example.org;x=1`},
		{5, "--xyz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb\r\n--xyz--\r\n"},
		{6, `method=password`},
		{7, `method=password`},
		{8, `{"a":1}`},
		{0, `{"method":"password","identifier":"a\u0000b@example.org","password":"x"}`},
		{0, `{"traits":{"email":"\ud800"},"csrf_token":"tok"}`},
		{0, `{"traits":{"\u0000":1}}`},
		{0, "{\"identifier\":\"\xff\"}"},
		{0, `{"identifier":"\ud83d\ude00"}`},
		{3, `identifier=a%00b%40example.org&password=x&csrf_token=tok`},
		{3, `traits.email=%ff&csrf_token=tok`},
		{3, `traits.email=%ED%A0%80`},
		{3, `%00=1&csrf_token=tok`},
		{3, `csrf_token=%00`},
	}
	for _, s := range seeds {
		f.Add(s.ct, s.body)
	}
	f.Fuzz(func(t *testing.T, ct uint8, body string) {
		contentType := fuzzContentTypes[int(ct)%len(fuzzContentTypes)]
		r := httptest.NewRequest("POST", "/self-service/registration?flow=x", strings.NewReader(body))
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		w := httptest.NewRecorder()
		p, err := DecodePayload(w, r, fuzzFields)
		if err != nil {
			var we *wire.Error
			if !errors.As(err, &we) {
				t.Fatalf("error %T (%v) is not a *wire.Error", err, err)
			}
			if we.Code < 400 || we.Code > 499 {
				t.Fatalf("error code %d (%v), want a 4xx", we.Code, err)
			}
			if we.Message == "" {
				t.Fatalf("error %v has no message", err)
			}
			var fe FormError
			if !errors.As(err, &fe) {
				if p != nil {
					t.Fatalf("a failed decode returned a payload: %v", p)
				}
				return
			}
			// Refused for its text: one field error, and at most the
			// CSRF token left to check.
			if we.Code != 400 || len(fe) != 1 || fe[0].Message.ID != 4000001 {
				t.Fatalf("text refusal %d %v, want a 400 with one message 4000001", we.Code, fe)
			}
			for k, v := range p {
				if s, ok := v.(string); k != "csrf_token" || !ok || !wire.ValidText(s) {
					t.Fatalf("a refused payload holds %q: %q", k, v)
				}
			}
			return
		}
		if p == nil {
			t.Fatal("no error and no payload")
		}
		// What is accepted is text every store can hold.
		requireText(t, map[string]any(p), body)
		// The accessors must cope with whatever shape came in.
		_ = p.String("method")
		_ = p.Traits()
	})
}

// requireText fails unless every key and string in v is valid text and no
// U+FFFD stands in for an unpaired surrogate of the body.
func requireText(t *testing.T, v any, body string) {
	t.Helper()
	mayHoldFFFD := strings.Contains(body, "\uFFFD") || strings.Contains(strings.ToLower(body), `\ufffd`) ||
		strings.Contains(strings.ToLower(body), "%ef%bf%bd")
	var walk func(v any)
	check := func(s string) {
		if !wire.ValidText(s) || !mayHoldFFFD && strings.ContainsRune(s, '\uFFFD') {
			t.Fatalf("accepted %q from %q", s, body)
		}
	}
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			check(x)
		case map[string]any:
			for k, e := range x {
				check(k)
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
}

func TestDecodePayloadRefusesInvalidText(t *testing.T) {
	cases := []struct {
		name, contentType, body string
		field                   string // the field the message belongs to
		csrf                    string // the csrf_token left in the payload
	}{
		{"JSON NUL", "application/json", `{"identifier":"a\u0000b@example.org","csrf_token":"tok"}`, "identifier", "tok"},
		{"JSON lone surrogate", "application/json", `{"traits":{"email":"\ud800"}}`, "traits.email", ""},
		{"JSON raw byte", "application/json", "{\"traits\":{\"name\":{\"first\":\"\xff\"}}}", "traits.name.first", ""},
		{"JSON bad key", "application/json", `{"traits":{"\u0000":"x"},"csrf_token":"tok"}`, "", "tok"},
		{"JSON bad token", "application/json", `{"csrf_token":"\u0000"}`, "csrf_token", ""},
		{"form NUL", "application/x-www-form-urlencoded", "identifier=a%00b%40example.org&csrf_token=tok", "identifier", "tok"},
		{"form invalid byte", "application/x-www-form-urlencoded", "traits.email=%ff", "traits.email", ""},
		{"form encoded surrogate", "application/x-www-form-urlencoded", "code=%ED%A0%80&csrf_token=tok", "code", "tok"},
		{"form bad name", "application/x-www-form-urlencoded", "%ff=1&csrf_token=tok", "", "tok"},
		{"form bad token", "application/x-www-form-urlencoded", "csrf_token=tok%00", "csrf_token", ""},
	}
	for _, c := range cases {
		r := httptest.NewRequest("POST", "/self-service/login?flow=x", strings.NewReader(c.body))
		r.Header.Set("Content-Type", c.contentType)
		p, err := DecodePayload(httptest.NewRecorder(), r, fuzzFields)
		var fe FormError
		var we *wire.Error
		if !errors.As(err, &fe) || !errors.As(err, &we) {
			t.Errorf("%s: error %v, want a FormError and a *wire.Error", c.name, err)
			continue
		}
		if we.Code != 400 || len(fe) != 1 || fe[0].Field != c.field || fe[0].Message.ID != 4000001 {
			t.Errorf("%s: %d %+v; want 400 and message 4000001 on %q", c.name, we.Code, fe, c.field)
		}
		if wire.From(err) != we {
			t.Errorf("%s: wire.From does not find the 400", c.name)
		}
		if got := p.String("csrf_token"); got != c.csrf || len(p) > 1 {
			t.Errorf("%s: payload %v, want only csrf_token %q", c.name, p, c.csrf)
		}
		if !wire.ValidText(we.Reason) || !wire.ValidText(fe[0].Message.Text) {
			t.Errorf("%s: the answer repeats the bad bytes: %q / %q", c.name, we.Reason, fe[0].Message.Text)
		}
	}
	// Valid text, however exotic, passes.
	r := httptest.NewRequest("POST", "/", strings.NewReader(`{"traits":{"name":{"first":"Zoë \ud83d\ude00 \\u0000"}}}`))
	r.Header.Set("Content-Type", "application/json")
	if p, err := DecodePayload(httptest.NewRecorder(), r, nil); err != nil || p.Traits()["name"] == nil {
		t.Errorf("valid text refused: %v", err)
	}
}
