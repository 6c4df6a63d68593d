package config

// TOTPMethod is selfservice.methods.totp: second factors from
// authenticator apps.
type TOTPMethod struct {
	Enabled bool
	// Issuer names the service in authenticator apps; empty means the
	// host of the public base URL (see TOTPIssuer).
	Issuer string
}

// totpKeys are the keys of the TOTP method.
var totpKeys = []keySpec{
	field("selfservice.methods.totp.enabled", boolean, false, func(c *Config) *bool { return &c.Selfservice.Methods.TOTP.Enabled }),
	field("selfservice.methods.totp.config.issuer", text, "", func(c *Config) *string { return &c.Selfservice.Methods.TOTP.Issuer }),
}

// TOTPIssuer is the issuer authenticator apps show for Lanyard's keys:
// selfservice.methods.totp.config.issuer, else the public base URL's host
// name, as Kratos does.
func (c *Config) TOTPIssuer() string {
	if c.Selfservice.Methods.TOTP.Issuer != "" {
		return c.Selfservice.Methods.TOTP.Issuer
	}
	if c.Serve.Public.BaseURL != nil {
		return c.Serve.Public.BaseURL.Hostname()
	}
	return ""
}
