package flow

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/text"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// Payload is a decoded submission: JSON as it came, or a form turned into
// the same nested shape ("traits.name.first" -> traits.name.first), with
// values typed as the identity schema says.
type Payload map[string]any

// String answers a top-level string field ("" when absent or not a string).
func (p Payload) String(key string) string {
	s, _ := p[key].(string)
	return s
}

// Traits answers the traits object, or nil.
func (p Payload) Traits() map[string]any {
	t, _ := p["traits"].(map[string]any)
	return t
}

// submitBodyLimit caps self-service submissions: they hold a handful of
// fields.
const submitBodyLimit = 64 << 10

// DecodePayload reads a submission as JSON or as a form; fields types the
// form values of traits. A string that is not valid text (wire.ValidText;
// in JSON also an unpaired surrogate escape) is refused with an error
// that errors.As reads as a FormError, the message on the offending field,
// and as a *wire.Error, a 400; the payload then holds only the csrf_token
// (see csrfOnly). Any other failure answers no payload.
func DecodePayload(w http.ResponseWriter, r *http.Request, fields []schema.Field) (Payload, error) {
	if wire.IsJSONBody(r) {
		var p Payload
		if err := wire.DecodeJSON(w, r, submitBodyLimit, &p); err != nil {
			var bad *wire.InvalidText
			if errors.As(err, &bad) {
				field := bad.Field
				if bad.Key {
					field = ""
				}
				return csrfOnly(p.String("csrf_token"), field), refuseText(field, wire.From(err))
			}
			return nil, err
		}
		if p == nil {
			return nil, wire.BadRequest.WithReason("The request body must be a JSON object.")
		}
		return p, nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, submitBodyLimit)
	if err := r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, wire.From(err)
		}
		return nil, wire.BadRequest.WithReason("The form could not be parsed.")
	}
	if field, err := checkFormText(r.PostForm); err != nil {
		return csrfOnly(r.PostForm.Get("csrf_token"), field), err
	}
	types := make(map[string]string, len(fields))
	for _, f := range fields {
		types[f.Name] = f.Type
	}
	p := Payload{}
	for key, values := range r.PostForm {
		if len(values) == 0 || key == "" {
			continue
		}
		v, keep := typed(values[len(values)-1], types[key])
		if keep {
			setPath(p, strings.Split(key, "."), v)
		}
	}
	return p, nil
}

// checkFormText refuses form names and values that are not valid text
// (wire.ValidText): no store can hold them. It answers the field refused
// ("" for a name).
func checkFormText(form url.Values) (string, error) {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the same field is named whatever the map's order
	for _, k := range keys {
		if !wire.ValidText(k) {
			return "", refuseText("", wire.BadRequest.WithReason("A form field name is not valid text: names must be valid UTF-8 without NUL characters."))
		}
	}
	for _, k := range keys {
		for _, v := range form[k] {
			if !wire.ValidText(v) {
				return k, refuseText(k, wire.BadRequest.WithReason("The form field %q is not valid text: values must be valid UTF-8 without NUL characters.", k))
			}
		}
	}
	return "", nil
}

// csrfOnly is the payload of a submission refused for its text: only the
// CSRF token, so that a browser flow can check it before it shows the
// error, and only when it is not the refused field.
func csrfOnly(token, refused string) Payload {
	if refused == "csrf_token" || !wire.ValidText(token) {
		return Payload{}
	}
	return Payload{"csrf_token": token}
}

// textError refuses a submission whose value (or name, then the field is
// "") is not valid text. It is both a FormError, which a flow shows on the
// field, and a 400, for callers that answer errors plainly (wire.From).
type textError struct {
	form FormError
	err  *wire.Error
}

func refuseText(field string, e *wire.Error) *textError {
	msg := text.ValidationGeneric("The value must be valid UTF-8 text without NUL characters.")
	if field == "" {
		msg = text.ValidationGeneric("Field names must be valid UTF-8 text without NUL characters.")
	}
	return &textError{form: FormError{{Field: field, Message: msg}}, err: e}
}

func (e *textError) Error() string { return e.err.Error() }

// Unwrap lets errors.As find either face.
func (e *textError) Unwrap() []error { return []error{e.form, e.err} }

// typed converts a form value to the JSON type the schema wants; an empty
// value of a non-string field is dropped, as an unfilled input.
func typed(v, typ string) (any, bool) {
	switch typ {
	case "number", "integer":
		if v == "" {
			return nil, false
		}
		if _, err := strconv.ParseFloat(v, 64); err == nil {
			return json.Number(v), true
		}
	case "boolean":
		switch v {
		case "", "false", "off", "0":
			return false, true
		case "true", "on", "1":
			return true, true
		}
	}
	return v, true
}

func setPath(m map[string]any, path []string, v any) {
	for len(path) > 1 {
		next, ok := m[path[0]].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[path[0]] = next
		}
		m, path = next, path[1:]
	}
	m[path[0]] = v
}
