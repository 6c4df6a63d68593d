package browser

import (
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestSecurityKey_RealBrowser adds a security key as a second factor in
// settings and steps a password sign-in up with it, in Chromium: the
// buttons call webauthn.js with the options inlined in their onclick.
func TestSecurityKey_RealBrowser(t *testing.T) { forEachStore(t, securityKeyRealBrowser) }

func securityKeyRealBrowser(t *testing.T, store string) {
	c := newChrome(t)
	s := startSite(t, store, map[string]any{
		"selfservice.methods.passkey.enabled":  false,
		"selfservice.methods.webauthn.enabled": true,
	})
	const email, password = "security-key-browser@example.org", "browser-test-Password-7"
	id := s.createIdentity(t, email, password)
	signIn := chromedp.Steps(
		chromedp.Navigate(s.Origin+"/self-service/login/browser"),
		chromedp.WaitVisible(`input[name="password"]`),
		chromedp.SendKeys(`input[name="identifier"]`, email),
		chromedp.SendKeys(`input[name="password"]`, password),
		chromedp.Click(`button[name="method"][value="password"]`),
	)

	c.step(t, "signing in with the password", signIn, chromedp.WaitVisible(`#app`))
	c.step(t, "adding a security key in settings",
		chromedp.Navigate(s.Origin+"/self-service/settings/browser"),
		chromedp.WaitVisible(`button[name="webauthn_register_trigger"]`),
		scriptReady(),
		chromedp.SendKeys(`input[name="webauthn_register_displayname"]`, "Browser key"),
		chromedp.Click(`button[name="webauthn_register_trigger"]`),
		// A settings form comes back to the settings page, saved.
		chromedp.WaitVisible(`p.message[data-id="1050001"]`),
	)
	status, added := s.whoami(t, c.sessionCookie(t, s.Origin))
	if status != http.StatusOK || added.Identity.ID != id || added.AAL != "aal2" {
		t.Fatalf("whoami after adding the key: %d %+v, want an aal2 session of %s", status, added, id)
	}
	requireMethod(t, added, "webauthn", "aal2")

	// A new password sign-in goes on to the key.
	c.clearCookies(t)
	c.step(t, "stepping up with the security key", signIn,
		chromedp.WaitVisible(`button[name="webauthn_login_trigger"]`),
		scriptReady(),
		chromedp.Click(`button[name="webauthn_login_trigger"]`),
		chromedp.WaitVisible(`#app`),
	)
	status, steppedUp := s.whoami(t, c.sessionCookie(t, s.Origin))
	if status != http.StatusOK || steppedUp.Identity.ID != id || steppedUp.AAL != "aal2" {
		t.Fatalf("whoami after the step-up: %d %+v, want an aal2 session of %s", status, steppedUp, id)
	}
	requireMethod(t, steppedUp, "password", "aal1")
	requireMethod(t, steppedUp, "webauthn", "aal2")
}
