package config

import (
	"net/mail"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
)

// Codecs of the courier.* keys.

// smtpURI accepts smtp:// and smtps:// URLs. The value may carry a
// password, so errors never repeat it.
var smtpURI = then(text, func(s string, d *decodeCtx) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") {
		return "", d.errorf("expected a URL such as smtp://user:password@host:587/ or smtps://host:465/")
	}
	if u.Hostname() == "" {
		return "", d.errorf("the SMTP URL has no host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", d.errorf("the SMTP URL has an invalid port")
		}
	}
	for _, k := range []string{"skip_ssl_verify", "disable_starttls"} {
		if v := u.Query().Get(k); v != "" {
			if _, err := strconv.ParseBool(v); err != nil {
				return "", d.errorf("query parameter %s must be true or false", k)
			}
		}
	}
	return s, nil
})

// localPath is a file system path; relative paths resolve against the
// working directory, as Kratos opens them.
var localPath = then(text, func(s string, d *decodeCtx) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || filepath.IsAbs(s) {
		return s, nil
	}
	return filepath.Join(d.dir, s), nil
})

var emailAddress = then(text, func(s string, d *decodeCtx) (string, error) {
	a, err := mail.ParseAddress(strings.TrimSpace(s))
	if err != nil || a.Name != "" {
		return "", d.errorf("expected an email address such as no-reply@example.org, got %s", d.show(s))
	}
	return a.Address, nil
})

// object decodes a YAML object (a JSON object in the environment) with f.
func object[T any](f func(m map[string]any, d *decodeCtx) (T, error)) codec[T] {
	fromYAML := func(v any, d *decodeCtx) (T, error) {
		m, ok := v.(map[string]any)
		if !ok {
			var zero T
			return zero, d.errorf("expected an object, got %s", d.show(v))
		}
		return f(m, d)
	}
	return codec[T]{
		fromYAML: fromYAML,
		fromEnv: func(s string, d *decodeCtx) (T, error) {
			v, err := decodeJSON([]byte(s))
			if err != nil {
				var zero T
				return zero, d.errorf("expected a JSON object: %v", err)
			}
			return fromYAML(v, d)
		},
	}
}

// stringMap is an object of string values, e.g. HTTP headers.
var stringMap = object(func(m map[string]any, d *decodeCtx) (map[string]string, error) {
	return stringValues(m, d, "")
})

func stringValues(m map[string]any, d *decodeCtx, where string) (map[string]string, error) {
	out := make(map[string]string, len(m))
	for _, k := range sortedKeys(m) {
		s, ok := m[k].(string)
		if !ok {
			return nil, d.errorf("%s%q must be a string", where, k)
		}
		out[k] = s
	}
	return out, nil
}

var httpRequestConfig = object(func(m map[string]any, d *decodeCtx) (*HTTPRequest, error) {
	r, err := decodeHTTPRequest(m, d, "")
	if err != nil {
		return nil, err
	}
	return &r, nil
})

// decodeHTTPRequest reads a Kratos request_config; where prefixes error
// messages (e.g. "item 0: request_config: ").
func decodeHTTPRequest(m map[string]any, d *decodeCtx, where string) (HTTPRequest, error) {
	var r HTTPRequest
	for _, f := range sortedKeys(m) {
		switch f {
		case "url", "method", "headers", "body", "auth":
		default:
			d.warn(unsupportedWarning(d.path + "." + strings.TrimSuffix(strings.ReplaceAll(where, ": ", "."), ".") + f))
		}
	}
	raw, _ := m["url"].(string)
	u, err := url.Parse(raw)
	if raw == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return r, d.errorf("%s\"url\" must be an absolute http:// or https:// URL", where)
	}
	r.URL = raw
	r.Method = "POST"
	if v, ok := m["method"]; ok {
		s, ok := v.(string)
		if !ok || s == "" || strings.ContainsAny(s, " \t\r\n") {
			return r, d.errorf("%s\"method\" must be an HTTP method such as POST", where)
		}
		r.Method = strings.ToUpper(s)
	}
	if v, ok := m["headers"]; ok {
		hm, ok := v.(map[string]any)
		if !ok {
			return r, d.errorf("%s\"headers\" must be an object of strings", where)
		}
		if r.Headers, err = stringValues(hm, d, where+"headers: "); err != nil {
			return r, err
		}
	}
	if v, ok := m["body"]; ok {
		s, ok := v.(string)
		if !ok {
			return r, d.errorf("%s\"body\" must be a file://, base64:// or http(s):// URL", where)
		}
		if !strings.Contains(s, "://") {
			s = "file://" + s // Kratos still accepts plain paths
		}
		if r.Body, err = resolveSchemaURL(s, d.dir); err != nil {
			return r, d.errorf("%s\"body\": %v", where, err)
		}
	}
	if v, ok := m["auth"]; ok {
		if r.Auth, err = decodeHTTPAuth(v, d, where); err != nil {
			return r, err
		}
	}
	return r, nil
}

func decodeHTTPAuth(v any, d *decodeCtx, where string) (HTTPAuth, error) {
	var a HTTPAuth
	m, ok := v.(map[string]any)
	if !ok {
		return a, d.errorf("%s\"auth\" must be an object with \"type\" and \"config\"", where)
	}
	a.Type, _ = m["type"].(string)
	cfg, _ := m["config"].(map[string]any)
	str := func(k string) (string, error) {
		s, ok := cfg[k].(string)
		if !ok || s == "" {
			return "", d.errorf("%sauth type %s needs config.%s", where, a.Type, k)
		}
		return s, nil
	}
	var err error
	switch a.Type {
	case "basic_auth":
		if a.User, err = str("user"); err != nil {
			return a, err
		}
		if a.Password, err = str("password"); err != nil {
			return a, err
		}
	case "api_key":
		if a.Name, err = str("name"); err != nil {
			return a, err
		}
		if a.Value, err = str("value"); err != nil {
			return a, err
		}
		if a.In, err = str("in"); err != nil {
			return a, err
		}
		if a.In != "header" && a.In != "cookie" {
			return a, d.errorf("%sauth config.in must be \"header\" or \"cookie\"", where)
		}
	default:
		return a, d.errorf("%sauth type must be \"basic_auth\" or \"api_key\"", where)
	}
	return a, nil
}

var courierChannels = objectList(func(i int, m map[string]any, d *decodeCtx) (CourierChannel, error) {
	var ch CourierChannel
	for _, f := range sortedKeys(m) {
		switch f {
		case "id", "type", "request_config":
		default:
			d.warn(unsupportedWarning(d.path + "." + f))
		}
	}
	ch.ID, _ = m["id"].(string)
	if ch.ID != "sms" {
		return ch, d.errorf("item %d: \"id\" must be \"sms\" (the only channel Kratos knows)", i)
	}
	ch.Type = "http"
	if t, ok := m["type"]; ok && t != "http" {
		return ch, d.errorf("item %d: \"type\" must be \"http\"", i)
	}
	rc, ok := m["request_config"].(map[string]any)
	if !ok {
		return ch, d.errorf("item %d: \"request_config\" must be an object", i)
	}
	var err error
	ch.Request, err = decodeHTTPRequest(rc, d, "item "+strconv.Itoa(i)+": request_config: ")
	return ch, err
})

// courierValidParts and courierInvalidParts are the leaves of
// courier.templates.<type>, relative to the type; invalid variants have no
// SMS template in Kratos's schema.
var (
	courierValidParts   = []string{"valid.email.subject", "valid.email.body.html", "valid.email.body.plaintext", "valid.sms.body.plaintext"}
	courierInvalidParts = []string{"invalid.email.subject", "invalid.email.body.html", "invalid.email.body.plaintext"}
)

// courierTemplateTypes are the types of courier.templates; sign-in and
// sign-up codes go to addresses that have, or are about to have, an
// account, so they have no invalid variant.
var courierTemplateTypes = map[string][][]string{
	"recovery":          {courierValidParts, courierInvalidParts},
	"recovery_code":     {courierValidParts, courierInvalidParts},
	"verification":      {courierValidParts, courierInvalidParts},
	"verification_code": {courierValidParts, courierInvalidParts},
	"login_code":        {courierValidParts},
	"registration_code": {courierValidParts},
}

// courierTemplates flattens courier.templates into "type.variant.part" ->
// URL, warning about leaves it does not know.
var courierTemplates = object(func(m map[string]any, d *decodeCtx) (map[string]string, error) {
	known := map[string]bool{}
	for t, variants := range courierTemplateTypes {
		for _, parts := range variants {
			for _, p := range parts {
				known[t+"."+p] = true
			}
		}
	}
	out := map[string]string{}
	var walk func(prefix string, v any) error
	walk = func(prefix string, v any) error {
		if sub, ok := v.(map[string]any); ok {
			for _, k := range sortedKeys(sub) {
				if err := walk(joinPath(prefix, k), sub[k]); err != nil {
					return err
				}
			}
			return nil
		}
		if !known[prefix] {
			d.warn(unsupportedWarning(d.path + "." + prefix))
			return nil
		}
		s, ok := v.(string)
		if !ok || s == "" {
			return d.errorf("%s must be a file://, base64:// or http(s):// URL", prefix)
		}
		u, err := resolveSchemaURL(s, d.dir)
		if err != nil {
			return d.errorf("%s: %v", prefix, err)
		}
		out[prefix] = u
		return nil
	}
	return out, walk("", m)
})
