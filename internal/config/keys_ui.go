package config

import (
	"regexp"
	"strings"
)

// UI is Lanyard's own ui.* section: the built-in pages under /ui/.
type UI struct {
	Branding UIBranding
}

// UIBranding is ui.branding: how the built-in pages present the product.
type UIBranding struct {
	// Name is the product name in page titles and the header.
	Name string
	// LogoURL is an absolute http(s) URL of the logo; empty: no logo.
	LogoURL string
	// PrimaryColor is the accent colour of buttons and links, #rrggbb.
	PrimaryColor string
}

// DefaultPrimaryColor is a blue with enough contrast against white text.
const DefaultPrimaryColor = "#2457d6"

var uiKeys = []keySpec{
	field("ui.branding.name", brandName, "Lanyard", func(c *Config) *string { return &c.UI.Branding.Name }),
	field("ui.branding.logo_url", logoURL, "", func(c *Config) *string { return &c.UI.Branding.LogoURL }),
	field("ui.branding.primary_color", hexColor, DefaultPrimaryColor, func(c *Config) *string { return &c.UI.Branding.PrimaryColor }),
}

// brandName is a short, non-empty line of text: it goes into every title.
var brandName = then(text, func(s string, d *decodeCtx) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 100 || strings.ContainsAny(s, "\r\n") {
		return "", d.errorf("expected a name of 1 to 100 characters on one line, got %s", d.show(s))
	}
	return s, nil
})

// logoURL is an absolute http(s) URL; an empty string means no logo.
var logoURL = then(text, func(s string, d *decodeCtx) (string, error) {
	if strings.TrimSpace(s) == "" {
		return "", nil
	}
	u, err := httpURL.fromEnv(s, d)
	if err != nil {
		return "", err
	}
	return u.String(), nil
})

var hexColorPattern = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// hexColor is a colour as #rrggbb, stored in lower case.
var hexColor = then(text, func(s string, d *decodeCtx) (string, error) {
	if !hexColorPattern.MatchString(s) {
		return "", d.errorf("expected a colour as #rrggbb, got %s", d.show(s))
	}
	return strings.ToLower(s), nil
})
