package config

import (
	"slices"
	"strings"
	"testing"
)

func TestAllowedReturnURLsTakeAnyScheme(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "k.yml", prodBase+`
selfservice:
  allowed_return_urls:
    - https://app.example.com/
    - exp://example.com/my-app
    - com.example.app://callback
    - com.example.native:/oauth2redirect
    - https://*.example.org/
    - ""
`)
	c, w := mustLoad(t, LoadOptions{Files: []string{f}})
	want := []string{"https://app.example.com/", "exp://example.com/my-app", "com.example.app://callback", "com.example.native:/oauth2redirect", "https://*.example.org/"}
	if !slices.Equal(c.Selfservice.AllowedReturnURLs, want) {
		t.Errorf("allowed_return_urls = %v, want %v", c.Selfservice.AllowedReturnURLs, want)
	}
	if len(w) != 0 {
		t.Errorf("warnings: %v", w)
	}

	// From the environment too.
	e := env{"SELFSERVICE_ALLOWED_RETURN_URLS": "exp://example.com/my-app, https://app.example.com/"}
	c, _ = mustLoad(t, LoadOptions{Files: []string{f}, LookupEnv: e.lookup})
	if want := []string{"exp://example.com/my-app", "https://app.example.com/"}; !slices.Equal(c.Selfservice.AllowedReturnURLs, want) {
		t.Errorf("from env: %v, want %v", c.Selfservice.AllowedReturnURLs, want)
	}
}

func TestAllowedReturnURLsSkipWhatKratosSkips(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "k.yml", prodBase+`
selfservice:
  allowed_return_urls:
    - https://*/
    - https://*.com/
    - https://app.example.com/
    - javascript://example.com/
    - data:text/html,hi
`)
	c, w := mustLoad(t, LoadOptions{Files: []string{f}})
	if want := []string{"https://app.example.com/"}; !slices.Equal(c.Selfservice.AllowedReturnURLs, want) {
		t.Errorf("allowed_return_urls = %v, want %v", c.Selfservice.AllowedReturnURLs, want)
	}
	if len(w) != 4 {
		t.Fatalf("want 4 warnings, got %v", w)
	}
	for _, x := range w {
		if !strings.Contains(x, `"selfservice.allowed_return_urls"`) || !strings.Contains(x, "ignored") {
			t.Errorf("warning %q", x)
		}
	}
}

func TestAllowedReturnURLsRefuseRelativeURLs(t *testing.T) {
	dir := t.TempDir()
	for _, bad := range []string{"/dashboard", "app.example.com/x", "%zz://x"} {
		f := writeFile(t, dir, "k.yml", prodBase+"selfservice: {allowed_return_urls: [\""+bad+"\"]}\n")
		_, _, err := load(t, LoadOptions{Files: []string{f}})
		if err == nil || !strings.Contains(err.Error(), `"selfservice.allowed_return_urls"`) || !strings.Contains(err.Error(), "absolute URL") {
			t.Errorf("%s: err = %v", bad, err)
		}
	}
}

func TestCORSOriginsAndKratosDefaults(t *testing.T) {
	dir := t.TempDir()
	c, _ := mustLoad(t, LoadOptions{Files: []string{writeFile(t, dir, "k.yml", prodBase)}})
	cors := c.Serve.Public.CORS
	if cors.Enabled || !slices.Equal(cors.AllowedOrigins, []string{"*"}) || !cors.AllowCredentials || cors.MaxAge != 0 ||
		!slices.Equal(cors.AllowedMethods, []string{"POST", "GET", "PUT", "PATCH", "DELETE"}) ||
		!slices.Equal(cors.AllowedHeaders, []string{"Authorization", "Content-Type", "X-Session-Token"}) ||
		!slices.Equal(cors.ExposedHeaders, []string{"Content-Type"}) {
		t.Errorf("defaults = %+v", cors)
	}
	for _, tc := range []struct{ origins, want string }{
		{`["https://*.example.*"]`, "more than one"},
		{`["https://a.example", ""]`, "item 1 is empty"},
	} {
		f := writeFile(t, dir, "bad.yml", prodBase+"serve: {public: {cors: {allowed_origins: "+tc.origins+"}}}\n")
		_, _, err := load(t, LoadOptions{Files: []string{f}})
		if err == nil || !strings.Contains(err.Error(), `"serve.public.cors.allowed_origins"`) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v", tc.origins, err)
		}
	}
	f := writeFile(t, dir, "ok.yml", prodBase+"serve: {public: {cors: {enabled: true, allowed_origins: [\"https://*.example.com\", \"*\"]}}}\n")
	if c, _ := mustLoad(t, LoadOptions{Files: []string{f}}); !slices.Equal(c.Serve.Public.CORS.AllowedOrigins, []string{"https://*.example.com", "*"}) {
		t.Errorf("origins = %v", c.Serve.Public.CORS.AllowedOrigins)
	}
}
