package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
)

// DefaultBodyLimit caps request bodies unless an endpoint says otherwise.
const DefaultBodyLimit = 1 << 20

// DecodeJSON reads the body of r as JSON into v, at most limit bytes,
// whatever the Content-Type says (as Kratos's admin API does, so that a
// plain `curl -d` works). Every failure is a 4xx *Error saying what was
// wrong; a string that is not valid text (see ValidText; escaped lone
// surrogates count too) is refused with an InvalidText cause naming it.
func DecodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return From(err)
		}
		return BadRequest.WithReason("The request body could not be read.")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return BadRequest.WithReason("The request body must hold exactly one JSON value.")
	}
	if bad := findInvalidText(data); bad != nil {
		return invalidTextError(bad)
	}
	return nil
}

func decodeError(err error) error {
	var tooLarge *http.MaxBytesError
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooLarge):
		return From(err)
	case errors.Is(err, io.EOF):
		return BadRequest.WithReason("The request body is empty; a JSON object was expected.")
	case errors.As(err, &syntax):
		return BadRequest.WithReason("The request body is not valid JSON (at byte %d).", syntax.Offset)
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "the request body"
		}
		return BadRequest.WithReason("%s must be of JSON type %s, not %s.", field, jsonTypeName(typeErr.Type.Kind().String()), typeErr.Value)
	default:
		return BadRequest.WithReason("The request body could not be decoded: %v", err)
	}
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "map", "struct", "ptr":
		return "object"
	default:
		return "number"
	}
}
