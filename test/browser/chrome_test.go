package browser

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/lanyard-id/lanyard/test/testserver"
)

// requireBrowserEnv makes a missing Chromium fail instead of skip;
// scripts/test sets it once it has installed Chromium.
const requireBrowserEnv = "LANYARD_REQUIRE_BROWSER"

// chromiumPath finds the browser: CHROME_PATH, else a Chromium or Chrome
// on PATH. Without one the test skips, unless LANYARD_REQUIRE_BROWSER is
// set.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROME_PATH"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv(requireBrowserEnv) != "" {
		t.Fatalf("%s is set but no Chromium was found: set CHROME_PATH or put chromium on PATH", requireBrowserEnv)
	}
	t.Skip("no Chromium found (set CHROME_PATH or install Debian's chromium package; scripts/test installs it)")
	return ""
}

// chrome is one headless Chromium tab with a virtual authenticator.
type chrome struct {
	ctx     context.Context
	auth    webauthn.AuthenticatorID
	console testserver.Buffer
}

// newChrome starts Chromium and adds a platform authenticator that keeps
// resident keys and verifies its user, as a phone or laptop does.
func newChrome(t *testing.T) *chrome {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.UserDataDir(t.TempDir()),
		// Chromium puts its singleton socket under TMPDIR and leaves it
		// there when it is stopped; this keeps it inside the test's own.
		chromedp.Env("TMPDIR="+t.TempDir()),
		chromedp.DisableGPU,
	)
	if os.Geteuid() == 0 {
		// Chromium refuses to run its sandbox as root.
		opts = append(opts, chromedp.NoSandbox)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	c := &chrome{ctx: ctx}
	// The first call starts the browser; it must not carry a timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			fmt.Fprintln(&c.console, m.String())
		}
	}()
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	res, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol:                    webauthn.AuthenticatorProtocolCtap2,
			Ctap2version:                webauthn.Ctap2versionCtap21,
			Transport:                   webauthn.AuthenticatorTransportInternal,
			HasResidentKey:              true,
			HasUserVerification:         true,
			IsUserVerified:              true,
			AutomaticPresenceSimulation: true,
		},
	})
	if err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	c.auth = res.AuthenticatorID
	return c
}

// step runs actions with a deadline; on failure it shows the page and the
// console.
func (c *chrome) step(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, c.diagnose())
	}
}

func (c *chrome) diagnose() string {
	ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	page, _ := chromedp.Run(ctx, chromedp.OuterHTML("html"))
	return fmt.Sprintf("page %s:\n%s\nconsole:\n%s", loc, page, c.console.String())
}

// sessionCookie answers the browser's ory_kratos_session cookie for origin.
func (c *chrome) sessionCookie(t *testing.T, origin string) *http.Cookie {
	t.Helper()
	res, err := chromedp.Call(c.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{origin}})
	if err != nil {
		t.Fatal(err)
	}
	for _, ck := range res.Cookies {
		if ck.Name == "ory_kratos_session" {
			if !ck.HTTPOnly {
				t.Errorf("the session cookie is not HttpOnly")
			}
			return &http.Cookie{Name: ck.Name, Value: ck.Value}
		}
	}
	t.Fatalf("no ory_kratos_session cookie for %s\n%s", origin, c.diagnose())
	return nil
}

// clearCookies signs the browser out of everything.
func (c *chrome) clearCookies(t *testing.T) {
	t.Helper()
	if _, err := chromedp.Call(c.ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
}

// credentials lists the virtual authenticator's keys.
func (c *chrome) credentials(t *testing.T) []*webauthn.Credential {
	t.Helper()
	res, err := chromedp.Call(c.ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: c.auth})
	if err != nil {
		t.Fatal(err)
	}
	return res.Credentials
}

// scriptReady waits until webauthn.js has loaded and set itself up.
func scriptReady() chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](`window.__oryWebAuthnInitialized === true`,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second))
}

func requireMethod(t *testing.T, s session, method, aal string) {
	t.Helper()
	for _, m := range s.Methods {
		if m.Method == method && m.AAL == aal {
			return
		}
	}
	t.Errorf("authentication_methods %+v, want %s/%s", s.Methods, method, aal)
}
