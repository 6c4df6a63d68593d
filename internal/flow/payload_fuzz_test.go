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
			if p != nil {
				t.Fatalf("a failed decode returned a payload: %v", p)
			}
			return
		}
		if p == nil {
			t.Fatal("no error and no payload")
		}
		// The accessors must cope with whatever shape came in.
		_ = p.String("method")
		_ = p.Traits()
	})
}
