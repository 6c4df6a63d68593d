package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/lanyard-id/lanyard/test/oidcop"
	"github.com/lanyard-id/lanyard/test/testserver"
)

// artifactsEnv names the folder screenshots are kept in (CI keeps it).
const artifactsEnv = "LANYARD_ARTIFACTS_DIR"

var oidcUIPerson = oidcop.User{Subject: "ui-social", Email: "ui-social@example.org", EmailVerified: true, Name: "Social"}

// TestUI_APersonsPath walks a person through every flow on the built-in
// pages, with no ui_url configured: the browser only ever talks to the
// server's own origin. Each step checks what the page says and what the
// server holds, runs axe-core on the pages it passes, and leaves a
// screenshot.
func TestUI_APersonsPath(t *testing.T) { forEachStore(t, uiPath) }

func uiPath(t *testing.T, store string) {
	axe := axeScript(t)
	c := newChrome(t)
	var op *oidcop.Server
	s := startBuiltInUI(t, store, func(origin string) map[string]any {
		op = oidcop.Start(t, oidcop.Options{
			Clients: []oidcop.Client{{ID: "ui", Secret: "ui-secret", RedirectURIs: []string{origin + oidcCallbackPath + "op"}}},
			Users:   []oidcop.User{oidcUIPerson},
		})
		return map[string]any{
			"selfservice.methods.oidc.enabled": true,
			"selfservice.methods.oidc.config.providers": []any{
				oidcProvider("op", "TestOP", op.Issuer, "ui", "ui-secret", oidcMapperEmail),
			},
		}
	})
	p := &person{
		c: c, s: s, store: store, axe: axe, shots: artifactsDir(t),
		email: "ui-person@example.org", password: "ui-Path-passphrase-1",
	}
	// The login page asks for a passkey in the autofill as it loads: an
	// authenticator that says yes unasked would sign the person in there.
	// It answers only while the person means to use it.
	c.presence(t, false)

	p.run(t, "sign up and verify", p.signUpAndVerify)
	p.run(t, "sign out and in", p.signOutAndIn)
	p.run(t, "totp", p.setUpTOTP)
	p.run(t, "backup codes", p.backupCodes)
	p.run(t, "passkey", p.addPasskey)
	p.run(t, "social sign-up", func(t *testing.T) { p.socialSignUp(t, op) })
	p.run(t, "recovery", p.recover)
	p.run(t, "sessions", p.revokeOtherSession)
	p.run(t, "error page", p.errorPage)
}

// startBuiltInUI starts a dev-mode server whose public base URL is
// http://localhost:<port>/ with no ui_url set, so every flow goes to the
// built-in pages; every method is on. set adds config keys once the origin
// is known.
func startBuiltInUI(t *testing.T, store string, set func(origin string) map[string]any) *site {
	t.Helper()
	bin := lanyardBinary(t)
	publicPort, adminPort := testserver.FreePort(t), testserver.FreePort(t)
	s := &site{
		Origin: fmt.Sprintf("http://localhost:%d", publicPort),
		Public: fmt.Sprintf("http://127.0.0.1:%d", publicPort),
		Admin:  fmt.Sprintf("http://127.0.0.1:%d", adminPort),
	}
	dir := t.TempDir()
	dsn := "sqlite://" + filepath.Join(dir, "db.sqlite") + "?_fk=true"
	if store == "postgres" {
		dsn = testserver.PostgresDatabase(t)
	}
	cfg := testserver.BaseConfig(dsn, publicPort, adminPort)
	keys := map[string]any{
		"serve.public.base_url":                                      s.Origin + "/",
		"selfservice.default_browser_return_url":                     s.Origin + "/ui/",
		"selfservice.allowed_return_urls":                            []any{s.Origin + "/ui/"},
		"selfservice.methods.password.config.haveibeenpwned_enabled": false,
		"selfservice.methods.code.enabled":                           true,
		"selfservice.methods.totp.enabled":                           true,
		"selfservice.methods.totp.config.issuer":                     "Lanyard UI Test",
		"selfservice.methods.lookup_secret.enabled":                  true,
		"selfservice.methods.passkey.enabled":                        true,
		"selfservice.methods.passkey.config.rp.id":                   "localhost",
		"selfservice.methods.passkey.config.rp.display_name":         "Lanyard UI Test",
		"selfservice.methods.passkey.config.rp.origins":              []any{s.Origin},
		"selfservice.flows.verification.enabled":                     true,
		"selfservice.flows.verification.use":                         "code",
		"selfservice.flows.recovery.enabled":                         true,
		"selfservice.flows.recovery.use":                             "code",
		"selfservice.flows.registration.after.password.hooks":        []any{map[string]any{"hook": "session"}},
		"selfservice.flows.registration.after.oidc.hooks":            []any{map[string]any{"hook": "session"}},
	}
	for k, v := range set(s.Origin) {
		keys[k] = v
	}
	serveLanyard(t, bin, dir, dsn, s.Admin, cfg, keys)
	return s
}

// artifactsDir is where screenshots go: LANYARD_ARTIFACTS_DIR, else a
// folder of the test's own.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(artifactsEnv)
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// person is the one walking the path: what they know and what they hold.
type person struct {
	c     *chrome
	s     *site
	store string
	axe   string
	shots string
	shot  int

	email, password string
	identityID      string
	totpSecret      string
	// totpStep is the newest TOTP time step the server accepted: it takes
	// each step once.
	totpStep int64
	codes    []string
	// usedCodes counts the backup codes spent, from the first.
	usedCodes int
}

// run is one step of the path; a failed step leaves the later ones to run
// from where the server is.
func (p *person) run(t *testing.T, name string, step func(t *testing.T)) {
	t.Run(name, func(t *testing.T) {
		defer func() {
			if t.Failed() {
				p.screenshot(t, strings.ReplaceAll(name, " ", "-")+"-failed")
			}
		}()
		step(t)
	})
}

// screenshot keeps the page as <store>-<NN>-<step>.png.
func (p *person) screenshot(t *testing.T, step string) {
	t.Helper()
	p.shot++
	ctx, cancel := context.WithTimeout(p.c.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot %s: %v", step, err)
		return
	}
	name := fmt.Sprintf("%s-%02d-%s.png", p.store, p.shot, step)
	if err := os.WriteFile(filepath.Join(p.shots, name), png, 0o644); err != nil {
		t.Errorf("screenshot %s: %v", step, err)
	}
}

// a11y runs axe-core on the page shown, named page in the report.
func (p *person) a11y(t *testing.T, page string) {
	t.Helper()
	checkA11y(t, p.c, p.axe, page)
}

// welcome is the selector of the start page of a signed-in person.
const welcome = `main p.who strong`

// errorShown finds what a page says went wrong: a flow's or a field's
// error message, or the error page.
const errorShown = `p.msg[data-type="error"], div.msg-error`

// submit clicks sel and waits, across the navigations that sets off, for
// a new page with want on it. A new page showing an error instead fails
// at once, unless want is that error.
func submit(sel, want string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Evaluate[chromedp.Void](`window.__lanyardLeft = false`),
		chromedp.Click(sel, chromedp.NodeVisible),
		arriveNew(want),
	)
}

// open goes to url and waits for want.
func open(url, want string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Evaluate[chromedp.Void](`window.__lanyardLeft = false`),
		chromedp.Navigate(url),
		arriveNew(want),
	)
}

// arriveNew waits for a page other than the one marked __lanyardLeft,
// with want on it.
func arriveNew(want string) chromedp.Action[chromedp.Void] {
	probe := fmt.Sprintf(`(() => {
		if (window.__lanyardLeft === false) return "";
		if (document.readyState === "loading") return "";
		if (document.querySelector(%q)) return "ok";
		const e = document.querySelector(%q);
		return e ? "error: " + e.textContent.trim() : "";
	})()`, want, errorShown)
	return func(ctx context.Context, target *chromedp.Target) (chromedp.Void, error) {
		last := ""
		for {
			got, err := chromedp.Evaluate[string](probe)(ctx, target)
			if err == nil {
				switch {
				case got == "ok":
					return chromedp.Void{}, nil
				case strings.HasPrefix(got, "error: "):
					// A page still loading may show an error for a moment
					// only if it is the final page: one more look.
					if got == last {
						return chromedp.Void{}, fmt.Errorf("waiting for %s, the page shows %s", want, got)
					}
					last = got
				}
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, fmt.Errorf("waiting for %s: %w", want, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// requireContains fails unless the element's text holds want.
func requireContains(sel, want string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, target *chromedp.Target) (chromedp.Void, error) {
		got, err := chromedp.Text(sel, chromedp.NodeVisible)(ctx, target)
		if err != nil {
			return chromedp.Void{}, err
		}
		if !strings.Contains(got, want) {
			return chromedp.Void{}, fmt.Errorf("%s reads %q, want it to hold %q", sel, got, want)
		}
		return chromedp.Void{}, nil
	}
}

// read answers the text of sel.
func (p *person) read(t *testing.T, sel string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.c.ctx, 20*time.Second)
	defer cancel()
	got, err := chromedp.Run(ctx, chromedp.Text(sel, chromedp.NodeVisible))
	if err != nil {
		t.Fatalf("reading %s: %v\n%s", sel, err, p.c.diagnose())
	}
	return strings.TrimSpace(got)
}

// eval answers a script's value on the page shown.
func eval[T any](t *testing.T, c *chrome, js string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluating %s: %v\n%s", js, err, c.diagnose())
	}
	return v
}

func (p *person) location(t *testing.T) string {
	t.Helper()
	return eval[string](t, p.c, `location.href`)
}

// totpCode is a code of the person's authenticator app: the one it shows
// now, or the next one when the server took this one already (it accepts
// a step either side of its own), waiting for that when it must.
func (p *person) totpCode(t *testing.T) string {
	t.Helper()
	now := time.Now().Unix() / 30
	step := max(now, p.totpStep+1)
	if step > now+1 {
		time.Sleep(time.Until(time.Unix((step-1)*30, 0)))
	}
	code, err := totp.GenerateCode(p.totpSecret, time.Unix(step*30, 0))
	if err != nil {
		t.Fatalf("computing a TOTP code: %v", err)
	}
	p.totpStep = step
	return code
}

// backupCode spends the next unused backup code.
func (p *person) backupCode() string {
	p.usedCodes++
	return p.codes[p.usedCodes-1]
}

// aal2Page is what only the page asking for a second factor shows.
const aal2Page = `input[name="totp_code"], input[name="lookup_secret"]`

// passSecondFactor answers the aal2 page, when the sign-in landed there,
// with a backup code while there are some (a TOTP code takes a time step
// of its own, which the server takes once), else a TOTP code; it waits
// for want.
func (p *person) passSecondFactor(t *testing.T, want string) {
	t.Helper()
	if !eval[bool](t, p.c, fmt.Sprintf(`!!document.querySelector(%q)`, aal2Page)) {
		return
	}
	switch {
	case p.usedCodes < len(p.codes) && eval[bool](t, p.c, `!!document.querySelector('input[name="lookup_secret"]')`):
		p.c.step(t, "answering the aal2 page with a backup code",
			chromedp.SetValue(`input[name="lookup_secret"]`, p.backupCode()),
			submit(`button[name="method"][value="lookup_secret"]`, want),
		)
	case p.totpSecret != "":
		p.c.step(t, "answering the aal2 page with a TOTP code",
			chromedp.SetValue(`input[name="totp_code"]`, p.totpCode(t)),
			submit(`button[name="method"][value="totp"]`, want),
		)
	default:
		t.Fatalf("the sign-in asks for a second factor the person never set up\n%s", p.c.diagnose())
	}
}

// signOut follows the header's sign-out link, back to the signed-out
// start page.
func (p *person) signOut(t *testing.T) {
	t.Helper()
	p.c.step(t, "signing out",
		open(p.s.Origin+"/ui/", `header nav a`),
	)
	signedIn := eval[bool](t, p.c, `!!document.querySelector('header a[href*="/self-service/logout"]')`)
	if !signedIn {
		return
	}
	p.c.step(t, "signing out through the header link",
		submit(`header a[href*="/self-service/logout"]`, `main a[href$="/ui/login"]`),
		requireContains(`main`, "You are not signed in."),
	)
}

// signInWithPassword signs in on the login page, through the aal2 page
// when one is asked for, and ends on the start page.
func (p *person) signInWithPassword(t *testing.T, password string) {
	t.Helper()
	p.c.step(t, "signing in with the password",
		open(p.s.Origin+"/ui/login", `input[name="password"]`),
		chromedp.SetValue(`input[name="identifier"]`, p.email),
		chromedp.SetValue(`input[name="password"]`, password),
		submit(`button[name="method"][value="password"]`, welcome+`, `+aal2Page),
	)
	p.passSecondFactor(t, welcome)
	if got := p.read(t, welcome); got != p.email {
		t.Errorf("the start page names %q, want %q", got, p.email)
	}
}

// ensureIdentity creates the person through the admin API when signing up
// failed, so that the later steps still have someone to walk.
func (p *person) ensureIdentity(t *testing.T) {
	t.Helper()
	if p.identityID == "" {
		p.identityID = p.s.createIdentity(t, p.email, p.password)
	}
}

// 1. Sign up in two steps, then verify the address with the code from the
// mailbox.
func (p *person) signUpAndVerify(t *testing.T) {
	p.c.clearCookies(t)
	p.c.step(t, "opening the start page",
		open(p.s.Origin+"/ui/", `main a[href$="/ui/registration"]`),
		requireContains(`main`, "You are not signed in."),
	)
	p.a11y(t, "welcome")
	p.screenshot(t, "welcome")

	p.c.step(t, "the first step of signing up",
		submit(`main a[href$="/ui/registration"]`, `input[name="traits.email"]`),
		requireText(`main h1`, "Sign up"),
	)
	p.a11y(t, "registration (profile)")
	p.c.step(t, "the second step of signing up",
		chromedp.SendKeys(`input[name="traits.email"]`, p.email),
		submit(`button[name="method"][value="profile"]`, `input[name="password"]`),
	)
	p.a11y(t, "registration (credentials)")
	p.screenshot(t, "registration")
	p.c.step(t, "choosing a password",
		chromedp.SendKeys(`input[name="password"]`, p.password),
		submit(`button[name="method"][value="password"]`, welcome),
		requireText(welcome, p.email),
	)
	status, sess := p.s.whoami(t, p.c.sessionCookie(t, p.s.Origin))
	if status != http.StatusOK || sess.Identity.Traits["email"] != p.email {
		t.Fatalf("whoami after signing up: %d %+v, want a session of %s", status, sess, p.email)
	}
	p.identityID = sess.Identity.ID
	if p.s.adminIdentity(t, p.identityID).verified(p.email) {
		t.Errorf("%s is verified before the code was typed", p.email)
	}
	p.screenshot(t, "signed-up")

	mail := p.readMailbox(t, "verification")
	if mail.flow == "" {
		t.Fatalf("the verification message names no flow: %q", mail.links)
	}
	p.c.step(t, "typing the code on the verification page",
		open(p.s.Origin+"/ui/verification?flow="+url.QueryEscape(mail.flow), `input[name="code"]`),
		requireText(`main h1`, "Verify your address"),
	)
	p.a11y(t, "verification")
	p.c.step(t, "verifying the address",
		chromedp.SetValue(`input[name="code"]`, mail.code),
		submit(`button[name="method"][value="code"]`, `p.msg[data-id="1080002"]`),
	)
	p.screenshot(t, "verified")
	if !p.s.adminIdentity(t, p.identityID).verified(p.email) {
		t.Errorf("%s is not verified after typing the code", p.email)
	}
}

// 2. Sign out, fail with a wrong password, sign in with the right one.
func (p *person) signOutAndIn(t *testing.T) {
	p.ensureIdentity(t)
	p.signOut(t)
	p.c.step(t, "opening the login page from the header",
		submit(`header a[href$="/ui/login"]`, `input[name="password"]`),
		requireText(`main h1`, "Sign in"),
	)
	p.a11y(t, "login")
	p.c.step(t, "signing in with a wrong password",
		chromedp.SetValue(`input[name="identifier"]`, p.email),
		chromedp.SetValue(`input[name="password"]`, "not-"+p.password),
		submit(`button[name="method"][value="password"]`, `p.msg[data-id="4000006"]`),
		requireContains(`p.msg[data-id="4000006"]`, "The provided credentials are invalid"),
	)
	p.a11y(t, "login (wrong password)")
	p.screenshot(t, "wrong-password")
	if status, _ := p.s.whoamiOf(t, p.c); status != http.StatusUnauthorized {
		t.Errorf("whoami after the wrong password: %d, want 401", status)
	}
	p.c.step(t, "signing in with the right password",
		chromedp.SetValue(`input[name="identifier"]`, p.email),
		chromedp.SetValue(`input[name="password"]`, p.password),
		submit(`button[name="method"][value="password"]`, welcome),
		requireText(welcome, p.email),
	)
	p.screenshot(t, "signed-in")
	status, sess := p.s.whoamiOf(t, p.c)
	if status != http.StatusOK || sess.Identity.ID != p.identityID {
		t.Fatalf("whoami after signing in: %d %+v, want identity %s", status, sess, p.identityID)
	}
	requireMethod(t, sess, "password", "aal1")
}

// 3. Set up TOTP from the secret the settings page shows, then sign in at
// aal2 with it.
func (p *person) setUpTOTP(t *testing.T) {
	p.ensureIdentity(t)
	p.c.step(t, "opening the settings from the header",
		open(p.s.Origin+"/ui/", `header nav a`),
	)
	if eval[bool](t, p.c, `!document.querySelector('header a[href$="/ui/settings"]')`) {
		p.signInWithPassword(t, p.password)
	}
	p.c.step(t, "opening the settings from the header",
		submit(`header a[href$="/ui/settings"]`, `#totp_secret_key`),
		requireText(`main h1`, "Account settings"),
		chromedp.WaitVisible(`#totp_qr img`),
	)
	p.a11y(t, "settings")
	p.screenshot(t, "settings")
	p.totpSecret = p.read(t, `#totp_secret_key code`)
	if !regexp.MustCompile(`^[A-Z2-7]{32}$`).MatchString(p.totpSecret) {
		t.Fatalf("the secret text reads %q, want 32 base32 characters", p.totpSecret)
	}
	p.c.step(t, "confirming TOTP with a code",
		chromedp.SetValue(`input[name="totp_code"]`, p.totpCode(t)),
		submit(`button[name="method"][value="totp"]`, `p.msg[data-id="1050001"]`),
		chromedp.WaitVisible(`button[name="totp_unlink"]`),
	)
	p.screenshot(t, "totp-set-up")
	if !p.s.adminIdentity(t, p.identityID).has("totp") {
		t.Errorf("the identity holds no totp credential after the setup")
	}

	p.signOut(t)
	p.c.step(t, "signing in with the password, asked for the second factor",
		open(p.s.Origin+"/ui/login", `input[name="password"]`),
		chromedp.SetValue(`input[name="identifier"]`, p.email),
		chromedp.SetValue(`input[name="password"]`, p.password),
		submit(`button[name="method"][value="password"]`, `input[name="totp_code"]`),
	)
	p.a11y(t, "login (aal2)")
	p.screenshot(t, "aal2")
	p.c.step(t, "typing the TOTP code",
		chromedp.SetValue(`input[name="totp_code"]`, p.totpCode(t)),
		submit(`button[name="method"][value="totp"]`, welcome),
		requireText(welcome, p.email),
	)
	status, sess := p.s.whoamiOf(t, p.c)
	if status != http.StatusOK || sess.AAL != "aal2" {
		t.Fatalf("whoami after the TOTP code: %d %+v, want an aal2 session", status, sess)
	}
	requireMethod(t, sess, "totp", "aal2")
}

// 4. Make backup codes in the settings, then sign in with one instead of
// TOTP.
func (p *person) backupCodes(t *testing.T) {
	p.ensureIdentity(t)
	p.c.step(t, "opening the settings",
		open(p.s.Origin+"/ui/settings", `button[name="lookup_secret_regenerate"], `+welcome+`, input[name="password"]`),
	)
	if !eval[bool](t, p.c, `!!document.querySelector('button[name="lookup_secret_regenerate"]')`) {
		p.signInWithPassword(t, p.password)
		p.c.step(t, "opening the settings",
			open(p.s.Origin+"/ui/settings", `button[name="lookup_secret_regenerate"]`))
	}
	p.c.step(t, "making backup codes",
		submit(`button[name="lookup_secret_regenerate"]`, `#lookup_secret_codes ul.codes li code`),
		chromedp.WaitVisible(`button[name="lookup_secret_confirm"]`),
	)
	p.a11y(t, "settings (backup codes)")
	p.screenshot(t, "backup-codes")
	p.codes = eval[[]string](t, p.c, `[...document.querySelectorAll('#lookup_secret_codes ul.codes li code')].map(e => e.textContent.trim())`)
	if len(p.codes) != 12 {
		t.Fatalf("the page lists %d backup codes (%q), want 12", len(p.codes), p.codes)
	}
	p.c.step(t, "confirming the backup codes",
		submit(`button[name="lookup_secret_confirm"]`, `p.msg[data-id="1050001"]`),
	)
	if !p.s.adminIdentity(t, p.identityID).has("lookup_secret") {
		t.Errorf("the identity holds no lookup_secret credential after confirming")
	}

	p.signOut(t)
	p.c.step(t, "signing in with the password",
		open(p.s.Origin+"/ui/login", `input[name="password"]`),
		chromedp.SetValue(`input[name="identifier"]`, p.email),
		chromedp.SetValue(`input[name="password"]`, p.password),
		submit(`button[name="method"][value="password"]`, `input[name="lookup_secret"]`),
	)
	p.c.step(t, "typing a backup code instead of TOTP",
		chromedp.SetValue(`input[name="lookup_secret"]`, p.backupCode()),
		submit(`button[name="method"][value="lookup_secret"]`, welcome),
		requireText(welcome, p.email),
	)
	p.screenshot(t, "signed-in-with-backup-code")
	status, sess := p.s.whoamiOf(t, p.c)
	if status != http.StatusOK || sess.AAL != "aal2" {
		t.Fatalf("whoami after the backup code: %d %+v, want an aal2 session", status, sess)
	}
	requireMethod(t, sess, "lookup_secret", "aal2")
	if used := p.s.usedBackupCodes(t, p.identityID); len(used) != 1 || used[0] != p.codes[0] {
		t.Errorf("the stored backup codes used are %q, want only %q", used, p.codes[0])
	}
}

// 5. Add a passkey in the settings, then sign in with it alone.
func (p *person) addPasskey(t *testing.T) {
	p.ensureIdentity(t)
	p.c.step(t, "opening the settings",
		open(p.s.Origin+"/ui/settings", `button[name="passkey_register_trigger"], `+welcome+`, input[name="password"]`),
	)
	if !eval[bool](t, p.c, `!!document.querySelector('button[name="passkey_register_trigger"]')`) {
		p.signInWithPassword(t, p.password)
		p.c.step(t, "opening the settings", open(p.s.Origin+"/ui/settings", `button[name="passkey_register_trigger"]`))
	}
	before := len(p.c.credentials(t))
	p.c.presence(t, true)
	defer p.c.presence(t, false)
	p.c.step(t, "adding a passkey",
		scriptReady(),
		submit(`button[name="passkey_register_trigger"]`, `p.msg[data-id="1050001"]`),
	)
	p.screenshot(t, "passkey-added")
	if n := len(p.c.credentials(t)); n != before+1 {
		t.Fatalf("the authenticator holds %d keys, want %d", n, before+1)
	}
	if !p.s.adminIdentity(t, p.identityID).has("passkey") {
		t.Errorf("the identity holds no passkey credential after adding one")
	}

	p.c.presence(t, false)
	p.signOut(t)
	p.c.step(t, "opening the login page", open(p.s.Origin+"/ui/login", `button[name="passkey_login_trigger"]`), scriptReady())
	p.c.presence(t, true)
	p.c.step(t, "signing in with the passkey",
		submit(`button[name="passkey_login_trigger"]`, welcome+`, `+aal2Page),
	)
	p.c.presence(t, false)
	p.passSecondFactor(t, welcome)
	p.screenshot(t, "signed-in-with-passkey")
	status, sess := p.s.whoamiOf(t, p.c)
	if status != http.StatusOK || sess.Identity.ID != p.identityID {
		t.Fatalf("whoami after the passkey: %d %+v, want identity %s", status, sess, p.identityID)
	}
	requireMethod(t, sess, "passkey", "aal1")
}

// 6. Sign up through the OpenID Provider's button.
func (p *person) socialSignUp(t *testing.T, op *oidcop.Server) {
	p.c.clearCookies(t)
	op.SetUser(oidcUIPerson.Subject)
	button := `button[name="provider"][value="op"]`
	p.c.step(t, "opening the registration page",
		open(p.s.Origin+"/ui/registration", button),
		requireText(button, "Sign up with TestOP"),
	)
	// The provider button shares its form with the email field, which the
	// browser requires: without formnovalidate the click submits nothing.
	if eval[bool](t, p.c, fmt.Sprintf(`(() => { const b = document.querySelector(%q); return !b.formNoValidate && !b.form.checkValidity(); })()`, button)) {
		t.Errorf("the %q button on /ui/registration cannot submit: the form's required fields are empty and the button has no formnovalidate", button)
		eval[bool](t, p.c, fmt.Sprintf(`document.querySelector(%q).formNoValidate = true`, button))
	}
	p.c.step(t, "signing up through the provider",
		submit(button, welcome),
		requireText(welcome, oidcUIPerson.Email),
	)
	p.screenshot(t, "social-sign-up")
	status, sess := p.s.whoamiOf(t, p.c)
	if status != http.StatusOK || sess.Identity.Traits["email"] != oidcUIPerson.Email {
		t.Fatalf("whoami after the social sign-up: %d %+v, want a session of %s", status, sess, oidcUIPerson.Email)
	}
	requireProvider(t, sess, "op")
	if got := p.s.oidcIdentifiers(t, sess.Identity.ID); len(got) != 1 || got[0] != "op:"+oidcUIPerson.Subject {
		t.Errorf("credentials.oidc.identifiers = %q, want [op:%s]", got, oidcUIPerson.Subject)
	}
	p.c.clearCookies(t)
}

// 7. Recover the account with a code from the mailbox and set a new
// password.
func (p *person) recover(t *testing.T) {
	p.ensureIdentity(t)
	p.signOut(t)
	p.c.step(t, "opening the recovery page from the login page",
		open(p.s.Origin+"/ui/login", `main a[href$="/ui/recovery"]`),
		submit(`main a[href$="/ui/recovery"]`, `input[name="email"]`),
		requireText(`main h1`, "Recover your account"),
	)
	p.a11y(t, "recovery")
	p.c.step(t, "asking for a recovery code",
		chromedp.SetValue(`input[name="email"]`, p.email),
		submit(`button[name="method"][value="code"]`, `input[name="code"]`),
		chromedp.WaitVisible(`p.msg[data-id="1060003"]`),
	)
	p.a11y(t, "recovery (code)")
	p.screenshot(t, "recovery-code-sent")
	recoveryPage := p.location(t)
	mail := p.readMailbox(t, "recovery")
	p.c.step(t, "typing the recovery code",
		open(recoveryPage, `input[name="code"]`),
		chromedp.SetValue(`input[name="code"]`, mail.code),
		submit(`button[name="method"][value="code"]`, `input[name="password"], input[name="totp_code"]`),
	)
	p.passSecondFactor(t, `input[name="password"]`)
	p.screenshot(t, "recovered")
	if eval[bool](t, p.c, `!document.querySelector('p.msg[data-id="1060001"]')`) {
		t.Errorf("the settings page after recovery does not say the account was recovered (1060001)\n%s", p.c.diagnose())
	}
	newPassword := "ui-Recovered-passphrase-2"
	p.c.step(t, "setting a new password",
		requireText(`main h1`, "Account settings"),
		chromedp.SetValue(`input[name="password"]`, newPassword),
		submit(`button[name="method"][value="password"]`, `p.msg[data-id="1050001"], `+aal2Page),
	)
	if eval[bool](t, p.c, fmt.Sprintf(`!!document.querySelector(%q)`, aal2Page)) {
		// The recovered session is aal1: changing the password asks for
		// the second factor first, then back to the settings for the
		// password again.
		p.passSecondFactor(t, `input[name="password"], body`)
		if !eval[bool](t, p.c, `!!document.querySelector('input[name="password"]')`) {
			t.Errorf("after the second factor the browser is not back on the settings page, but on %s\n%s", p.location(t), p.c.diagnose())
			p.c.step(t, "opening the settings again", open(p.s.Origin+"/ui/settings", `input[name="password"]`))
		}
		p.c.step(t, "setting a new password at aal2",
			chromedp.SetValue(`input[name="password"]`, newPassword),
			submit(`button[name="method"][value="password"]`, `p.msg[data-id="1050001"]`),
		)
	}
	p.password = newPassword
	p.signOut(t)
	p.signInWithPassword(t, newPassword)
	p.screenshot(t, "signed-in-with-new-password")
	status, sess := p.s.whoamiOf(t, p.c)
	if status != http.StatusOK || sess.Identity.ID != p.identityID {
		t.Fatalf("whoami after the new password: %d %+v, want identity %s", status, sess, p.identityID)
	}
	requireMethod(t, sess, "password", "aal1")
}

// 8. Two browsers signed in as the person; the sessions page of one
// revokes the other.
func (p *person) revokeOtherSession(t *testing.T) {
	p.ensureIdentity(t)
	other := p.c.newBrowserContext(t)
	otherPerson := *p
	otherPerson.c = other
	otherPerson.signInWithPassword(t, p.password)
	_, otherSess := p.s.whoamiOf(t, other)

	p.c.step(t, "opening the settings", open(p.s.Origin+"/ui/", `header nav a`))
	if eval[bool](t, p.c, `!document.querySelector('header a[href$="/ui/settings"]')`) {
		p.signInWithPassword(t, p.password)
	}
	_, mine := p.s.whoamiOf(t, p.c)
	if otherSess.ID == "" || otherSess.ID == mine.ID {
		t.Fatalf("the two browsers share session %q", mine.ID)
	}
	p.c.step(t, "opening the sessions page",
		open(p.s.Origin+"/ui/settings", `main a[href$="/ui/sessions"]`),
		submit(`main a[href$="/ui/sessions"]`, `main ul.sessions li.session`),
	)
	p.a11y(t, "sessions")
	p.screenshot(t, "sessions")
	revoke := fmt.Sprintf(`main li.session[data-session=%q] form.revoke button[type="submit"]`, otherSess.ID)
	p.c.step(t, "revoking the other browser's session",
		requireContains(fmt.Sprintf(`main li.session[data-session=%q]`, mine.ID), "This device"),
		submit(revoke, `#sessions-notice`),
	)
	p.screenshot(t, "session-revoked")
	if n := eval[int](t, p.c, fmt.Sprintf(`document.querySelectorAll('main li.session[data-session=%q]').length`, otherSess.ID)); n != 0 {
		t.Errorf("the sessions page still lists the revoked session")
	}
	if status, _ := p.s.whoamiOf(t, other); status != http.StatusUnauthorized {
		t.Errorf("whoami of the revoked browser: %d, want 401", status)
	}
	if status, _ := p.s.whoamiOf(t, p.c); status != http.StatusOK {
		t.Errorf("whoami of the browser that revoked: %d, want 200", status)
	}
}

// The error page, for an error id the server does not know.
func (p *person) errorPage(t *testing.T) {
	p.c.step(t, "opening the error page",
		open(p.s.Origin+"/ui/error?id=00000000-0000-0000-0000-000000000000", `main div.msg-error`),
		requireContains(`main div.msg-error`, "404"),
	)
	p.a11y(t, "error")
	p.screenshot(t, "error")
}

// mail is what the person reads off a message in the mailbox.
type mail struct {
	code  string
	links []string
	flow  string // the flow a link names
}

var sixDigits = regexp.MustCompile(`(?m)^\s*(\d{6})\s*$`)

// readMailbox opens the dev mailbox and reads the newest message to the
// person of a template named about*.
func (p *person) readMailbox(t *testing.T, about string) mail {
	t.Helper()
	p.c.step(t, "opening the mailbox", open(p.s.Origin+"/ui/mailbox", `main h1`))
	p.a11y(t, "mailbox")
	p.screenshot(t, "mailbox-"+about)
	type shown struct {
		Template string   `json:"template"`
		Text     string   `json:"text"`
		Links    []string `json:"links"`
	}
	msgs := eval[[]shown](t, p.c, `[...document.querySelectorAll('main article.mail')].map(e => ({
		template: e.dataset.template || "", text: e.innerText, links: [...e.querySelectorAll('a[href]')].map(a => a.href)}))`)
	for _, m := range msgs {
		if !strings.Contains(m.Text, p.email) || !strings.HasPrefix(m.Template, about) {
			continue
		}
		got := mail{links: m.Links}
		if c := sixDigits.FindStringSubmatch(m.Text); c != nil {
			got.code = c[1]
		}
		for _, l := range m.Links {
			if u, err := url.Parse(l); err == nil && u.Query().Get("flow") != "" {
				got.flow = u.Query().Get("flow")
			}
		}
		if got.code == "" {
			t.Fatalf("the %s message shows no code:\n%s", about, m.Text)
		}
		return got
	}
	t.Fatalf("the mailbox shows no %s message to %s\n%s", about, p.email, p.c.diagnose())
	return mail{}
}

// newBrowserContext is a second browser of its own cookies (a new browser
// context in the same Chromium), as another device.
func (c *chrome) newBrowserContext(t *testing.T) *chrome {
	t.Helper()
	ctx, cancel := chromedp.NewContext(c.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("opening a second browser context: %v", err)
	}
	return &chrome{ctx: ctx}
}

// presence turns the virtual authenticator's answering on or off: off, a
// ceremony waits as for a person who has not touched the key yet.
func (c *chrome) presence(t *testing.T, on bool) {
	t.Helper()
	if _, err := chromedp.Call(c.ctx, webauthn.SetAutomaticPresenceSimulation, webauthn.SetAutomaticPresenceSimulationParams{
		AuthenticatorID: c.auth, Enabled: on,
	}); err != nil {
		t.Fatalf("WebAuthn.setAutomaticPresenceSimulation: %v", err)
	}
}

// whoamiOf asks who the browser's session cookie belongs to; a browser
// without one answers 401.
func (s *site) whoamiOf(t *testing.T, c *chrome) (int, session) {
	t.Helper()
	res, err := chromedp.Call(c.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{s.Origin}})
	if err != nil {
		t.Fatal(err)
	}
	var ck *http.Cookie
	for _, k := range res.Cookies {
		if k.Name == "ory_kratos_session" {
			ck = &http.Cookie{Name: k.Name, Value: k.Value}
		}
	}
	if ck == nil {
		return http.StatusUnauthorized, session{}
	}
	return s.whoami(t, ck)
}

// adminView is what the test reads of an identity through the admin API.
type adminView struct {
	Credentials map[string]json.RawMessage `json:"credentials"`
	Addresses   []struct {
		Value    string `json:"value"`
		Verified bool   `json:"verified"`
	} `json:"verifiable_addresses"`
}

func (a adminView) has(credential string) bool { _, ok := a.Credentials[credential]; return ok }

func (a adminView) verified(address string) bool {
	for _, v := range a.Addresses {
		if v.Value == address {
			return v.Verified
		}
	}
	return false
}

func (s *site) adminIdentity(t *testing.T, id string) adminView {
	t.Helper()
	var out adminView
	s.adminGet(t, "/admin/identities/"+url.PathEscape(id), &out)
	return out
}

// usedBackupCodes are the identity's stored backup codes marked used.
func (s *site) usedBackupCodes(t *testing.T, id string) []string {
	t.Helper()
	var out struct {
		Credentials struct {
			Lookup struct {
				Config struct {
					Codes []struct {
						Code   string `json:"code"`
						UsedAt string `json:"used_at"`
					} `json:"recovery_codes"`
				} `json:"config"`
			} `json:"lookup_secret"`
		} `json:"credentials"`
	}
	s.adminGet(t, "/admin/identities/"+url.PathEscape(id)+"?include_credential=lookup_secret", &out)
	var used []string
	for _, c := range out.Credentials.Lookup.Config.Codes {
		if c.UsedAt != "" && !strings.HasPrefix(c.UsedAt, "0001-") {
			used = append(used, c.Code)
		}
	}
	return used
}

func (s *site) adminGet(t *testing.T, path string, into any) {
	t.Helper()
	res, err := http.Get(s.Admin + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, res.StatusCode, body)
	}
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(into); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
}
