package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"
)

type target struct {
	Name  string   `json:"name"`
	Count int      `json:"count"`
	Tags  []string `json:"tags"`
	Inner struct {
		On bool `json:"on"`
	} `json:"inner"`
}

func decode(body string, limit int64, v any) error {
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	return DecodeJSON(httptest.NewRecorder(), r, limit, v)
}

func TestDecodeJSON(t *testing.T) {
	var v target
	if err := decode(` {"name":"a","count":3,"tags":["x"],"inner":{"on":true}} `+"\n", DefaultBodyLimit, &v); err != nil {
		t.Fatalf("valid body: %v", err)
	}
	if v.Name != "a" || v.Count != 3 || len(v.Tags) != 1 || !v.Inner.On {
		t.Errorf("decoded %+v", v)
	}
	// Unknown fields are ignored, as Kratos does.
	if err := decode(`{"extra":1}`, DefaultBodyLimit, &v); err != nil {
		t.Errorf("unknown field: %v", err)
	}
	// Numbers keep their text when decoded into any.
	var m map[string]any
	if err := decode(`{"n": 12345678901234567890}`, DefaultBodyLimit, &m); err != nil || m["n"] != json.Number("12345678901234567890") {
		t.Errorf("big number = %#v, %v; want a json.Number", m["n"], err)
	}

	cases := []struct {
		name, body string
		limit      int64
		code       int
		reason     string
	}{
		{"empty", "", DefaultBodyLimit, 400, "empty"},
		{"only spaces", "   \n", DefaultBodyLimit, 400, "empty"},
		{"syntax", `{"name": }`, DefaultBodyLimit, 400, "not valid JSON (at byte"},
		{"truncated", `{"name": "a"`, DefaultBodyLimit, 400, ""},
		{"trailing value", `{} {}`, DefaultBodyLimit, 400, "exactly one JSON value"},
		{"trailing garbage", `{}x`, DefaultBodyLimit, 400, "exactly one JSON value"},
		{"wrong type string", `{"name": 5}`, DefaultBodyLimit, 400, "name must be of JSON type string, not number"},
		{"wrong type number", `{"count": "5"}`, DefaultBodyLimit, 400, "count must be of JSON type number, not string"},
		{"wrong type array", `{"tags": {}}`, DefaultBodyLimit, 400, "tags must be of JSON type array, not object"},
		{"wrong type nested", `{"inner": {"on": "yes"}}`, DefaultBodyLimit, 400, "inner.on must be of JSON type boolean, not string"},
		{"wrong top-level type", `[1]`, DefaultBodyLimit, 400, "the request body must be of JSON type object, not array"},
		{"too large in the value", `{"name":"` + strings.Repeat("x", 100) + `"}`, 64, 413, "64 bytes"},
		{"too large after the value", `{}` + strings.Repeat(" ", 100), 64, 413, "64 bytes"},
	}
	for _, c := range cases {
		var v target
		err := decode(c.body, c.limit, &v)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%s: error %v is not a *wire.Error", c.name, err)
			continue
		}
		if e.Code != c.code || !strings.Contains(e.Reason, c.reason) {
			t.Errorf("%s: %d %q; want %d with reason containing %q", c.name, e.Code, e.Reason, c.code, c.reason)
		}
	}
}

func TestWriteErrorShape(t *testing.T) {
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/x", nil)
	WriteError(w, r, Forbidden.WithID("security_csrf_violation").WithReason("no %s", "cookie").WithDetail("hint", "h"))
	if w.Code != 403 || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("%d %q", w.Code, w.Header().Get("Content-Type"))
	}
	var body map[string]map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	e := body["error"]
	want := map[string]any{"id": "security_csrf_violation", "code": float64(403), "status": "Forbidden", "reason": "no cookie",
		"message": Forbidden.Message, "details": map[string]any{"hint": "h"}}
	for k, v := range want {
		if fmt.Sprint(e[k]) != fmt.Sprint(v) {
			t.Errorf("error.%s = %v; want %v", k, e[k], v)
		}
	}
	if len(body) != 1 {
		t.Errorf("top-level keys %v; want only error", body)
	}

	// Server errors hide their cause.
	w = httptest.NewRecorder()
	WriteError(w, r, fmt.Errorf("db password=hunter2 unreachable"))
	if w.Code != 500 || strings.Contains(w.Body.String(), "hunter2") {
		t.Errorf("internal error answer %d %s leaks its cause", w.Code, w.Body)
	}

	// Location changes also carry the target at the top level.
	w = httptest.NewRecorder()
	WriteError(w, r, Unprocessable.WithID("browser_location_change_required").WithDetail("redirect_browser_to", "https://ui.test/x"))
	var top map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &top)
	if top["redirect_browser_to"] != "https://ui.test/x" {
		t.Errorf("redirect_browser_to = %v", top["redirect_browser_to"])
	}
}

func TestFrom(t *testing.T) {
	base := NotFound.WithReason("gone")
	if From(base) != base {
		t.Error("From(*Error) is not the error itself")
	}
	wrapped := fmt.Errorf("loading: %w", base)
	if From(wrapped) != base {
		t.Error("From does not find a wrapped *Error")
	}
	tooLarge := &http.MaxBytesError{Limit: 10}
	if e := From(fmt.Errorf("read: %w", tooLarge)); e.Code != 413 || !strings.Contains(e.Reason, "10 bytes") || !errors.Is(e, tooLarge) {
		t.Errorf("From(MaxBytesError) = %+v", e)
	}
	cause := errors.New("disk on fire")
	e := From(cause)
	if e.Code != 500 || !errors.Is(e, cause) || e.Reason != "" || strings.Contains(e.Message, "fire") {
		t.Errorf("From(unknown) = %+v; want a generic 500 wrapping the cause", e)
	}
}

func TestErrorCopies(t *testing.T) {
	before := *BadRequest
	a := BadRequest.WithReason("a").WithID("x").WithDetail("k", 1).WithCause(errors.New("c"))
	b := a.WithDetail("k2", 2)
	if BadRequest.Reason != before.Reason || BadRequest.ID != "" || BadRequest.Details != nil || BadRequest.Unwrap() != nil {
		t.Error("With* changed the base error")
	}
	if len(a.Details) != 1 || len(b.Details) != 2 {
		t.Errorf("WithDetail shares its map: %v / %v", a.Details, b.Details)
	}
	if a.Error() != BadRequest.Message+": a" || NotFound.Error() != NotFound.Message {
		t.Errorf("Error() = %q / %q", a.Error(), NotFound.Error())
	}
}

func TestWriteJSONUnencodable(t *testing.T) {
	w := httptest.NewRecorder()
	WriteJSON(w, 200, map[string]any{"f": func() {}})
	if w.Code != 500 || !json.Valid(w.Body.Bytes()) {
		t.Errorf("%d %s; want a JSON 500", w.Code, w.Body)
	}
}

func TestWantsJSON(t *testing.T) {
	cases := []struct {
		accept, contentType string
		want                bool
	}{
		{"", "", false},
		{"text/html,application/xhtml+xml", "application/x-www-form-urlencoded", false},
		{"application/json", "", true},
		{"text/html, application/json;q=0.9", "", true},
		{"", "application/json; charset=utf-8", true},
		{"", "application/merge-patch+json", true},
		{"*/*", "", false},
	}
	for _, c := range cases {
		r := httptest.NewRequest("POST", "/", nil)
		if c.accept != "" {
			r.Header.Set("Accept", c.accept)
		}
		if c.contentType != "" {
			r.Header.Set("Content-Type", c.contentType)
		}
		if got := WantsJSON(r); got != c.want {
			t.Errorf("Accept %q, Content-Type %q: WantsJSON = %v", c.accept, c.contentType, got)
		}
	}
}

func TestParsePageAndLinkHeader(t *testing.T) {
	r := httptest.NewRequest("GET", "/admin/identities?page_size=2000&foo=bar", nil)
	p, err := ParsePage(r)
	if err != nil || p.Size != MaxPageSize || p.After != nil {
		t.Errorf("ParsePage = %+v, %v; want the size capped", p, err)
	}
	p, err = ParsePage(httptest.NewRequest("GET", "/?per_page=7", nil))
	if err != nil || p.Size != 7 {
		t.Errorf("per_page: %+v, %v", p, err)
	}
	p, _ = ParsePage(httptest.NewRequest("GET", "/", nil))
	if p.Size != DefaultPageSize {
		t.Errorf("default size %d", p.Size)
	}

	id := uuid.New()
	w := httptest.NewRecorder()
	SetLinkHeader(w, r, "http://admin.test/", 2, &id)
	link := w.Header().Get("Link")
	first, next, ok := strings.Cut(link, ",")
	if !ok || !strings.HasSuffix(first, `>; rel="first"`) || !strings.HasSuffix(next, `>; rel="next"`) {
		t.Fatalf("Link = %q", link)
	}
	nextURL := strings.TrimPrefix(strings.TrimSuffix(next, `>; rel="next"`), "<")
	if !strings.HasPrefix(nextURL, "http://admin.test/admin/identities?") || !strings.Contains(nextURL, "foo=bar") {
		t.Errorf("next = %q", nextURL)
	}
	p, err = ParsePage(httptest.NewRequest("GET", nextURL, nil))
	if err != nil || p.After == nil || *p.After != id || p.Size != 2 {
		t.Errorf("the next link does not round-trip: %+v, %v", p, err)
	}
	w = httptest.NewRecorder()
	SetLinkHeader(w, r, "http://admin.test", 2, nil)
	if strings.Contains(w.Header().Get("Link"), "next") {
		t.Errorf("Link without more pages = %q", w.Header().Get("Link"))
	}
}
