package testserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// BaseConfig is the config of a dev-mode server on dsn with both listeners
// on loopback, cheap bcrypt, and fixed secrets.
func BaseConfig(dsn string, publicPort, adminPort int) map[string]any {
	return map[string]any{
		"dsn": dsn,
		"dev": true,
		"serve": map[string]any{
			"public": map[string]any{
				"host":     "127.0.0.1",
				"port":     publicPort,
				"base_url": fmt.Sprintf("http://127.0.0.1:%d/", publicPort),
			},
			"admin": map[string]any{
				"host":     "127.0.0.1",
				"port":     adminPort,
				"base_url": fmt.Sprintf("http://127.0.0.1:%d/", adminPort),
			},
		},
		// No network here: the breached-password check is off unless a test points it at its own range server.
		"selfservice": map[string]any{"methods": map[string]any{"password": map[string]any{"config": map[string]any{"haveibeenpwned_enabled": false}}}},
		"hashers": map[string]any{
			"algorithm": "bcrypt",
			"bcrypt":    map[string]any{"cost": 4},
		},
		"secrets": map[string]any{
			"cookie": []any{"conformance-cookie-secret-0123456789"},
			// Shared by every server of a test, as by a deployment's
			// instances: they open each other's sealed secrets.
			"cipher": []any{"conformance-cipher-secret-32byte"},
		},
	}
}

// SetPath sets a dotted key such as "serve.public.port" in a nested map.
func SetPath(m map[string]any, path string, value any) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = value
}

// RenderYAML writes maps as block YAML with sorted keys and everything else
// as JSON, which YAML reads as flow style.
func RenderYAML(m map[string]any) []byte {
	var b bytes.Buffer
	writeYAMLMap(&b, m, 0)
	return b.Bytes()
}

func writeYAMLMap(b *bytes.Buffer, m map[string]any, indent int) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteString(strings.Repeat(" ", indent))
		b.WriteString(k)
		b.WriteString(":")
		if sub, ok := m[k].(map[string]any); ok && len(sub) > 0 {
			b.WriteString("\n")
			writeYAMLMap(b, sub, indent+2)
			continue
		}
		enc, err := json.Marshal(m[k])
		if err != nil {
			panic(err) // only test-authored values end up here
		}
		b.WriteString(" ")
		b.Write(enc)
		b.WriteString("\n")
	}
}
