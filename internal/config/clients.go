package config

// Clients is clients.*: how Lanyard's outgoing calls behave.
type Clients struct {
	HTTP    ClientsHTTP
	WebHook ClientsWebHook
}

// ClientsHTTP is clients.http.*, applied to every call made on the config's
// behalf (web hooks, remote Jsonnet bodies, HTTP courier channels, social
// sign-in providers).
type ClientsHTTP struct {
	// DisallowPrivateIPRanges refuses connections to loopback, private,
	// link-local and similar addresses.
	DisallowPrivateIPRanges bool
	// PrivateIPExceptionURLs are globs of URLs that may reach them anyway.
	PrivateIPExceptionURLs []string
}

// ClientsWebHook is clients.web_hook.*.
type ClientsWebHook struct {
	// HeaderAllowlist names the request headers a web hook's Jsonnet ctx
	// carries as request_headers; nil: Kratos's default list.
	HeaderAllowlist []string
}

var clientsKeys = []keySpec{
	field("clients.http.disallow_private_ip_ranges", boolean, false, func(c *Config) *bool { return &c.Clients.HTTP.DisallowPrivateIPRanges }),
	field("clients.http.private_ip_exception_urls", stringList, nil, func(c *Config) *[]string { return &c.Clients.HTTP.PrivateIPExceptionURLs }),
	field("clients.web_hook.header_allowlist", stringList, nil, func(c *Config) *[]string { return &c.Clients.WebHook.HeaderAllowlist }),
}
