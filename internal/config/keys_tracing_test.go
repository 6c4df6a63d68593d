package config

import (
	"strings"
	"testing"
)

func TestTracingKeys(t *testing.T) {
	dir := t.TempDir()
	c, w := mustLoad(t, LoadOptions{Files: []string{writeFile(t, dir, "off.yml", prodBase)}, WorkDir: dir})
	if len(w) != 0 || c.Tracing.Enabled() {
		t.Errorf("defaults: %+v, warnings %v", c.Tracing, w)
	}
	if c.Tracing.ServiceName != "Lanyard" || c.Tracing.OTLP.SamplingRatio != 1 || c.Tracing.OTLP.Insecure {
		t.Errorf("defaults: %+v", c.Tracing)
	}

	c, w = mustLoad(t, LoadOptions{Files: []string{writeFile(t, dir, "on.yml", prodBase+`
tracing:
  provider: otel
  service_name: Auth
  deployment_environment: production
  providers:
    otlp:
      server_url: collector.internal:4318
      insecure: true
      authorization_header: Bearer collector-key
      sampling:
        sampling_ratio: 0.25
`)}, WorkDir: dir})
	if len(w) != 0 {
		t.Errorf("warnings: %v", w)
	}
	want := Tracing{Provider: "otel", ServiceName: "Auth", DeploymentEnvironment: "production",
		OTLP: OTLPTracing{ServerURL: "collector.internal:4318", Insecure: true, SamplingRatio: 0.25, AuthorizationHeader: "Bearer collector-key"}}
	if c.Tracing != want || !c.Tracing.Enabled() {
		t.Errorf("tracing = %+v, want %+v", c.Tracing, want)
	}

	env := map[string]string{"TRACING_PROVIDER": "otel", "TRACING_PROVIDERS_OTLP_SERVER_URL": "[::1]:4318", "TRACING_PROVIDERS_OTLP_SAMPLING_SAMPLING_RATIO": "0"}
	c, _ = mustLoad(t, LoadOptions{Files: []string{writeFile(t, dir, "off.yml", prodBase)}, WorkDir: dir,
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if !c.Tracing.Enabled() || c.Tracing.OTLP.ServerURL != "[::1]:4318" || c.Tracing.OTLP.SamplingRatio != 0 {
		t.Errorf("from the environment: %+v", c.Tracing)
	}
}

func TestTracingOtherProvidersWarnAndStayOff(t *testing.T) {
	dir := t.TempDir()
	c, w := mustLoad(t, LoadOptions{Files: []string{writeFile(t, dir, "j.yml", prodBase+`
tracing:
  provider: jaeger
  providers:
    jaeger:
      local_agent_address: 127.0.0.1:6831
`)}, WorkDir: dir})
	if c.Tracing.Enabled() {
		t.Errorf("jaeger turned tracing on: %+v", c.Tracing)
	}
	joined := strings.Join(w, "\n")
	for _, key := range []string{`"tracing.provider"`, `"tracing.providers.jaeger.local_agent_address"`} {
		if !strings.Contains(joined, key) {
			t.Errorf("no warning naming %s: %v", key, w)
		}
	}
}

func TestTracingBadValues(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"url, not host:port": "server_url: http://collector:4318/v1/traces",
		"no port":            "server_url: collector",
		"bad port":           "server_url: collector:99999",
		"ratio text":         "sampling: {sampling_ratio: half}",
		"insecure text":      "insecure: maybe",
	} {
		_, _, err := load(t, LoadOptions{Files: []string{writeFile(t, dir, "bad.yml", prodBase+`
tracing:
  provider: otel
  providers:
    otlp:
      `+body+"\n")}, WorkDir: dir})
		if err == nil || !strings.Contains(err.Error(), "tracing.providers.otlp.") {
			t.Errorf("%s: err = %v, want an error naming the key", name, err)
		}
	}
	_, _, err := load(t, LoadOptions{Files: []string{writeFile(t, dir, "secret.yml", prodBase+`
tracing:
  providers:
    otlp:
      authorization_header: [Bearer collector-key]
`)}, WorkDir: dir})
	if err == nil || strings.Contains(err.Error(), "collector-key") {
		t.Errorf("a bad authorization header: err = %v, want an error without the value", err)
	}
}
