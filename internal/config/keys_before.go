package config

// beforeKeys are the hooks each self-service flow runs when it is created.
var beforeKeys = []keySpec{
	field("selfservice.flows.login.before.hooks", hookList, nil, func(c *Config) *[]Hook { return &c.Selfservice.Flows.Login.BeforeHooks }),
	field("selfservice.flows.registration.before.hooks", hookList, nil, func(c *Config) *[]Hook { return &c.Selfservice.Flows.Registration.BeforeHooks }),
	field("selfservice.flows.settings.before.hooks", hookList, nil, func(c *Config) *[]Hook { return &c.Selfservice.Flows.Settings.BeforeHooks }),
	field("selfservice.flows.recovery.before.hooks", hookList, nil, func(c *Config) *[]Hook { return &c.Selfservice.Flows.Recovery.BeforeHooks }),
	field("selfservice.flows.verification.before.hooks", hookList, nil, func(c *Config) *[]Hook { return &c.Selfservice.Flows.Verification.BeforeHooks }),
}
