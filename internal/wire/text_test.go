package wire

import (
	"errors"
	"strings"
	"testing"
)

func TestValidText(t *testing.T) {
	for s, want := range map[string]bool{
		"":                 true,
		"ada@example.org":  true,
		"Grüße, 世界 😀":      true,
		"\uFFFD":           true, // the replacement character itself is text
		"a\x00b":           false,
		"\x00":             false,
		"\xff":             false,
		"\xed\xa0\x80":     false, // a surrogate, encoded as UTF-8
		"ab\xc3":           false, // a truncated sequence
		"\xc0\xaf":         false, // an overlong encoding
		"\xf4\x90\x80\x80": false, // beyond U+10FFFF
	} {
		if got := ValidText(s); got != want {
			t.Errorf("ValidText(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestFindInvalidText(t *testing.T) {
	cases := []struct {
		body  string
		field string // "-" when the body is fine
		key   bool
	}{
		{`{}`, "-", false},
		{`[]`, "-", false},
		{`""`, "-", false},
		{`null`, "-", false},
		{` {"a" : [1, -2.5e+3, true, false, null, {"b": "c"}], "d": {}} `, "-", false},
		{`{"emoji": "\ud83d\ude00", "raw": "😀", "upper": "\uD83D\uDE00"}`, "-", false}, // a pair is one character
		{`{"escaped backslash": "\\u0000"}`, "-", false},                               // a backslash and "u0000", not NUL
		{`{"quote": "\"\u0000"}`, "quote", false},
		{`{"escapes": "\n\t\/\b\f\r\\\"", "fffd": "\ufffd"}`, "-", false},
		{`"\u0000"`, "", false},
		{`{"a": "x\u0000y"}`, "a", false},
		{`{"traits": {"email": "a\u0000b@example.org"}}`, "traits.email", false},
		{`{"traits": {"name": {"first": "\ud800"}}}`, "traits.name.first", false},
		{`{"a": "\udc00"}`, "a", false},
		{`{"a": "\ud800x"}`, "a", false},
		{`{"a": "\ud800\u0041"}`, "a", false},     // high surrogate, then no low one
		{`{"a": "\ud800\ud800"}`, "a", false},     // two high ones
		{`{"a": "\ud800\\udc00"}`, "a", false},    // the second is an escaped backslash
		{"{\"a\": \"\xff\"}", "a", false},         // raw invalid UTF-8
		{"{\"a\": \"\xed\xa0\x80\"}", "a", false}, // a raw encoded surrogate
		{`{"list": ["ok", "ok", "\u0000"]}`, "list.2", false},
		{`{"ids": [[], ["\u0000"]]}`, "ids.1.0", false},
		{`{"\u0000": 1}`, "", true},
		{`{"metadata_public": {"ok": 1, "\ud800": 2}}`, "metadata_public", true},
		{"{\"k\xff\": 1}", "", true},
		{`{"tr\u0061its": {"email": "\u0000"}}`, "traits.email", false}, // escaped keys name the path decoded
		{`{"a/b": {"c": "\u0000"}}`, "a/b.c", false},
		{`{"a": 1, "b": "\u0000", "c": "\u0000"}`, "b", false}, // the first problem
	}
	for _, c := range cases {
		bad := findInvalidText([]byte(c.body))
		switch {
		case c.field == "-" && bad != nil:
			t.Errorf("%s: found %+v, want nothing", c.body, bad)
		case c.field != "-" && bad == nil:
			t.Errorf("%s: found nothing, want %q", c.body, c.field)
		case c.field != "-" && (bad.Field != c.field || bad.Key != c.key):
			t.Errorf("%s: found %+v, want field %q key %v", c.body, bad, c.field, c.key)
		}
	}
}

func TestDecodeJSONRefusesInvalidText(t *testing.T) {
	cases := []struct {
		body, field string
		key         bool
		reason      string
	}{
		{`{"traits": {"email": "a\u0000b@example.org"}}`, "traits.email", false, `"traits.email" is not valid text`},
		{`{"metadata_public": {"\u0000": 1}}`, "metadata_public", true, `A key in "metadata_public" is not valid text`},
		{`{"\ud800": 1}`, "", true, "A key of the request body is not valid text"},
		{`"\udfff"`, "", false, "The request body is not valid text"},
		{"{\"external_id\": \"\xff\"}", "external_id", false, `"external_id"`},
	}
	for _, c := range cases {
		var v any
		err := decode(c.body, DefaultBodyLimit, &v)
		var e *Error
		var bad *InvalidText
		if !errors.As(err, &e) || !errors.As(err, &bad) {
			t.Errorf("%s: error %v is not a *wire.Error with an InvalidText cause", c.body, err)
			continue
		}
		if e.Code != 400 || bad.Field != c.field || bad.Key != c.key || !strings.Contains(e.Reason, c.reason) {
			t.Errorf("%s: %d %q %+v; want 400 with %q on %q (key %v)", c.body, e.Code, e.Reason, bad, c.reason, c.field, c.key)
		}
		if strings.Contains(e.Reason, "\x00") || strings.Contains(e.Reason, "\xff") {
			t.Errorf("%s: the reason %q repeats the bad bytes", c.body, e.Reason)
		}
	}
	// Typed targets are checked too: json.RawMessage keeps what came.
	var typed struct {
		Traits map[string]any `json:"traits"`
	}
	if err := decode(`{"traits": {"a": "\ud800"}}`, DefaultBodyLimit, &typed); err == nil {
		t.Error("a lone surrogate in a typed target was accepted")
	}
	if err := decode(`{"traits": {"a": "\ud83d\ude00"}}`, DefaultBodyLimit, &typed); err != nil {
		t.Errorf("a surrogate pair was refused: %v", err)
	}
	// Syntax errors still win over text: the scan needs valid JSON.
	var v any
	if err := decode(`{"a": "\u0000"`, DefaultBodyLimit, &v); err == nil || errors.As(err, new(*InvalidText)) {
		t.Errorf("truncated body: %v, want a syntax error", err)
	}
}
