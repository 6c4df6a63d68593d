package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// maxJSONDepth bounds nesting while scanning schema documents so that a
// hostile document cannot exhaust the stack.
const maxJSONDepth = 256

// keyOrder maps the JSON pointer (RFC 6901, ~-escaped) of every object in a
// document to its keys in the order they were written. Go maps lose that
// order, and form fields must follow the schema author's order.
type keyOrder map[string][]string

// scanKeyOrder reads raw with a token decoder and records object key order.
func scanKeyOrder(raw []byte) (keyOrder, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	order := keyOrder{}
	if err := scanValue(dec, "", order, 0); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("unexpected data after the top-level JSON value")
	}
	return order, nil
}

func scanValue(dec *json.Decoder, ptr string, order keyOrder, depth int) error {
	if depth > maxJSONDepth {
		return fmt.Errorf("JSON nesting deeper than %d levels", maxJSONDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch delim {
	case '{':
		keys := []string{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			key, ok := kt.(string)
			if !ok {
				return errors.New("object key is not a string")
			}
			keys = append(keys, key)
			if err := scanValue(dec, ptr+"/"+escapePointerToken(key), order, depth+1); err != nil {
				return err
			}
		}
		order[ptr] = keys
	case '[':
		for i := 0; dec.More(); i++ {
			if err := scanValue(dec, ptr+"/"+strconv.Itoa(i), order, depth+1); err != nil {
				return err
			}
		}
	}
	// Consume the closing delimiter.
	_, err = dec.Token()
	return err
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

func escapePointerToken(s string) string {
	return pointerEscaper.Replace(s)
}

// jsonPointer joins instance location tokens into an RFC 6901 pointer.
func jsonPointer(tokens []string) string {
	var sb strings.Builder
	for _, t := range tokens {
		sb.WriteByte('/')
		sb.WriteString(escapePointerToken(t))
	}
	return sb.String()
}

// dottedName turns instance location tokens into the dotted form Kratos
// uses for UI node names ("traits.name.first"). Dots inside a key are
// escaped with a backslash, as gjson paths do.
func dottedName(tokens []string) string {
	parts := make([]string, len(tokens))
	for i, t := range tokens {
		parts[i] = strings.ReplaceAll(t, ".", `\.`)
	}
	return strings.Join(parts, ".")
}

// syntaxErrorDetail adds a line and column to JSON syntax errors so a
// broken schema file can be fixed without guessing.
func syntaxErrorDetail(raw []byte, err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := lineCol(raw, se.Offset)
		return fmt.Sprintf("line %d, column %d: %v", line, col, err)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		line, col := lineCol(raw, te.Offset)
		return fmt.Sprintf("line %d, column %d: %v", line, col, err)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "unexpected end of JSON input"
	}
	return err.Error()
}

func lineCol(raw []byte, offset int64) (int, int) {
	if offset > int64(len(raw)) {
		offset = int64(len(raw))
	}
	line, col := 1, 1
	for _, b := range raw[:offset] {
		if b == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}
