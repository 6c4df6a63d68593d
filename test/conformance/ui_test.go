package conformance

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	ory "github.com/ory/client-go"
)

// TestBuiltInUI_SignInThroughThePages: with no ui_url configured, a
// browser that starts a login lands on Lanyard's own page, which renders
// the flow's form in the language Accept-Language asks for, under a CSP
// whose nonce every script carries; posting the page's form with a wrong
// password brings the page back with the message, the right one signs in
// and returns to the welcome page.
func TestBuiltInUI_SignInThroughThePages(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		s := startServer(t, serverSpec{store: store})
		s.createIdentity(t, ory.CreateIdentityBody{
			SchemaId: "default",
			Traits:   map[string]any{"email": "ui-page@example.org"},
			Credentials: &ory.IdentityWithCredentials{Password: &ory.IdentityWithCredentialsPassword{
				Config: &ory.IdentityWithCredentialsPasswordConfig{Password: ory.PtrString("ui-page-passphrase-1")},
			}},
		})
		b := newBrowser(t, s)
		german := http.Header{"Accept-Language": {"de-CH, de;q=0.9, en;q=0.5"}}

		start := b.do(t, "GET", s.PublicURL+"/self-service/login/browser", nil, german)
		loc := start.header.Get("Location")
		if start.status != http.StatusSeeOther || !strings.HasPrefix(loc, s.PublicURL+"/ui/login?flow=") {
			t.Fatalf("starting a login: %d %q, want 303 to the built-in login page", start.status, loc)
		}
		page := b.do(t, "GET", loc, nil, german)
		body := string(page.body)
		if page.status != http.StatusOK || !strings.Contains(page.header.Get("Content-Type"), "text/html") {
			t.Fatalf("the login page: %d %s", page.status, page.header.Get("Content-Type"))
		}
		if !strings.Contains(body, `<html lang="de"`) || !strings.Contains(body, "Anmelden") {
			t.Errorf("the login page is not in German for Accept-Language de:\n%s", body)
		}
		csp := page.header.Get("Content-Security-Policy")
		nonce := regexp.MustCompile(`'nonce-([^']+)'`).FindStringSubmatch(csp)
		if nonce == nil || !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") {
			t.Fatalf("CSP %q", csp)
		}
		for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(body, -1) {
			if !strings.Contains(tag, `nonce="`+nonce[1]+`"`) {
				t.Errorf("script without the response's nonce: %s", tag)
			}
		}
		if regexp.MustCompile(`\son[a-z]+=`).MatchString(body) {
			t.Error("the page has an inline event handler")
		}

		form := url.Values{
			"csrf_token": {inputValue(t, body, "csrf_token")},
			"identifier": {"ui-page@example.org"}, "password": {"not-the-passphrase"}, "method": {"password"},
		}
		action := html.UnescapeString(regexp.MustCompile(`<form[^>]+action="([^"]+)"`).FindStringSubmatch(body)[1])
		wrong := b.do(t, "POST", action, form, german)
		if wrong.status != http.StatusSeeOther || wrong.header.Get("Location") != loc {
			t.Fatalf("a wrong password: %d %q, want 303 back to %s", wrong.status, wrong.header.Get("Location"), loc)
		}
		again := b.do(t, "GET", loc, nil, german)
		if !strings.Contains(string(again.body), `data-id="4000006"`) || !strings.Contains(string(again.body), `role="alert"`) {
			t.Errorf("the page after a wrong password does not announce 4000006:\n%s", again.body)
		}
		form.Set("csrf_token", inputValue(t, string(again.body), "csrf_token"))
		form.Set("password", "ui-page-passphrase-1")
		right := b.do(t, "POST", action, form, nil)
		if right.status != http.StatusSeeOther || right.header.Get("Location") != s.PublicURL+"/ui/" {
			t.Fatalf("the right password: %d %q, want 303 to the welcome page", right.status, right.header.Get("Location"))
		}
		welcome := b.do(t, "GET", s.PublicURL+"/ui/", nil, nil)
		if welcome.status != http.StatusOK || !strings.Contains(string(welcome.body), "ui-page@example.org") {
			t.Errorf("the welcome page does not show who is signed in: %d", welcome.status)
		}
	})
}

// inputValue answers the value of the input named name in a page.
func inputValue(t *testing.T, page, name string) string {
	t.Helper()
	for _, tag := range regexp.MustCompile(`<input[^>]*>`).FindAllString(page, -1) {
		if strings.Contains(tag, `name="`+name+`"`) {
			if m := regexp.MustCompile(`value="([^"]*)"`).FindStringSubmatch(tag); m != nil {
				return html.UnescapeString(m[1])
			}
		}
	}
	t.Fatalf("no input %q in the page", name)
	return ""
}
