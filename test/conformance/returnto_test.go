package conformance

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
)

// Two values that start Kratos must start Lanyard the same way: a deep link
// of a native app in allowed_return_urls, and a relative file:// URL, which
// Kratos reads from its working directory.

const deepLink = "exp://example.com/my-app"

func TestReturnTo_CustomSchemeDeepLinks(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, map[string]any{
			"selfservice.allowed_return_urls": []any{appURL, deepLink},
		})
		back := deepLink + "/--/signed-in?x=1"

		// The flow keeps the deep link, and a browser that completes it
		// is sent there.
		b := newBrowser(t, s)
		f, _ := b.browserFlow(t, "registration", url.Values{"return_to": {back}})
		if f.ReturnTo != back {
			t.Fatalf("return_to = %q, want %q", f.ReturnTo, back)
		}
		res := b.do(t, http.MethodPost, s.submitURL("registration", f.ID), url.Values{
			"csrf_token": {f.csrf(t)}, "method": {"password"}, "password": {testPassword},
			"traits.email": {uniqueEmail("deeplink")},
		}, nil)
		if loc := redirectTarget(t, res); loc.String() != back {
			t.Errorf("after registration the browser goes to %s, want %s", loc, back)
		}

		// Native apps start API flows with it too.
		api := sendRequest(t, plain(s), http.MethodGet, s.PublicURL+"/self-service/login/api?return_to="+url.QueryEscape(back), nil, nil)
		if api.status != http.StatusOK {
			t.Fatalf("login/api with the deep link: %d %s", api.status, api.body)
		}
		if lf := decodeFlow(t, "login", api.body); lf.ReturnTo != back {
			t.Errorf("api flow return_to = %q, want %q", lf.ReturnTo, back)
		}

		// Only what is listed: other apps, other paths and script schemes stay out.
		for _, bad := range []string{
			"exp://example.com/other-app",
			"exp://evil.example/my-app",
			"otherapp://example.com/my-app",
			"javascript:alert(document.cookie)",
			"javascript://example.com/%0Aalert(1)",
			"data:text/html,<script>alert(1)</script>",
		} {
			res := newBrowser(t, s).do(t, http.MethodGet, s.PublicURL+"/self-service/login/browser?return_to="+url.QueryEscape(bad), nil, jsonAccept)
			if e := requireError(t, res.status, res.body, http.StatusBadRequest); e.Error.ID != "self_service_flow_return_to_forbidden" {
				t.Errorf("return_to=%s: error.id = %q, want self_service_flow_return_to_forbidden", bad, e.Error.ID)
			}
		}
	})
}

// A Kratos user writes file://profiles/identity.schema.json and starts the
// server from the directory that holds profiles/, whatever directory the
// config file is in.
func TestConfig_RelativeFileURLsResolveAgainstTheWorkingDirectory(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		root := t.TempDir()
		work := filepath.Join(root, "work")
		schema := `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "From the working directory",
  "type": "object",
  "properties": {"traits": {"type": "object", "properties": {"email": {"type": "string", "format": "email",
    "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}}}}}}
}`
		writeNested(t, filepath.Join(work, "profiles", "identity.schema.json"), schema)
		// A decoy next to the config file, where Lanyard used to look.
		writeNested(t, filepath.Join(root, "etc", "profiles", "identity.schema.json"), `{"title": "Next to the config file", "type": "object"}`)
		config := writeNested(t, filepath.Join(root, "etc", "kratos.yml"), `
identity:
  default_schema_id: default
  schemas:
    - id: default
      url: file://profiles/identity.schema.json
`)
		s := startServer(t, serverSpec{store: store, configFile: config, workDir: work, args: []string{"--dev"}})
		got, res, err := s.Public.IdentityAPI.GetIdentitySchema(context.Background(), "default").Execute()
		requireOK(t, res, err, http.StatusOK)
		if got["title"] != "From the working directory" {
			t.Errorf("schema title = %v, want the working directory's schema", got["title"])
		}
	})
}

// writeNested writes a file, creating its directories.
func writeNested(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
