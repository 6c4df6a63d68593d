package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestProtectionDefaults(t *testing.T) {
	c, _ := mustLoad(t, LoadOptions{Dev: true})
	want := Protection{
		Enabled:  true,
		Attempts: AttemptLimits{FreeFailures: 5, MaxDelay: time.Minute, LockAfter: 50, Window: time.Hour, LockDuration: 15 * time.Minute},
		RateLimits: RateLimits{
			Enabled:      true,
			FlowCreation: TokenBucket{RatePerMinute: 300, Burst: 100},
			Submission:   TokenBucket{RatePerMinute: 180, Burst: 60},
		},
		Courier: MessageLimits{MaxPerAddress: 10, Window: time.Hour},
	}
	if !reflect.DeepEqual(c.Protection, want) {
		t.Errorf("defaults\n got %+v\nwant %+v", c.Protection, want)
	}
	// ASVS V2.2.1: at most 100 failed attempts an hour per account; a
	// window of an hour lets through at most twice lock_after in any hour.
	if a := want.Attempts; a.Window < time.Hour || 2*a.LockAfter > 100 {
		t.Errorf("the defaults allow more than 100 attempts an hour: %+v", a)
	}
}

func TestProtectionKeys(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "p.yml", prodBase+`
protection:
  enabled: true
  trusted_proxies: [10.0.0.0/8, 192.0.2.7, "2001:db8::/32", "::ffff:172.16.0.0/108"]
  attempts: {free_failures: 3, max_delay: 30s, lock_after: 20, window: 2h, lock_duration: 30m}
  rate_limits:
    enabled: false
    flow_creation: {rate_per_minute: 10, burst: 5}
    submission: {rate_per_minute: 6, burst: 2}
  courier: {max_messages_per_address: 4, window: 24h}
`)
	c, w := mustLoad(t, LoadOptions{Files: []string{f}})
	if len(w) != 0 {
		t.Errorf("warnings %v", w)
	}
	p := c.Protection
	wantProxies := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"),
		netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("172.16.0.0/12"),
	}
	if !reflect.DeepEqual(p.TrustedProxies, wantProxies) {
		t.Errorf("trusted proxies %v, want %v", p.TrustedProxies, wantProxies)
	}
	if p.Attempts != (AttemptLimits{3, 30 * time.Second, 20, 2 * time.Hour, 30 * time.Minute}) {
		t.Errorf("attempts %+v", p.Attempts)
	}
	if p.RateLimits != (RateLimits{false, TokenBucket{10, 5}, TokenBucket{6, 2}}) {
		t.Errorf("rate limits %+v", p.RateLimits)
	}
	if p.Courier != (MessageLimits{4, 24 * time.Hour}) {
		t.Errorf("courier %+v", p.Courier)
	}
}

func TestProtectionEnvOverrides(t *testing.T) {
	c, _ := mustLoad(t, LoadOptions{Dev: true, LookupEnv: env{
		"PROTECTION_ENABLED":                                "false",
		"PROTECTION_TRUSTED_PROXIES":                        "10.0.0.0/8, 127.0.0.1",
		"PROTECTION_ATTEMPTS_LOCK_AFTER":                    "7",
		"PROTECTION_RATE_LIMITS_SUBMISSION_RATE_PER_MINUTE": "12",
		"PROTECTION_COURIER_WINDOW":                         "10m",
	}.lookup})
	p := c.Protection
	if p.Enabled || len(p.TrustedProxies) != 2 || p.Attempts.LockAfter != 7 || p.RateLimits.Submission.RatePerMinute != 12 || p.Courier.Window != 10*time.Minute {
		t.Errorf("env overrides not applied: %+v", p)
	}
}

func TestProtectionValidation(t *testing.T) {
	for _, tc := range []struct{ yml, key string }{
		{"protection: {attempts: {lock_after: 0}}", "protection.attempts.lock_after"},
		{"protection: {attempts: {free_failures: -1}}", "protection.attempts.free_failures"},
		{"protection: {attempts: {window: 0s}}", "protection.attempts.window"},
		{"protection: {attempts: {lock_duration: -5m}}", "protection.attempts.lock_duration"},
		{"protection: {attempts: {max_delay: 100ms}}", "protection.attempts.max_delay"},
		{"protection: {attempts: {window: 9000h}}", "protection.attempts.window"},
		{"protection: {rate_limits: {flow_creation: {rate_per_minute: 0}}}", "protection.rate_limits.flow_creation.rate_per_minute"},
		{"protection: {rate_limits: {submission: {burst: -3}}}", "protection.rate_limits.submission.burst"},
		{"protection: {courier: {max_messages_per_address: 0}}", "protection.courier.max_messages_per_address"},
		{"protection: {courier: {window: soon}}", "protection.courier.window"},
		{"protection: {trusted_proxies: [10.0.0.0/33]}", "protection.trusted_proxies"},
		{"protection: {trusted_proxies: [proxy.internal]}", "protection.trusted_proxies"},
		{"protection: {trusted_proxies: 10.0.0.0/8}", "protection.trusted_proxies"},
		{"protection: {enabled: yes please}", "protection.enabled"},
	} {
		_, _, err := load(t, LoadOptions{Dev: true, Files: []string{writeFile(t, t.TempDir(), "p.yml", tc.yml)}})
		if err == nil || !strings.Contains(err.Error(), `"`+tc.key+`"`) {
			t.Errorf("%s: error %v, want one naming %s", tc.yml, err, tc.key)
		}
	}
	_, _, err := load(t, LoadOptions{Dev: true, LookupEnv: env{"PROTECTION_ATTEMPTS_LOCK_AFTER": "0"}.lookup})
	if err == nil || !strings.Contains(err.Error(), "PROTECTION_ATTEMPTS_LOCK_AFTER") {
		t.Errorf("env: %v", err)
	}
}
