package config

import (
	"fmt"
	"net/url"
	"strings"
)

// returnURLList is selfservice.allowed_return_urls: absolute URLs of any
// scheme, as Kratos takes them, so that native apps can return to deep
// links such as exp://example.com/my-app. Entries Kratos skips with a
// warning (a host of just "*", or a wildcard over a whole top-level
// domain) are skipped with a warning here too, and so are script schemes,
// which Lanyard never redirects to.
var returnURLList = then(stringList, func(ss []string, d *decodeCtx) ([]string, error) {
	out := make([]string, 0, len(ss))
	for i, s := range ss {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		u, err := url.Parse(s)
		if err != nil || u.Scheme == "" {
			return nil, d.errorf("item %d: expected an absolute URL such as https://app.example.com/ or myapp://callback, got %s", i, d.show(s))
		}
		if reason := unusableReturnURL(u); reason != "" {
			d.warn(fmt.Sprintf("config key %q: item %d (%s) is ignored: %s", d.path, i, quoteShort(s), reason))
			continue
		}
		out = append(out, s)
	}
	return out, nil
})

func unusableReturnURL(u *url.URL) string {
	switch u.Scheme {
	case "javascript", "data", "vbscript":
		return "browsers are never sent to " + u.Scheme + ": URLs"
	}
	host := u.Hostname()
	if host == "*" {
		return "a host of \"*\" would allow every site"
	}
	if rest, ok := strings.CutPrefix(host, "*"); ok && !strings.Contains(strings.Trim(rest, "."), ".") {
		return "a wildcard over a top-level domain would allow every site under it"
	}
	return ""
}

// corsOrigins is serve.public.cors.allowed_origins: "*" or origins with at
// most one "*" wildcard each, as Kratos's schema demands (rs/cors, which
// does the matching, understands only one).
var corsOrigins = then(stringList, func(ss []string, d *decodeCtx) ([]string, error) {
	for i, s := range ss {
		switch {
		case s == "":
			return nil, d.errorf("item %d is empty", i)
		case strings.Count(s, "*") > 1:
			return nil, d.errorf("item %d (%s) has more than one \"*\" wildcard", i, quoteShort(s))
		}
	}
	return ss, nil
})
