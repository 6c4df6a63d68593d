package wire

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/uuid"
)

// FuzzParsePage feeds arbitrary page_size and page_token values to
// ParsePage: it must not panic, must refuse with a 400 in the error shape,
// and a page it accepts must round-trip through the Link header.
func FuzzParsePage(f *testing.F) {
	id := uuid.MustParse("6f1d5e2a-9a4b-4c3e-8d2f-0a1b2c3d4e5f")
	raw, _ := json.Marshal(pageToken{K: id.String()})
	good := base64.RawURLEncoding.EncodeToString(raw)
	for _, s := range []struct{ size, token string }{
		{"", ""},
		{"2", good},
		{"1000000", good},
		{"0", ""},
		{"-1", ""},
		{"1e3", ""},
		{"", "not base64!"},
		{"", base64.RawURLEncoding.EncodeToString([]byte(`{"k":"nope"}`))},
		{"", base64.RawURLEncoding.EncodeToString([]byte(`{"k":1}`))},
		{"", base64.RawURLEncoding.EncodeToString([]byte(`[]`))},
		{"", base64.RawURLEncoding.EncodeToString([]byte(`{"k":"` + id.String() + `","x":{}}`))},
		{"", base64.StdEncoding.EncodeToString(raw)}, // padded
		{"", base64.RawURLEncoding.EncodeToString([]byte("{\"k\":\"\x00\"}"))},
		{"99999999999999999999", ""},
	} {
		f.Add(s.size, s.token)
	}
	f.Fuzz(func(t *testing.T, size, token string) {
		q := url.Values{}
		if size != "" {
			q.Set("page_size", size)
		}
		if token != "" {
			q.Set("page_token", token)
		}
		r := httptest.NewRequest("GET", "/admin/identities?"+q.Encode(), nil)
		p, err := ParsePage(r)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code != 400 || e.Reason == "" {
				t.Fatalf("ParsePage error %v, want a 400 with a reason", err)
			}
			return
		}
		if p.Size < 1 || p.Size > MaxPageSize {
			t.Fatalf("page size %d outside 1..%d", p.Size, MaxPageSize)
		}
		if p.After == nil {
			if token != "" {
				t.Fatalf("token %q accepted without naming an id", token)
			}
			return
		}
		w := httptest.NewRecorder()
		SetLinkHeader(w, r, "http://admin.test", p.Size, p.After)
		next := parseNextLink(t, w.Header().Get("Link"))
		again, err := ParsePage(httptest.NewRequest("GET", next, nil))
		if err != nil || again.After == nil || *again.After != *p.After || again.Size != p.Size {
			t.Fatalf("the next link %q does not round-trip %+v: %+v, %v", next, p, again, err)
		}
	})
}

func parseNextLink(t *testing.T, link string) string {
	t.Helper()
	for _, part := range strings.Split(link, ",") {
		if target, ok := strings.CutSuffix(part, `>; rel="next"`); ok {
			return strings.TrimPrefix(target, "<")
		}
	}
	t.Fatalf("no next link in %q", link)
	return ""
}

// FuzzDecodeJSON feeds arbitrary bodies to DecodeJSON: it must not panic,
// every failure must be a 4xx in the error shape, and whatever it accepts
// must hold only valid text: no NUL, no invalid UTF-8, and no U+FFFD that
// the decoder made up for an unpaired surrogate.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"traits":{"email":"a@example.org"},"metadata_public":{"k":[1,2,{"x":null}]}}`,
		`{"a":"\u0000"}`,
		`{"a":"\ud800"}`,
		`{"a":"\ud83d\ude00"}`,
		`{"a":"\\u0000"}`,
		`{"\u0000":1}`,
		"{\"a\":\"\xff\"}",
		"{\"a\":\"\xed\xa0\x80\"}",
		`{"a":"\ufffd"}`,
		"{\"a\":\"\xef\xbf\xbd\"}",
		`[1,"\ud800\udc00",[[[]]]]`,
		`{"a":1}{"b":2}`,
		`{"a":`,
		`"\u`,
		`"\ud800\u`,
		``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var v any
		err := decode(body, 1<<16, &v)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code < 400 || e.Code > 499 || e.Message == "" {
				t.Fatalf("error %v, want a 4xx in the error shape", err)
			}
			return
		}
		if !utf8.ValidString(body) {
			t.Fatalf("accepted a body that is not UTF-8: %q", body)
		}
		// U+FFFD may come only from the body itself, raw or escaped.
		mayHoldFFFD := strings.Contains(body, "\uFFFD") || strings.Contains(strings.ToLower(body), `\ufffd`)
		walkStrings(v, func(s string) {
			if !ValidText(s) {
				t.Fatalf("accepted %q from %q", s, body)
			}
			if !mayHoldFFFD && strings.ContainsRune(s, utf8.RuneError) {
				t.Fatalf("accepted a replaced surrogate in %q from %q", s, body)
			}
		})
		// And it re-encodes to what decodes the same.
		again, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var back any
		if err := decode(string(again), 1<<20, &back); err != nil {
			t.Fatalf("re-encoded %s was refused: %v", again, err)
		}
		if b, _ := json.Marshal(back); !bytes.Equal(b, again) {
			t.Fatalf("round trip changed %s into %s", again, b)
		}
	})
}

func walkStrings(v any, fn func(string)) {
	switch x := v.(type) {
	case string:
		fn(x)
	case map[string]any:
		for k, e := range x {
			fn(k)
			walkStrings(e, fn)
		}
	case []any:
		for _, e := range x {
			walkStrings(e, fn)
		}
	}
}
