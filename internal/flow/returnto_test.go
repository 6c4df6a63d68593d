package flow

import (
	"testing"

	"github.com/lanyard-id/lanyard/internal/wire"
)

func TestCheckReturnToCustomSchemes(t *testing.T) {
	k := testKit(nil)
	k.AllowedReturnURLs = []string{
		"exp://example.com/my-app",
		"com.example.app://callback",
		"myapp://",
		"com.example.native:/oauth2redirect",
	}
	allowed := map[string]string{
		"exp://example.com/my-app":                  "exp://example.com/my-app",
		"exp://example.com/my-app/--/signed-in?x=1": "exp://example.com/my-app/--/signed-in?x=1",
		"EXP://example.com/my-app":                  "exp://example.com/my-app", // schemes are case-insensitive
		"com.example.app://callback":                "com.example.app://callback",
		"com.example.app://callback/done":           "com.example.app://callback/done",
		"com.example.native:/oauth2redirect":        "com.example.native:/oauth2redirect",
	}
	for in, want := range allowed {
		got, err := k.CheckReturnTo(in)
		if err != nil || got != want {
			t.Errorf("CheckReturnTo(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	rejected := []string{
		"exp://example.com/other-app",     // outside the allowed path
		"exp://evil.example/my-app",       // other host
		"exps://example.com/my-app",       // other scheme
		"com.example.app://evil/callback", // other host
		"myapp://anything/at/all",         // an empty host in the entry is not a wildcard
		"otherapp://callback",             // a scheme nobody listed
		"com.example.native:other",        // opaque
		"exp://example.com/my-app/../../evil",
	}
	for _, in := range rejected {
		if got, err := k.CheckReturnTo(in); err == nil {
			t.Errorf("CheckReturnTo(%q) = %q; want it rejected", in, got)
		}
	}
}

func TestCheckReturnToNeverAllowsScriptSchemes(t *testing.T) {
	k := testKit(nil)
	// Even listed, they stay refused: nothing a browser is sent to may run code.
	k.AllowedReturnURLs = []string{"javascript://example.com/", "javascript:alert(1)", "data:text/html,hi", "vbscript://x/", "JAVASCRIPT://example.com/"}
	for _, in := range []string{
		"javascript://example.com/%0Aalert(1)",
		"JavaScript://example.com/%0Aalert(1)",
		"javascript:alert(1)",
		"data:text/html,hi",
		"data://text/html,hi",
		"vbscript://x/msgbox",
	} {
		got, err := k.CheckReturnTo(in)
		if err == nil {
			t.Errorf("CheckReturnTo(%q) = %q; want it rejected", in, got)
			continue
		}
		if e := wire.From(err); e.Code != 400 || e.ID != "self_service_flow_return_to_forbidden" {
			t.Errorf("CheckReturnTo(%q) error = %+v", in, e)
		}
	}
}

func TestCheckReturnToHostWildcards(t *testing.T) {
	k := testKit(nil)
	k.AllowedReturnURLs = []string{"https://*.example.net/", "https://*corp.example/", "https://*/"}
	for in, ok := range map[string]bool{
		"https://a.example.net/x":     true,
		"https://a.b.example.net/":    true,
		"https://example.net/":        false, // "*." needs a subdomain
		"https://evilexample.net/":    false,
		"https://a.example.net:444/":  false, // ports are part of the host
		"https://megacorp.example/":   true,  // a bare "*" prefix matches any prefix, as in Kratos
		"https://corp.example/":       true,
		"https://corp.example.evil/":  false,
		"https://anything.example/":   false, // a lone "*" host matches nothing
		"http://a.example.net/":       false,
		"https://A.EXAMPLE.NET/Upper": true,
	} {
		_, err := k.CheckReturnTo(in)
		if (err == nil) != ok {
			t.Errorf("CheckReturnTo(%q): err = %v, want allowed %v", in, err, ok)
		}
	}
}

func TestHostMatches(t *testing.T) {
	for _, tc := range []struct {
		pattern, host string
		want          bool
	}{
		{"example.com", "example.com", true},
		{"example.com", "EXAMPLE.com", true},
		{"example.com", "a.example.com", false},
		{"*.example.com", "a.example.com", true},
		{"*.example.com", "example.com", false},
		{"*example.com", "example.com", true},
		{"*example.com", "badexample.com", true},
		{"*", "example.com", false},
		{"", "", true},
		{"", "example.com", false},
		{"example.com:8443", "example.com:8443", true},
		{"example.com:8443", "example.com", false},
	} {
		if got := hostMatches(tc.pattern, tc.host); got != tc.want {
			t.Errorf("hostMatches(%q, %q) = %v, want %v", tc.pattern, tc.host, got, tc.want)
		}
	}
}
