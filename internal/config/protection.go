package config

import (
	"net/netip"
	"strings"
	"time"
)

// Protection is protection.*, Lanyard's own section (Kratos has no
// brute-force protection): failed-attempt counters, per-client rate limits
// and per-address message limits. All state lives in the database, so the
// limits hold across every instance that shares it.
type Protection struct {
	Enabled bool
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	Attempts       AttemptLimits
	RateLimits     RateLimits
	Courier        MessageLimits
}

// AttemptLimits govern failed sign-ins (and one-time codes): progressive
// delays per identifier and client address, a temporary lock per identifier.
type AttemptLimits struct {
	// FreeFailures per identifier and client address go without delay;
	// after them each attempt must wait twice as long as the one before.
	FreeFailures int
	MaxDelay     time.Duration
	// LockAfter attempts without success within Window lock the identifier
	// on every address, until the window ends and at least LockDuration.
	LockAfter    int
	Window       time.Duration
	LockDuration time.Duration
}

// RateLimits are token buckets per client address.
type RateLimits struct {
	Enabled      bool
	FlowCreation TokenBucket
	Submission   TokenBucket
}

// TokenBucket refills RatePerMinute tokens a minute up to Burst.
type TokenBucket struct {
	RatePerMinute int
	Burst         int
}

// MessageLimits cap the recovery, verification and login-code messages
// queued for one address.
type MessageLimits struct {
	MaxPerAddress int
	Window        time.Duration
}

var protectionKeys = []keySpec{
	field("protection.enabled", boolean, true, func(c *Config) *bool { return &c.Protection.Enabled }),
	field("protection.trusted_proxies", trustedProxyList, nil, func(c *Config) *[]netip.Prefix { return &c.Protection.TrustedProxies }),

	field("protection.attempts.free_failures", integer[int](1, 1000), 5, func(c *Config) *int { return &c.Protection.Attempts.FreeFailures }),
	field("protection.attempts.max_delay", protectionPeriod, time.Minute, func(c *Config) *time.Duration { return &c.Protection.Attempts.MaxDelay }),
	field("protection.attempts.lock_after", integer[int](1, 100000), 50, func(c *Config) *int { return &c.Protection.Attempts.LockAfter }),
	field("protection.attempts.window", protectionPeriod, time.Hour, func(c *Config) *time.Duration { return &c.Protection.Attempts.Window }),
	field("protection.attempts.lock_duration", protectionPeriod, 15*time.Minute, func(c *Config) *time.Duration { return &c.Protection.Attempts.LockDuration }),

	field("protection.rate_limits.enabled", boolean, true, func(c *Config) *bool { return &c.Protection.RateLimits.Enabled }),
	field("protection.rate_limits.flow_creation.rate_per_minute", integer[int](1, 1000000), 300, func(c *Config) *int { return &c.Protection.RateLimits.FlowCreation.RatePerMinute }),
	field("protection.rate_limits.flow_creation.burst", integer[int](1, 1000000), 100, func(c *Config) *int { return &c.Protection.RateLimits.FlowCreation.Burst }),
	field("protection.rate_limits.submission.rate_per_minute", integer[int](1, 1000000), 180, func(c *Config) *int { return &c.Protection.RateLimits.Submission.RatePerMinute }),
	field("protection.rate_limits.submission.burst", integer[int](1, 1000000), 60, func(c *Config) *int { return &c.Protection.RateLimits.Submission.Burst }),

	field("protection.courier.max_messages_per_address", integer[int](1, 100000), 10, func(c *Config) *int { return &c.Protection.Courier.MaxPerAddress }),
	field("protection.courier.window", protectionPeriod, time.Hour, func(c *Config) *time.Duration { return &c.Protection.Courier.Window }),
}

// protectionPeriod is a duration from one second to 30 days: shorter
// periods would protect nothing, longer ones lock people out for good.
var protectionPeriod = then(duration, func(v time.Duration, d *decodeCtx) (time.Duration, error) {
	if v < time.Second || v > 30*24*time.Hour {
		return 0, d.errorf("%s is out of range (1s to 720h)", v)
	}
	return v, nil
})

// trustedProxyList is a list of CIDRs or single addresses (10.0.0.0/8,
// 192.0.2.7, 2001:db8::/32).
var trustedProxyList = then(stringList, func(ss []string, d *decodeCtx) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(ss))
	for i, s := range ss {
		s = strings.TrimSpace(s)
		var p netip.Prefix
		var err error
		if strings.Contains(s, "/") {
			p, err = netip.ParsePrefix(s)
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(s); err == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil {
			return nil, d.errorf("item %d: %s is not an IP address or CIDR such as 10.0.0.0/8", i, d.show(s))
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			// Client addresses are compared unmapped.
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
})
