package wire

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Every string a request carries must be text both stores can hold:
// PostgreSQL refuses NUL and invalid UTF-8 in text and jsonb columns, and
// lone UTF-16 surrogate escapes in jsonb, where SQLite stores them all.
// Refusing them at the edge gives the same 400 on either store.

// ValidText reports whether s is valid UTF-8 without NUL characters.
func ValidText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// InvalidText is the cause of a 400 for a JSON body holding a string that
// is not valid text: a NUL character, invalid UTF-8, or an escaped UTF-16
// surrogate without its other half.
type InvalidText struct {
	// Field is the dotted path of the string ("traits.email",
	// "identities.0.create.traits"); for a bad key, the path of its
	// object. "" is the top level.
	Field string
	// Key is set when an object key is bad, not a value.
	Key bool
}

func (e *InvalidText) Error() string {
	switch {
	case e.Key && e.Field == "":
		return "a key of the request body is not valid text"
	case e.Key:
		return "a key in " + strconv.Quote(e.Field) + " is not valid text"
	case e.Field == "":
		return "the request body is not valid text"
	}
	return strconv.Quote(e.Field) + " is not valid text"
}

// invalidTextError is the 400 for bad text in a JSON body.
func invalidTextError(bad *InvalidText) *Error {
	return BadRequest.
		WithReason("%s: strings must be valid UTF-8 without NUL characters or unpaired surrogates.", upperFirst(bad.Error())).
		WithCause(bad)
}

func upperFirst(s string) string {
	if s != "" && s[0] >= 'a' && s[0] <= 'z' {
		return string(s[0]-'a'+'A') + s[1:]
	}
	return s
}

// findInvalidText looks for a string or key that is not valid text in
// data, which must hold one syntactically valid JSON value (the decoder
// checked it): encoding/json would quietly turn invalid UTF-8 and lone
// surrogates into U+FFFD, and json.RawMessage keeps them as they came.
func findInvalidText(data []byte) *InvalidText {
	s := textScanner{data: data}
	return s.value(nil)
}

type textScanner struct {
	data []byte
	pos  int
}

func (s *textScanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// value scans the value at pos; path names it.
func (s *textScanner) value(path []string) *InvalidText {
	s.skipSpace()
	if s.pos >= len(s.data) {
		return nil
	}
	switch s.data[s.pos] {
	case '{':
		s.pos++
		for {
			s.skipSpace()
			if s.pos >= len(s.data) {
				return nil
			}
			switch s.data[s.pos] {
			case '}':
				s.pos++
				return nil
			case ',':
				s.pos++
				continue
			}
			start := s.pos
			if !s.validString() {
				return &InvalidText{Field: strings.Join(path, "."), Key: true}
			}
			key := decodeKey(s.data[start:s.pos])
			s.skipSpace()
			s.pos++ // the colon
			if bad := s.value(append(path, key)); bad != nil {
				return bad
			}
		}
	case '[':
		s.pos++
		for i := 0; ; {
			s.skipSpace()
			if s.pos >= len(s.data) {
				return nil
			}
			switch s.data[s.pos] {
			case ']':
				s.pos++
				return nil
			case ',':
				s.pos++
				continue
			}
			if bad := s.value(append(path, strconv.Itoa(i))); bad != nil {
				return bad
			}
			i++
		}
	case '"':
		if !s.validString() {
			return &InvalidText{Field: strings.Join(path, ".")}
		}
		return nil
	default: // a number, true, false or null
		for s.pos < len(s.data) && !isJSONDelimiter(s.data[s.pos]) {
			s.pos++
		}
		return nil
	}
}

func isJSONDelimiter(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

// validString moves pos past the string at pos and reports whether it is
// valid text. It stops at the first problem; the scan ends there.
func (s *textScanner) validString() bool {
	d := s.data
	i := s.pos + 1
	for i < len(d) {
		c := d[i]
		switch {
		case c == '"':
			s.pos = i + 1
			return true
		case c == '\\':
			if i+1 < len(d) && d[i+1] == 'u' {
				r, ok := hex4(d, i+2)
				switch {
				case !ok:
					return false
				case r == 0:
					return false
				case r >= 0xD800 && r <= 0xDBFF:
					// A high surrogate must be followed by a low one.
					if i+7 >= len(d) || d[i+6] != '\\' || d[i+7] != 'u' {
						return false
					}
					low, ok := hex4(d, i+8)
					if !ok || low < 0xDC00 || low > 0xDFFF {
						return false
					}
					i += 12
				case r >= 0xDC00 && r <= 0xDFFF:
					return false
				default:
					i += 6
				}
				continue
			}
			i += 2
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(d[i:])
			if r == utf8.RuneError && size == 1 {
				return false
			}
			i += size
		}
	}
	return false
}

// hex4 reads the four hex digits at d[i:].
func hex4(d []byte, i int) (rune, bool) {
	if i+4 > len(d) {
		return 0, false
	}
	var r rune
	for _, c := range d[i : i+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}

// decodeKey turns a valid JSON string token into its text, for paths.
func decodeKey(token []byte) string {
	inner := token[1 : len(token)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner)
	}
	var s string
	if json.Unmarshal(token, &s) != nil {
		return string(inner)
	}
	return s
}
