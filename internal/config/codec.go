package config

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// decodeCtx carries what a codec needs to know about the value it decodes.
type decodeCtx struct {
	path   string
	secret bool
	// dir is the directory relative paths and file:// URLs resolve
	// against: the working directory, as in Kratos (not the directory of
	// the config file that set the key).
	dir string
	// warn records a non-fatal problem (e.g. an unknown field inside a
	// list item).
	warn func(string)
}

func (d *decodeCtx) errorf(format string, args ...any) error {
	return fmt.Errorf("config key %q: %s", d.path, fmt.Sprintf(format, args...))
}

// show renders a bad value for an error message, hiding secrets.
func (d *decodeCtx) show(v any) string {
	if d.secret {
		return "(value hidden)"
	}
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return quoteShort(v)
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case bool, int, int64, uint64, float64:
		return fmt.Sprint(v)
	default:
		return fmt.Sprintf("a value of type %T", v)
	}
}

// codec turns a YAML-decoded value or an environment string into T.
// YAML decoding is strict about types (a quoted "4433" is not a port);
// environment values are always strings and are parsed.
type codec[T any] struct {
	fromYAML func(v any, d *decodeCtx) (T, error)
	fromEnv  func(s string, d *decodeCtx) (T, error)
}

// then derives a codec that post-processes (and may reject) decoded values.
func then[A, B any](c codec[A], f func(A, *decodeCtx) (B, error)) codec[B] {
	return codec[B]{
		fromYAML: func(v any, d *decodeCtx) (B, error) {
			a, err := c.fromYAML(v, d)
			if err != nil {
				var zero B
				return zero, err
			}
			return f(a, d)
		},
		fromEnv: func(s string, d *decodeCtx) (B, error) {
			a, err := c.fromEnv(s, d)
			if err != nil {
				var zero B
				return zero, err
			}
			return f(a, d)
		},
	}
}

var text = codec[string]{
	fromYAML: func(v any, d *decodeCtx) (string, error) {
		s, ok := v.(string)
		if !ok {
			return "", d.errorf("expected a string, got %s", d.show(v))
		}
		return s, nil
	},
	fromEnv: func(s string, _ *decodeCtx) (string, error) { return s, nil },
}

var boolean = codec[bool]{
	fromYAML: func(v any, d *decodeCtx) (bool, error) {
		b, ok := v.(bool)
		if !ok {
			return false, d.errorf("expected true or false, got %s", d.show(v))
		}
		return b, nil
	},
	fromEnv: func(s string, d *decodeCtx) (bool, error) {
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return false, d.errorf("expected true or false, got %s", d.show(s))
		}
		return b, nil
	},
}

// anything accepts every value; for keys that are read but ignored.
var anything = codec[any]{
	fromYAML: func(v any, _ *decodeCtx) (any, error) { return v, nil },
	fromEnv:  func(s string, _ *decodeCtx) (any, error) { return s, nil },
}

type integerType interface {
	~int | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

// integer accepts whole numbers in [lo, hi].
func integer[T integerType](lo, hi int64) codec[T] {
	check := func(n int64, d *decodeCtx) (T, error) {
		if n < lo || n > hi {
			return 0, d.errorf("%d is out of range (%d to %d)", n, lo, hi)
		}
		return T(n), nil
	}
	return codec[T]{
		fromYAML: func(v any, d *decodeCtx) (T, error) {
			switch n := v.(type) {
			case int:
				return check(int64(n), d)
			case int64:
				return check(n, d)
			case uint64:
				if n > math.MaxInt64 {
					return 0, d.errorf("%d is out of range (%d to %d)", n, lo, hi)
				}
				return check(int64(n), d)
			case float64:
				if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
					return check(int64(n), d)
				}
			}
			return 0, d.errorf("expected an integer, got %s", d.show(v))
		},
		fromEnv: func(s string, d *decodeCtx) (T, error) {
			n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
			if err != nil {
				return 0, d.errorf("expected an integer, got %s", d.show(s))
			}
			return check(n, d)
		},
	}
}

// duration accepts Go duration strings such as "500ms" or "1h30m", never
// negative (Kratos's schema has no sign in its pattern).
var duration = then(text, func(s string, d *decodeCtx) (time.Duration, error) {
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || v < 0 {
		return 0, d.errorf("expected a duration such as \"500ms\" or \"15m\", got %s", d.show(s))
	}
	return v, nil
})

var byteSizePattern = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)$`)

// byteUnits follow Kratos (github.com/inhies/go-bytesize): KB means 1024
// bytes. The IEC spellings (KiB) are accepted as the same thing.
var byteUnits = map[string]uint64{
	"": 1, "b": 1,
	"k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
	"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
	"g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
	"t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40,
	"p": 1 << 50, "pb": 1 << 50, "pib": 1 << 50,
	"e": 1 << 60, "eb": 1 << 60, "eib": 1 << 60,
}

func parseByteSize(s string, d *decodeCtx) (uint64, error) {
	bad := func() (uint64, error) {
		return 0, d.errorf("expected a byte size such as \"128MB\", \"1GB\" or \"64KiB\", got %s", d.show(s))
	}
	m := byteSizePattern.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return bad()
	}
	unit, ok := byteUnits[strings.ToLower(m[2])]
	if !ok {
		return bad()
	}
	if !strings.Contains(m[1], ".") {
		n, err := strconv.ParseUint(m[1], 10, 64)
		if err != nil || n > math.MaxUint64/unit {
			return 0, d.errorf("byte size %s is too large", d.show(s))
		}
		return n * unit, nil
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return bad()
	}
	total := f * float64(unit)
	if total >= math.MaxUint64 {
		return 0, d.errorf("byte size %s is too large", d.show(s))
	}
	return uint64(total), nil
}

// byteSize is a size in bytes: "128MB", "1.5GB", "64KiB" or a plain integer.
var byteSize = codec[uint64]{
	fromYAML: func(v any, d *decodeCtx) (uint64, error) {
		switch n := v.(type) {
		case string:
			return parseByteSize(n, d)
		case int, int64, uint64, float64:
			return integer[uint64](0, math.MaxInt64).fromYAML(n, d)
		}
		return 0, d.errorf("expected a byte size such as \"128MB\", got %s", d.show(v))
	},
	fromEnv: parseByteSize,
}

// kibibytes is a byte size stored in KiB (as argon2 takes it), at least 1 KiB.
var kibibytes = then(byteSize, func(n uint64, d *decodeCtx) (uint32, error) {
	kib := n / 1024
	if kib < 1 || kib > math.MaxUint32 {
		return 0, d.errorf("%d bytes is out of range (1KB to 4TB)", n)
	}
	return uint32(kib), nil
})

// enum accepts one of the given strings.
func enum(allowed ...string) codec[string] {
	return then(text, func(s string, d *decodeCtx) (string, error) {
		for _, a := range allowed {
			if s == a {
				return s, nil
			}
		}
		return "", d.errorf("%s is not one of %s", d.show(s), strings.Join(allowed, ", "))
	})
}

// httpURL accepts an absolute http(s) URL.
var httpURL = then(text, func(s string, d *decodeCtx) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, d.errorf("expected an absolute http:// or https:// URL, got %s", d.show(s))
	}
	return u, nil
})

// baseURL is an http(s) URL whose path ends with "/", so that joining a
// path onto it never loses its last segment.
var baseURL = then(httpURL, func(u *url.URL, d *decodeCtx) (*url.URL, error) {
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, d.errorf("base URL %s must not have a query or fragment", d.show(u.String()))
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		u.RawPath = ""
	}
	return u, nil
})

// stringList accepts a YAML list of strings; from the environment a JSON
// array or a comma-separated list.
var stringList = codec[[]string]{
	fromYAML: func(v any, d *decodeCtx) ([]string, error) {
		items, ok := v.([]any)
		if !ok {
			// A single string is a common slip; Kratos rejects it too.
			return nil, d.errorf("expected a list of strings, got %s", d.show(v))
		}
		out := make([]string, 0, len(items))
		for i, it := range items {
			s, ok := it.(string)
			if !ok {
				return nil, d.errorf("item %d: expected a string, got %s", i, d.show(it))
			}
			out = append(out, s)
		}
		return out, nil
	},
	fromEnv: func(s string, d *decodeCtx) ([]string, error) {
		s = strings.TrimSpace(s)
		if strings.HasPrefix(s, "[") {
			var out []string
			if err := json.Unmarshal([]byte(s), &out); err != nil {
				return nil, d.errorf("expected a JSON array of strings or a comma-separated list")
			}
			return out, nil
		}
		var out []string
		for part := range strings.SplitSeq(s, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
		return out, nil
	},
}

// objectList decodes a list of objects with item; from the environment the
// list is JSON.
func objectList[T any](item func(i int, m map[string]any, d *decodeCtx) (T, error)) codec[[]T] {
	fromYAML := func(v any, d *decodeCtx) ([]T, error) {
		items, ok := v.([]any)
		if !ok {
			return nil, d.errorf("expected a list of objects, got %s", d.show(v))
		}
		out := make([]T, 0, len(items))
		for i, it := range items {
			m, ok := it.(map[string]any)
			if !ok {
				return nil, d.errorf("item %d: expected an object, got %s", i, d.show(it))
			}
			t, err := item(i, m, d)
			if err != nil {
				return nil, err
			}
			out = append(out, t)
		}
		return out, nil
	}
	return codec[[]T]{
		fromYAML: fromYAML,
		fromEnv: func(s string, d *decodeCtx) ([]T, error) {
			v, err := decodeJSON([]byte(s))
			if err != nil {
				return nil, d.errorf("expected a JSON array of objects: %v", err)
			}
			return fromYAML(v, d)
		},
	}
}

// decodeJSON decodes into the same shapes yaml.v3 produces (int for whole
// numbers), so one set of codecs handles both.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("unexpected data after the JSON value")
	}
	return fromJSONNumbers(v), nil
}

func fromJSONNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		if n, err := v.Int64(); err == nil {
			if n == int64(int(n)) {
				return int(n)
			}
			return n
		}
		f, _ := v.Float64()
		return f
	case map[string]any:
		for k, e := range v {
			v[k] = fromJSONNumbers(e)
		}
	case []any:
		for i, e := range v {
			v[i] = fromJSONNumbers(e)
		}
	}
	return v
}
