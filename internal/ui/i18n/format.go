package i18n

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/lanyard-id/lanyard/internal/text"
)

// fill replaces each {key} of tmpl with the context value under key,
// formatted for the language; {key|or} joins a list with the language's
// "or". It reports false when a value is missing, so that the caller
// falls back to the English text rather than showing a placeholder.
func (c *Catalogue) fill(tag, tmpl string, ctx map[string]any) (string, bool) {
	var b strings.Builder
	for {
		open := strings.IndexByte(tmpl, '{')
		if open < 0 {
			b.WriteString(tmpl)
			return b.String(), true
		}
		end := strings.IndexByte(tmpl[open:], '}')
		if end < 0 {
			b.WriteString(tmpl)
			return b.String(), true
		}
		b.WriteString(tmpl[:open])
		key, verb, _ := strings.Cut(tmpl[open+1:open+end], "|")
		v, ok := ctx[key]
		if !ok || v == nil {
			return "", false
		}
		sep := ", "
		if verb == "or" {
			sep = " " + words[tag]["or"] + " "
		}
		b.WriteString(c.value(tag, key, v, sep))
		tmpl = tmpl[open+end+1:]
	}
}

// value formats one context value. Kratos's context names its times
// *_at (RFC 3339) and *_unix (Unix seconds); both become dates. Values
// arrive as Go types from a fresh message and as JSON types from a
// stored flow.
func (c *Catalogue) value(tag, key string, v any, sep string) string {
	switch v := v.(type) {
	case string:
		if isTimeKey(key) {
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
				return c.Date(tag, t)
			}
		}
		return v
	case time.Time:
		return c.Date(tag, v)
	case []string:
		parts := make([]string, len(v))
		for i, s := range v {
			parts[i] = c.value(tag, key, s, sep)
		}
		return strings.Join(parts, sep)
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = c.value(tag, key, e, sep)
		}
		return strings.Join(parts, sep)
	}
	if n, ok := number(v); ok {
		if strings.HasSuffix(key, "_unix") && n == math.Trunc(n) {
			return c.Date(tag, time.Unix(int64(n), 0).UTC())
		}
		return c.number(tag, n)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(raw)
}

func isTimeKey(key string) bool {
	return strings.HasSuffix(key, "_at") || strings.HasSuffix(key, "At")
}

// number formats n with the language's digit grouping and decimal mark;
// whole numbers (JSON decodes every number as a float) without decimals.
func (c *Catalogue) number(tag string, n float64) string {
	p := c.printers[tag]
	if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
		return p.Sprint(int64(n))
	}
	return p.Sprint(n)
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int8:
		return float64(n), true
	case int16:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint:
		return float64(n), true
	case uint8:
		return float64(n), true
	case uint16:
		return float64(n), true
	case uint32:
		return float64(n), true
	case uint64:
		return float64(n), true
	case float32:
		return float64(n), true
	case float64:
		return n, true
	case json.Number:
		f, err := strconv.ParseFloat(n.String(), 64)
		return f, err == nil
	}
	return 0, false
}

// composed are the translations a template cannot express.
var composed = map[int]func(c *Catalogue, tag string, m *text.Message) (string, bool){
	4000001: genericReason,
	1050015: codeList,
}

// genericReason translates the fixed reasons Lanyard puts in message
// 4000001; any other reason (they are free text) stays as it is.
func genericReason(c *Catalogue, tag string, m *text.Message) (string, bool) {
	reason, _ := m.Context["reason"].(string)
	if reason == "" {
		return "", false
	}
	if s, ok := germanReasons[reason]; ok && tag == german {
		return s, true
	}
	return reason, true
}

// codeList writes a list of backup codes (message 1050015) from the
// messages of its codes: the unused ones as themselves, the used ones as
// the word for "used".
func codeList(c *Catalogue, tag string, m *text.Message) (string, bool) {
	each, ok := codeMessages(m.Context["secrets"])
	if !ok {
		return "", false
	}
	parts := make([]string, len(each))
	for i, code := range each {
		switch code.ID {
		case 1050009:
			secret, ok := code.Context["secret"].(string)
			if !ok {
				return "", false
			}
			parts[i] = secret
		case 1050014:
			parts[i] = words[tag]["used"]
		default:
			return "", false
		}
	}
	return strings.Join(parts, ", "), true
}

// codeMessages reads the list of messages in 1050015's context, kept as
// messages in a fresh flow and as decoded JSON in a stored one.
func codeMessages(v any) ([]*text.Message, bool) {
	switch v := v.(type) {
	case []*text.Message:
		return v, true
	case []any:
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, false
		}
		var out []*text.Message
		if err := json.Unmarshal(raw, &out); err != nil {
			return nil, false
		}
		for _, m := range out {
			if m == nil {
				return nil, false
			}
		}
		return out, true
	}
	return nil, false
}
