package browser

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lanyard-id/lanyard/test/oidcop"
)

// Claim mappers of the two providers: op maps the email, bare maps nothing,
// so that signing up through bare has to ask for the email.
const (
	oidcMapperEmail   = `local claims = std.extVar('claims'); { identity: { traits: { email: claims.email } } }`
	oidcMapperNothing = `{ identity: { traits: {} } }`
)

const oidcCallbackPath = "/self-service/methods/oidc/callback/"

// The provider's accounts: one per scenario, so the scenarios share a site.
var (
	oidcNewcomer = oidcop.User{Subject: "browser-newcomer", Email: "oidc-newcomer@example.org", EmailVerified: true, Name: "Newcomer"}
	oidcLinker   = oidcop.User{Subject: "browser-linker", Email: "oidc-linker@example.org", EmailVerified: true, Name: "Linker"}
	oidcBare     = oidcop.User{Subject: "browser-bare", Email: "oidc-bare@example.org", EmailVerified: true, Name: "Bare"}
)

// TestOIDC_RealBrowser signs up and in through an OpenID Provider in
// Chromium: the site's pages post the provider buttons, the server sends
// the browser to the provider and back through the callback, and the
// session cookie lands in the browser. It also links a provider to an
// account that has a password, and finishes a sign-up whose claims lack
// the email the schema requires.
func TestOIDC_RealBrowser(t *testing.T) { forEachStore(t, oidcRealBrowser) }

func oidcRealBrowser(t *testing.T, store string) {
	c := newChrome(t)
	var op *oidcop.Server
	s := startSiteFor(t, store, func(origin string) map[string]any {
		op = oidcop.Start(t, oidcop.Options{
			Clients: []oidcop.Client{
				{ID: "c1", Secret: "s1", RedirectURIs: []string{origin + oidcCallbackPath + "op"}},
				{ID: "c2", Secret: "s2", RedirectURIs: []string{origin + oidcCallbackPath + "bare"}},
			},
			Users: []oidcop.User{oidcNewcomer, oidcLinker, oidcBare},
		})
		return map[string]any{
			"secrets.cipher":                   []any{"browser-test-cipher-secret-32byt"},
			"selfservice.methods.oidc.enabled": true,
			"selfservice.methods.oidc.config.providers": []any{
				oidcProvider("op", "TestOP", op.Issuer, "c1", "s1", oidcMapperEmail),
				oidcProvider("bare", "BareOP", op.Issuer, "c2", "s2", oidcMapperNothing),
			},
			"selfservice.flows.registration.after.oidc.hooks": []any{map[string]any{"hook": "session"}},
		}
	})

	t.Run("sign up and sign in", func(t *testing.T) {
		c.clearCookies(t)
		op.SetUser(oidcNewcomer.Subject)
		c.step(t, "signing up through the provider",
			chromedp.Navigate(s.Origin+"/self-service/registration/browser"),
			chromedp.WaitVisible(`button[name="provider"][value="op"]`),
			requireText(`button[name="provider"][value="op"]`, "Sign up with TestOP"),
			chromedp.Click(`button[name="provider"][value="op"]`),
			arrive(`#app`),
		)
		status, signedUp := s.whoami(t, c.sessionCookie(t, s.Origin))
		if status != http.StatusOK || signedUp.Identity.Traits["email"] != oidcNewcomer.Email {
			t.Fatalf("whoami after the sign-up: %d %+v, want a session of %s", status, signedUp, oidcNewcomer.Email)
		}
		requireProvider(t, signedUp, "op")

		c.clearCookies(t)
		c.step(t, "signing in through the provider",
			chromedp.Navigate(s.Origin+"/self-service/login/browser"),
			chromedp.WaitVisible(`button[name="provider"][value="op"]`),
			requireText(`button[name="provider"][value="op"]`, "Sign in with TestOP"),
			chromedp.Click(`button[name="provider"][value="op"]`),
			arrive(`#app`),
		)
		status, signedIn := s.whoami(t, c.sessionCookie(t, s.Origin))
		if status != http.StatusOK || signedIn.Identity.ID != signedUp.Identity.ID {
			t.Fatalf("whoami after the sign-in: %d %+v, want identity %s", status, signedIn, signedUp.Identity.ID)
		}
		if signedIn.ID == signedUp.ID {
			t.Errorf("the sign-in kept the sign-up's session %s, want a new one", signedIn.ID)
		}
		requireProvider(t, signedIn, "op")
	})

	t.Run("linking to an account with a password", func(t *testing.T) {
		c.clearCookies(t)
		const password = "browser-test-Password-7"
		id := s.createIdentity(t, oidcLinker.Email, password)
		op.SetUser(oidcLinker.Subject)
		c.step(t, "signing up through the provider with a taken email",
			chromedp.Navigate(s.Origin+"/self-service/registration/browser"),
			chromedp.WaitVisible(`button[name="provider"][value="op"]`),
			chromedp.Click(`button[name="provider"][value="op"]`),
			// A new login flow, asking for the account's password.
			arrive(`p.message[data-id="1010016"]`),
			requireValue(`input[type="hidden"][name="identifier"]`, oidcLinker.Email),
		)
		c.step(t, "signing in with the password to link",
			chromedp.WaitVisible(`input[name="password"]`),
			chromedp.SendKeys(`input[name="password"]`, password),
			chromedp.Click(`button[name="method"][value="password"]`),
			arrive(`#app`),
		)
		status, linked := s.whoami(t, c.sessionCookie(t, s.Origin))
		if status != http.StatusOK || linked.Identity.ID != id {
			t.Fatalf("whoami after linking: %d %+v, want identity %s", status, linked, id)
		}
		if got, want := s.oidcIdentifiers(t, id), []string{"op:" + oidcLinker.Subject}; !slices.Equal(got, want) {
			t.Errorf("credentials.oidc.identifiers = %q, want %q", got, want)
		}

		c.clearCookies(t)
		c.step(t, "signing in through the linked provider",
			chromedp.Navigate(s.Origin+"/self-service/login/browser"),
			chromedp.WaitVisible(`button[name="provider"][value="op"]`),
			chromedp.Click(`button[name="provider"][value="op"]`),
			arrive(`#app`),
		)
		status, signedIn := s.whoami(t, c.sessionCookie(t, s.Origin))
		if status != http.StatusOK || signedIn.Identity.ID != id {
			t.Fatalf("whoami after signing in through the linked provider: %d %+v, want identity %s", status, signedIn, id)
		}
		requireProvider(t, signedIn, "op")
	})

	t.Run("missing traits", func(t *testing.T) {
		c.clearCookies(t)
		op.SetUser(oidcBare.Subject)
		const email = "oidc-bare-typed@example.org"
		authorizes := countAuthorizes(op)
		continueButton := `button[name="provider"][value="bare"][data-label="1040003"]`
		c.step(t, "signing up through a provider whose claims lack the email",
			chromedp.Navigate(s.Origin+"/self-service/registration/browser"),
			chromedp.WaitVisible(`button[name="provider"][value="bare"]`),
			requireText(`button[name="provider"][value="bare"]`, "Sign up with BareOP"),
			chromedp.Click(`button[name="provider"][value="bare"]`),
			// Back on the registration page, asking for the email.
			arrive(continueButton),
			requireText(continueButton, "Continue"),
			chromedp.WaitVisible(`input[name="traits.email"]`),
		)
		if n := countTraitMessages(t, c); n == 0 {
			t.Errorf("the traits.email input carries no validation message\n%s", c.diagnose())
		}
		afterProvider := countAuthorizes(op)
		if afterProvider != authorizes+1 {
			t.Errorf("the provider saw %d authorizations for the sign-up, want 1", afterProvider-authorizes)
		}
		c.step(t, "continuing with the email typed in",
			chromedp.SendKeys(`input[name="traits.email"]`, email),
			chromedp.Click(continueButton),
			arrive(`#app`),
		)
		if n := countAuthorizes(op); n != afterProvider {
			t.Errorf("continuing went to the provider again (%d more authorizations)", n-afterProvider)
		}
		status, signedUp := s.whoami(t, c.sessionCookie(t, s.Origin))
		if status != http.StatusOK || signedUp.Identity.Traits["email"] != email {
			t.Fatalf("whoami after continuing: %d %+v, want a session of %s", status, signedUp, email)
		}
		requireProvider(t, signedUp, "bare")
		if got, want := s.oidcIdentifiers(t, signedUp.Identity.ID), []string{"bare:" + oidcBare.Subject}; !slices.Equal(got, want) {
			t.Errorf("credentials.oidc.identifiers = %q, want %q", got, want)
		}
	})
}

// oidcProvider is one entry of selfservice.methods.oidc.config.providers.
func oidcProvider(id, label, issuer, clientID, secret, mapper string) map[string]any {
	return map[string]any{
		"id": id, "provider": "generic", "label": label, "issuer_url": issuer,
		"client_id": clientID, "client_secret": secret,
		"mapper_url": "base64://" + base64.StdEncoding.EncodeToString([]byte(mapper)),
		"scope":      []any{"openid", "email", "profile"},
	}
}

// requireProvider checks that the session was made by the oidc method
// through provider.
func requireProvider(t *testing.T, s session, provider string) {
	t.Helper()
	for _, m := range s.Methods {
		if m.Method == "oidc" && m.Provider == provider {
			return
		}
	}
	t.Errorf("authentication_methods %+v, want oidc through %s", s.Methods, provider)
}

// arrive waits, across the navigations a submission sets off, for a page
// with sel on it, and fails at once on a page showing an error instead: a
// flow's own error message or the error page.
func arrive(sel string) chromedp.Action[chromedp.Void] {
	probe := fmt.Sprintf(`(() => {
		if (document.querySelector(%q)) return "ok";
		const e = document.querySelector('body > p.message[data-type="error"], #error');
		return e ? e.textContent : "";
	})()`, sel)
	return func(ctx context.Context, target *chromedp.Target) (chromedp.Void, error) {
		for {
			// Evaluating fails while a navigation replaces the page; try again.
			got, err := chromedp.Evaluate[string](probe)(ctx, target)
			switch {
			case err == nil && got == "ok":
				return chromedp.Void{}, nil
			case err == nil && got != "":
				return chromedp.Void{}, fmt.Errorf("waiting for %s, the page shows an error: %s", sel, got)
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, fmt.Errorf("waiting for %s: %w", sel, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// requireText fails unless the element's text is want.
func requireText(sel, want string) chromedp.Action[chromedp.Void] {
	return requireString(chromedp.Text(sel, chromedp.NodeVisible), sel+" reads", want)
}

// requireValue fails unless the input's value is want.
func requireValue(sel, want string) chromedp.Action[chromedp.Void] {
	return requireString(chromedp.Value(sel, chromedp.NodeReady), sel+" holds", want)
}

func requireString(read chromedp.Action[string], what, want string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, target *chromedp.Target) (chromedp.Void, error) {
		got, err := read(ctx, target)
		if err != nil {
			return chromedp.Void{}, err
		}
		if got != want {
			return chromedp.Void{}, fmt.Errorf("%s %q, want %q", what, got, want)
		}
		return chromedp.Void{}, nil
	}
}

// countTraitMessages counts the messages rendered right after the
// traits.email input, which is where the site puts a node's own messages.
func countTraitMessages(t *testing.T, c *chrome) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 20*time.Second)
	defer cancel()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`(() => {
		const label = document.querySelector('input[name="traits.email"]').closest('label');
		let n = 0;
		for (let e = label.nextElementSibling; e && e.matches('p.message'); e = e.nextElementSibling) n++;
		return n;
	})()`))
	if err != nil {
		t.Fatalf("reading the email's messages: %v\n%s", err, c.diagnose())
	}
	return n
}

func countAuthorizes(op *oidcop.Server) int {
	n := 0
	for _, r := range op.Requests() {
		if r.Endpoint == "authorize" {
			n++
		}
	}
	return n
}

// oidcIdentifiers reads an identity's oidc credential identifiers through
// the admin API.
func (s *site) oidcIdentifiers(t *testing.T, id string) []string {
	t.Helper()
	res, err := http.Get(s.Admin + "/admin/identities/" + id + "?include_credential=oidc")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	var out struct {
		Credentials map[string]struct {
			Identifiers []string `json:"identifiers"`
		} `json:"credentials"`
	}
	if res.StatusCode != http.StatusOK || json.Unmarshal(body, &out) != nil {
		t.Fatalf("GET identity %s: %d %s", id, res.StatusCode, body)
	}
	return out.Credentials["oidc"].Identifiers
}
