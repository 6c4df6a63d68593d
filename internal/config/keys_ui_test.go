package config

import (
	"strings"
	"testing"
)

func TestUIBrandingKeys(t *testing.T) {
	dir := t.TempDir()
	c, w := mustLoad(t, LoadOptions{Files: []string{writeFile(t, dir, "k.yml", prodBase)}, WorkDir: dir})
	if len(w) != 0 {
		t.Errorf("warnings: %v", w)
	}
	if b := c.UI.Branding; b.Name != "Lanyard" || b.LogoURL != "" || b.PrimaryColor != DefaultPrimaryColor {
		t.Errorf("defaults: %+v", b)
	}

	c, w = mustLoad(t, LoadOptions{Files: []string{writeFile(t, dir, "b.yml", prodBase+`
ui:
  branding:
    name: Example Inc
    logo_url: https://cdn.example.com/logo.svg
    primary_color: "#AA3300"
`)}, WorkDir: dir})
	if len(w) != 0 {
		t.Errorf("warnings: %v", w)
	}
	if b := c.UI.Branding; b.Name != "Example Inc" || b.LogoURL != "https://cdn.example.com/logo.svg" || b.PrimaryColor != "#aa3300" {
		t.Errorf("configured: %+v", b)
	}

	env := map[string]string{"UI_BRANDING_NAME": "From Env", "UI_BRANDING_PRIMARY_COLOR": "#123456", "UI_BRANDING_LOGO_URL": "http://logo.test/x.png"}
	c, _ = mustLoad(t, LoadOptions{Files: []string{writeFile(t, dir, "k.yml", prodBase)}, WorkDir: dir,
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if b := c.UI.Branding; b.Name != "From Env" || b.PrimaryColor != "#123456" || b.LogoURL != "http://logo.test/x.png" {
		t.Errorf("from the environment: %+v", b)
	}
}

func TestUIBrandingValidation(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ yaml, key string }{
		{"ui:\n  branding:\n    primary_color: blue\n", "ui.branding.primary_color"},
		{"ui:\n  branding:\n    primary_color: \"#12345\"\n", "ui.branding.primary_color"},
		{"ui:\n  branding:\n    logo_url: javascript:alert(1)\n", "ui.branding.logo_url"},
		{"ui:\n  branding:\n    logo_url: /relative.png\n", "ui.branding.logo_url"},
		{"ui:\n  branding:\n    name: \"  \"\n", "ui.branding.name"},
		{"ui:\n  branding:\n    name: 7\n", "ui.branding.name"},
	} {
		_, _, err := load(t, LoadOptions{Files: []string{writeFile(t, dir, "bad.yml", prodBase+tc.yaml)}, WorkDir: dir})
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%q: error %v, want one naming %s", tc.yaml, err, tc.key)
		}
	}
}
