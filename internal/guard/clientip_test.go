package guard

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/lanyard-id/lanyard/internal/config"
)

func TestClientIP(t *testing.T) {
	g, _ := newTestGuard(nil, func(p *config.Protection) {
		p.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}
	})
	for _, tc := range []struct {
		name string
		peer string
		xff  []string
		want string
	}{
		{"plain peer", "192.0.2.1:1234", nil, "192.0.2.1"},
		{"untrusted peer ignores the header", "192.0.2.1:1234", []string{"203.0.113.9"}, "192.0.2.1"},
		{"trusted peer without header", "10.0.0.1:1234", nil, "10.0.0.1"},
		{"one trusted hop", "10.0.0.1:1234", []string{"203.0.113.9"}, "203.0.113.9"},
		{"client-written addresses left of the real one", "10.0.0.1:1234", []string{"1.1.1.1, 203.0.113.9"}, "203.0.113.9"},
		{"several trusted hops", "10.0.0.1:1234", []string{"198.51.100.4, 10.2.3.4, 10.5.6.7"}, "198.51.100.4"},
		{"repeated headers read as one list", "10.0.0.1:1234", []string{"1.1.1.1, 198.51.100.4", "10.2.3.4"}, "198.51.100.4"},
		{"all hops trusted", "10.0.0.1:1234", []string{"10.9.9.9, 10.2.3.4"}, "10.9.9.9"},
		{"garbage beyond the trusted hops", "10.0.0.1:1234", []string{"not-an-ip, 10.2.3.4"}, "10.2.3.4"},
		{"garbage right after the peer", "10.0.0.1:1234", []string{"unknown"}, "10.0.0.1"},
		{"ports in the header", "10.0.0.1:1234", []string{"203.0.113.9:5555"}, "203.0.113.9"},
		{"IPv6 peer", "[2001:db8::1]:443", nil, "2001:db8::1"},
		{"IPv6 trusted proxy, bracketed client", "[2001:db8:ffff::1]:443", []string{"[2001:db8:1::5]:80"}, "2001:db8:1::5"},
		{"IPv4-mapped peer", "[::ffff:192.0.2.1]:443", nil, "192.0.2.1"},
		{"IPv4-mapped trusted proxy", "[::ffff:10.0.0.1]:443", []string{"203.0.113.9"}, "203.0.113.9"},
		{"unparsable peer", "@", nil, ""},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.peer
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := g.ClientIP(r); got != tc.want {
			t.Errorf("%s: ClientIP = %q, want %q", tc.name, got, tc.want)
		}
	}
	var none *Guard
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.1:1"
	r.Header.Set("X-Forwarded-For", "203.0.113.9")
	if got := none.ClientIP(r); got != "10.0.0.1" {
		t.Errorf("nil guard trusts the header: %q", got)
	}
}

func TestClientKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1":              "192.0.2.1",
		"::ffff:192.0.2.1":       "192.0.2.1",
		"2001:db8:1:2:3:4:5:6":   "2001:db8:1:2::/64",
		"[2001:db8:1:2::9]:443":  "2001:db8:1:2::/64",
		"fe80::1%eth0":           "fe80::/64",
		"":                       "",
		"definitely not an addr": "",
	} {
		if got := clientKey(in); got != want {
			t.Errorf("clientKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzClientIP: whatever the header holds, the answer is the peer or one of
// the header's addresses, never something made up, and never a panic.
func FuzzClientIP(f *testing.F) {
	for _, s := range []string{"203.0.113.9", "1.1.1.1, 10.0.0.2", "[2001:db8::1]:80, unknown", ",,", " , 10.1.1.1 ,"} {
		f.Add(s)
	}
	g, _ := newTestGuard(nil, func(p *config.Protection) {
		p.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	})
	f.Fuzz(func(t *testing.T, xff string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "10.0.0.1:1234"
		r.Header.Set("X-Forwarded-For", xff)
		got := g.ClientIP(r)
		a, err := netip.ParseAddr(got)
		if err != nil {
			t.Fatalf("ClientIP = %q, not an address", got)
		}
		if got == "10.0.0.1" {
			return
		}
		for _, part := range strings.Split(xff, ",") {
			if b, ok := parseAddr(part); ok && b == a {
				return
			}
		}
		t.Fatalf("ClientIP = %q is neither the peer nor in %q", got, xff)
	})
}
