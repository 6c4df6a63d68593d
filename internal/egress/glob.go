package egress

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// pattern is an exception URL: a glob, as Kratos (ory/x, gobwas/glob with
// '.' and '/' as separators) reads it. "*" is any run of characters
// without a separator, "**" any run at all, "?" one character that is not
// a separator, "[abc]", "[a-z]" and "[!abc]" one character of (not of) a
// class, "{a,b}" either alternative, and "\" takes the next character as
// it is. A URL without any of these matches only itself.
type pattern struct{ re *regexp.Regexp }

func (p *pattern) match(s string) bool { return p.re.MatchString(s) }

func compile(glob string) (*pattern, error) {
	var b strings.Builder
	b.WriteString(`\A`)
	depth := 0 // open {…} groups
	for i := 0; i < len(glob); i++ {
		c := glob[i]
		switch {
		case c == '\\':
			if i+1 == len(glob) {
				return nil, fmt.Errorf("config key \"clients.http.private_ip_exception_urls\": %q ends with a lone \\", glob)
			}
			i++
			b.WriteString(regexp.QuoteMeta(glob[i : i+1]))
		case c == '*' && i+1 < len(glob) && glob[i+1] == '*':
			i++
			b.WriteString(`.*`)
		case c == '*':
			b.WriteString(`[^./]*`)
		case c == '?':
			b.WriteString(`[^./]`)
		case c == '[':
			end := strings.IndexByte(glob[i+1:], ']')
			if end < 0 {
				return nil, fmt.Errorf("config key \"clients.http.private_ip_exception_urls\": %q has an unclosed [", glob)
			}
			class := glob[i+1 : i+1+end]
			i += end + 1
			neg := strings.HasPrefix(class, "!")
			class = strings.TrimPrefix(class, "!")
			if class == "" {
				return nil, fmt.Errorf("config key \"clients.http.private_ip_exception_urls\": %q has an empty []", glob)
			}
			b.WriteByte('[')
			if neg {
				b.WriteByte('^')
			}
			for _, r := range class {
				if r == '-' {
					b.WriteByte('-')
					continue
				}
				b.WriteString(regexp.QuoteMeta(string(r)))
			}
			b.WriteByte(']')
		case c == '{':
			depth++
			b.WriteString(`(?:`)
		case c == ',' && depth > 0:
			b.WriteByte('|')
		case c == '}' && depth > 0:
			depth--
			b.WriteByte(')')
		default:
			b.WriteString(regexp.QuoteMeta(glob[i : i+1]))
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("config key \"clients.http.private_ip_exception_urls\": %q has an unclosed {", glob)
	}
	b.WriteString(`\z`)
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("config key \"clients.http.private_ip_exception_urls\": %q is not a valid pattern", glob)
	}
	return &pattern{re: re}, nil
}

// stripQuery drops the query and fragment of rawURL.
func stripQuery(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		s, _, _ := strings.Cut(rawURL, "#")
		s, _, _ = strings.Cut(s, "?")
		return s
	}
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = "", false, "", ""
	return u.String()
}
