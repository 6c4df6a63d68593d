package config

import (
	"testing"
)

func TestTOTPKeys(t *testing.T) {
	dir := t.TempDir()
	c, w := mustLoad(t, LoadOptions{Files: []string{writeFile(t, dir, "k.yml", prodBase+`
serve:
  public:
    base_url: https://auth.example.com:8443/
`)}, WorkDir: dir})
	if len(w) != 0 {
		t.Errorf("warnings: %v", w)
	}
	if m := c.Selfservice.Methods.TOTP; m.Enabled || m.Issuer != "" {
		t.Errorf("defaults: %+v", m)
	}
	if got := c.TOTPIssuer(); got != "auth.example.com" {
		t.Errorf("issuer without config.issuer = %q, want the public host", got)
	}

	c, w = mustLoad(t, LoadOptions{Files: []string{writeFile(t, dir, "t.yml", prodBase+`
selfservice:
  methods:
    totp:
      enabled: true
      config:
        issuer: Example Inc
`)}, WorkDir: dir})
	if len(w) != 0 {
		t.Errorf("warnings: %v", w)
	}
	if m := c.Selfservice.Methods.TOTP; !m.Enabled || c.TOTPIssuer() != "Example Inc" {
		t.Errorf("configured: %+v, issuer %q", m, c.TOTPIssuer())
	}

	env := map[string]string{"SELFSERVICE_METHODS_TOTP_ENABLED": "true", "SELFSERVICE_METHODS_TOTP_CONFIG_ISSUER": "From Env"}
	c, _ = mustLoad(t, LoadOptions{Files: []string{writeFile(t, dir, "k.yml", prodBase)}, WorkDir: dir,
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if !c.Selfservice.Methods.TOTP.Enabled || c.TOTPIssuer() != "From Env" {
		t.Errorf("from the environment: %+v", c.Selfservice.Methods.TOTP)
	}
}
