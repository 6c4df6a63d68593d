package config

// lookupKeys are the keys of backup codes (selfservice.methods.lookup_secret);
// Kratos has no settings for them but the switch.
var lookupKeys = []keySpec{
	field("selfservice.methods.lookup_secret.enabled", boolean, false, func(c *Config) *bool { return &c.Selfservice.Methods.LookupSecret.Enabled }),
}
