package flow

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/lanyard-id/lanyard/internal/schema"
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
// form values of traits.
func DecodePayload(w http.ResponseWriter, r *http.Request, fields []schema.Field) (Payload, error) {
	if wire.IsJSONBody(r) {
		var p Payload
		if err := wire.DecodeJSON(w, r, submitBodyLimit, &p); err != nil {
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
