package config

import (
	"slices"
	"strings"
	"testing"
)

func TestClientsKeys(t *testing.T) {
	dir := t.TempDir()
	c, w := mustLoad(t, LoadOptions{Files: []string{writeFile(t, dir, "off.yml", prodBase)}, WorkDir: dir})
	if len(w) != 0 || c.Clients.HTTP.DisallowPrivateIPRanges || c.Clients.HTTP.PrivateIPExceptionURLs != nil || c.Clients.WebHook.HeaderAllowlist != nil {
		t.Errorf("defaults: %+v, warnings %v", c.Clients, w)
	}

	c, w = mustLoad(t, LoadOptions{Files: []string{writeFile(t, dir, "on.yml", prodBase+`
clients:
  http:
    disallow_private_ip_ranges: true
    private_ip_exception_urls:
      - http://hooks.internal/*
  web_hook:
    header_allowlist: [X-Tenant, user-agent]
`)}, WorkDir: dir})
	if len(w) != 0 {
		t.Errorf("warnings: %v", w)
	}
	if !c.Clients.HTTP.DisallowPrivateIPRanges || !slices.Equal(c.Clients.HTTP.PrivateIPExceptionURLs, []string{"http://hooks.internal/*"}) ||
		!slices.Equal(c.Clients.WebHook.HeaderAllowlist, []string{"X-Tenant", "user-agent"}) {
		t.Errorf("clients = %+v", c.Clients)
	}

	env := map[string]string{"CLIENTS_HTTP_DISALLOW_PRIVATE_IP_RANGES": "true", "CLIENTS_HTTP_PRIVATE_IP_EXCEPTION_URLS": `["http://a.internal/x"]`}
	c, _ = mustLoad(t, LoadOptions{Files: []string{writeFile(t, dir, "off.yml", prodBase)}, WorkDir: dir,
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if !c.Clients.HTTP.DisallowPrivateIPRanges || !slices.Equal(c.Clients.HTTP.PrivateIPExceptionURLs, []string{"http://a.internal/x"}) {
		t.Errorf("from the environment: %+v", c.Clients)
	}

	_, _, err := load(t, LoadOptions{Files: []string{writeFile(t, dir, "bad.yml", prodBase+`
clients:
  http:
    disallow_private_ip_ranges: sometimes
`)}, WorkDir: dir})
	if err == nil || !strings.Contains(err.Error(), "clients.http.disallow_private_ip_ranges") {
		t.Errorf("a bad value: %v", err)
	}
}

func TestWebHookEmitAnalyticsEvent(t *testing.T) {
	dir := t.TempDir()
	hooks := func(extra string) []Hook {
		c, _ := mustLoad(t, LoadOptions{Files: []string{writeFile(t, dir, "h.yml", prodBase+`
selfservice:
  flows:
    login:
      after:
        hooks:
          - hook: web_hook
            config:
              url: https://hooks.example/login
              method: POST
              body: base64://ZnVuY3Rpb24oY3R4KSB7fQ==
`+extra)}, WorkDir: dir})
		return c.Selfservice.Flows.Login.AfterHooks
	}
	if h := hooks(""); !h[0].WebHook.EmitAnalyticsEvent {
		t.Error("emit_analytics_event defaults to true")
	}
	if h := hooks("              emit_analytics_event: false\n"); h[0].WebHook.EmitAnalyticsEvent {
		t.Error("emit_analytics_event: false is ignored")
	}
	_, _, err := load(t, LoadOptions{Files: []string{writeFile(t, dir, "bad.yml", prodBase+`
selfservice:
  flows:
    login:
      after:
        hooks:
          - hook: web_hook
            config: {url: "https://hooks.example/", method: POST, body: "base64://e30=", emit_analytics_event: "yes"}
`)}, WorkDir: dir})
	if err == nil || !strings.Contains(err.Error(), "emit_analytics_event") {
		t.Errorf("a bad emit_analytics_event: %v", err)
	}
}
