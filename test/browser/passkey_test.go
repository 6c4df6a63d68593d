package browser

import (
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestPasskey_RealBrowser signs up with a passkey and signs in with it in
// Chromium: the page renders the flows' nodes, loads webauthn.js from the
// server (with its integrity), and the buttons call it.
func TestPasskey_RealBrowser(t *testing.T) { forEachStore(t, passkeyRealBrowser) }

func passkeyRealBrowser(t *testing.T, store string) {
	c := newChrome(t)
	s := startSite(t, store, map[string]any{
		"selfservice.flows.registration.style":               "unified",
		"selfservice.flows.registration.after.passkey.hooks": []any{map[string]any{"hook": "session"}},
	})
	const email = "passkey-browser@example.org"

	c.step(t, "signing up with a passkey",
		chromedp.Navigate(s.Origin+"/self-service/registration/browser"),
		chromedp.WaitVisible(`button[name="passkey_register_trigger"]`),
		scriptReady(),
		chromedp.SendKeys(`input[name="traits.email"]`, email),
		chromedp.Click(`button[name="passkey_register_trigger"]`),
		chromedp.WaitVisible(`#app`),
	)
	status, signedUp := s.whoami(t, c.sessionCookie(t, s.Origin))
	if status != http.StatusOK || signedUp.Identity.Traits["email"] != email {
		t.Fatalf("whoami after the passkey sign-up: %d %+v, want a session of %s", status, signedUp, email)
	}
	requireMethod(t, signedUp, "passkey", "aal1")
	creds := c.credentials(t)
	if len(creds) != 1 || !creds[0].IsResidentCredential || creds[0].RpID != "localhost" {
		t.Fatalf("the authenticator holds %+v, want one resident key for localhost", creds)
	}

	// Signed out, the passkey alone signs the same identity in: nothing
	// typed, the authenticator picks the key.
	c.clearCookies(t)
	c.step(t, "signing in with the passkey",
		chromedp.Navigate(s.Origin+"/self-service/login/browser"),
		chromedp.WaitVisible(`button[name="passkey_login_trigger"]`),
		scriptReady(),
		chromedp.Click(`button[name="passkey_login_trigger"]`),
		chromedp.WaitVisible(`#app`),
	)
	status, signedIn := s.whoami(t, c.sessionCookie(t, s.Origin))
	if status != http.StatusOK || signedIn.Identity.ID != signedUp.Identity.ID {
		t.Fatalf("whoami after the passkey sign-in: %d %+v, want identity %s", status, signedIn, signedUp.Identity.ID)
	}
	if signedIn.ID == signedUp.ID {
		t.Errorf("the sign-in kept the sign-up's session %s, want a new one", signedIn.ID)
	}
	requireMethod(t, signedIn, "passkey", "aal1")
}
