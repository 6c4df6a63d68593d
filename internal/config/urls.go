package config

import (
	"net"
	"strconv"
	"strings"
)

func joinHostPort(host string, port int) string {
	return net.JoinHostPort(strings.Trim(host, "[]"), strconv.Itoa(port))
}

// PublicURL is the public base URL joined with path, e.g.
// PublicURL("/self-service/login/browser").
func (c *Config) PublicURL(path string) string {
	return c.Serve.Public.URL(path)
}

// AdminURL is the admin base URL joined with path.
func (c *Config) AdminURL(path string) string {
	return c.Serve.Admin.URL(path)
}

// URL joins the listener's base URL and path with exactly one slash
// between them. path may carry a query string.
func (l Listener) URL(path string) string {
	base := "http://" + joinHostPort(l.Host, l.Port) + "/"
	if l.BaseURL != nil {
		base = l.BaseURL.String()
	}
	return strings.TrimRight(base, "/") + "/" + strings.TrimLeft(path, "/")
}

// FilePath is the local path of a file:// schema URL.
func (s SchemaRef) FilePath() (string, bool) {
	p, ok := strings.CutPrefix(s.URL, "file://")
	return p, ok
}

// Raw returns the value at a dotted path in the merged config files, for
// keys that have no typed field yet. Environment overrides are not in it.
func (c *Config) Raw(path string) (any, bool) {
	if c.raw == nil {
		return nil, false
	}
	var v any = c.raw.m
	for part := range strings.SplitSeq(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[part]; !ok {
			return nil, false
		}
	}
	return v, true
}
