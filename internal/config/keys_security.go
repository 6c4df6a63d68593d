package config

// Security is security.*.
type Security struct {
	// AccountEnumerationMitigate hides whether an account exists where a
	// flow would otherwise tell: identifier-first login shows every
	// method, sign-in codes are never sent unasked, and registration
	// without a usable method does not say so.
	AccountEnumerationMitigate bool
}

var securityKeys = []keySpec{
	field("security.account_enumeration.mitigate", boolean, false, func(c *Config) *bool { return &c.Security.AccountEnumerationMitigate }),
}
