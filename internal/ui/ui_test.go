package ui

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/securitykey"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
	"github.com/lanyard-id/lanyard/internal/text"
	"github.com/lanyard-id/lanyard/internal/wire"
)

const qrPNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="

// everyNode puts a node of every type on f, as the methods do.
func everyNode(f *flow.Flow) {
	id := flow.Input(flow.GroupDefault, "identifier", "email", "ada@example.org", text.LabelEmail()).Required().Autocomplete("username")
	pw := flow.Input(flow.GroupPassword, "password", "password", "must-not-show", text.LabelPassword()).Required().Autocomplete("current-password")
	pw.Attributes.Pattern, pw.Attributes.Maxlength = ".{8,}", 72
	pw.Messages = append(pw.Messages, text.InvalidCredentials())
	terms := flow.Input(flow.GroupProfile, "traits.newsletter", "checkbox", true, text.LabelGenerated("Newsletter", "traits.newsletter"))
	dis := flow.Input(flow.GroupProfile, "traits.age", "number", 42, text.LabelGenerated("Age", "traits.age"))
	dis.Attributes.Disabled = true
	key := flow.Input("webauthn", "webauthn_login_trigger", "button", `{"publicKey":{}}`, text.LoginWithSecurityKey())
	key.Attributes.OnclickTrigger = "oryWebAuthnLogin"
	key.Attributes.Onclick = "alert(1)"
	auto := flow.Input("passkey", "passkey_login", "hidden", "", nil)
	auto.Attributes.OnloadTrigger = "oryPasskeyLoginAutocompleteInit"
	auto.Messages = append(auto.Messages, text.ValidationRequired("passkey_login"))
	codes := text.LookupCodeList([]string{"abcd1234", "used"}, []*text.Message{text.LookupCode("abcd1234"), text.LookupCodeUsed(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))})
	f.UI.Add(id, pw,
		flow.Submit(flow.GroupPassword, "method", "password", text.LoginWithPassword()),
		terms, dis,
		flow.Submit(flow.GroupProfile, "method", "profile", text.LabelSave()),
		flow.Image("totp", "totp_qr", qrPNG, 256, 256, text.LabelGenerated("QR code", "totp_qr")),
		flow.Text("totp", "totp_secret_key", &text.Message{ID: 1050006, Text: "JBSWY3DPEHPK3PXP", Type: text.Info, Context: map[string]any{"secret": "JBSWY3DPEHPK3PXP"}}, text.LabelGenerated("Secret", "totp_secret_key")),
		flow.Text("lookup_secret", "lookup_secret_codes", codes, text.LookupCodesLabel()),
		flow.Anchor("link", "continue", "https://app.example.org/next", text.LabelContinue()),
		flow.Anchor("link", "evil", "javascript:alert(1)", text.LabelContinue()),
		flow.Script("webauthn", "webauthn_script", "https://auth.example.org/.well-known/ory/webauthn.js", flow.ScriptOptions{
			Async: true, CrossOrigin: "anonymous", Integrity: "sha512-abc", ReferrerPolicy: "no-referrer", Type: "text/javascript", Nonce: "node-nonce"}),
		flow.Div("passkey", "passkey-options", "hidden-options", map[string]string{"Options": `{"a":"<b>"}`, "bad key": "x", "onclick": "y"}),
		key, auto,
	)
	f.UI.Messages = append(f.UI.Messages, text.LoginTitle(), text.InvalidCredentials(), &text.Message{ID: 1060001, Text: "Done.", Type: text.Success})
}

func TestFlowPageRendersEveryNodeType(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s, Options{})
		f, b := e.startFlow(t, flow.Login, everyNode)
		p := e.get(t, b, "ui/login?flow="+f.ID.String())
		if p.status != http.StatusOK {
			t.Fatalf("status %d: %s", p.status, p.body)
		}
		checkPage(t, "login", p)
		dump(t, "login", p)
		csrf := f.UI.Find("csrf_token").Attributes.Value.(string)
		mustContain(t, "login", p.body,
			`<form id="flow" class="flow" action="`+e.public+`self-service/login?flow=`+f.ID.String()+`" method="POST">`,
			`<input type="hidden" name="csrf_token" value="`+strings.ReplaceAll(csrf, "+", "&#43;")+`">`,
			// inputs: label tied, attributes carried
			`<label for="n1-identifier">Email</label>`,
			`<input id="n1-identifier" type="email" name="identifier" value="ada@example.org" required autocomplete="username">`,
			`<input id="n2-password" type="password" name="password" required autocomplete="current-password" pattern=".{8,}" maxlength="72" aria-describedby="n2-password-msg-0" aria-invalid="true">`,
			`<p class="msg msg-error" id="n2-password-msg-0" data-id="4000006" data-type="error" role="alert">`,
			`<input id="n4-traits_newsletter" type="checkbox" name="traits.newsletter" value="true" checked>`,
			`<label for="n4-traits_newsletter">Newsletter</label>`,
			`value="42" disabled>`,
			// submit buttons in their groups
			`<fieldset class="group group-password" data-group="password"><legend>Password</legend>`,
			`<button id="n3-method" type="submit" class="button" name="method" value="password" data-label="1010022"`,
			`name="method" value="profile" data-label="1070003" formnovalidate>Save</button>`,
			// img: the QR code's data: URI intact
			`<img src="`+qrPNG+`" width="256" height="256" alt="QR code">`,
			// text: the secret, and the backup codes from the context
			`<p><code>JBSWY3DPEHPK3PXP</code></p>`,
			`<ul class="codes"><li><code>abcd1234</code></li><li><code>Used at 2026-01-02T03:04:05Z</code></li></ul>`,
			// anchors
			`<a id="continue" class="button secondary" href="https://app.example.org/next">Continue</a>`,
			`href="#ZgotmplZ"`,
			// script with the page's nonce, not the node's
			`src="https://auth.example.org/.well-known/ory/webauthn.js" nonce="`,
			`integrity="sha512-abc" crossorigin="anonymous" referrerpolicy="no-referrer" type="text/javascript" async id="webauthn_script"></script>`,
			// div with its data, the odd keys dropped
			`<div id="passkey-options" class="hidden-options" data-options="{&#34;a&#34;:&#34;&lt;b&gt;&#34;}"></div>`,
			// triggers as data attributes
			`type="button" class="button" name="webauthn_login_trigger" value="{&#34;publicKey&#34;:{}}" data-label="1010008" data-trigger="oryWebAuthnLogin">`,
			`<input type="hidden" name="passkey_login" value="" data-load-trigger="oryPasskeyLoginAutocompleteInit">`,
			// flow messages: info, error, success told apart
			`class="msg msg-info" id="flow-msg-0" data-id="1010001" data-type="info" role="status">Sign in</p>`,
			`class="msg msg-error" id="flow-msg-1" data-id="4000006" data-type="error" role="alert">`,
			`class="msg msg-success" id="flow-msg-2" data-id="1060001" data-type="success" role="status">Done.</p>`,
			// a hidden field's message shown with the form's
			`class="msg msg-error" id="n15-passkey_login-msg-0" data-id="4000002" data-type="error" role="alert">Property passkey_login is missing.</p>`,
		)
		for _, banned := range []string{"must-not-show", "node-nonce", "alert(1)", `data-bad`, `data-onclick`} {
			if strings.Contains(p.body, banned) {
				t.Errorf("page contains %q", banned)
			}
		}
		if strings.Index(p.body, `data-group="default"`) > strings.Index(p.body, `data-group="password"`) {
			t.Error("the default group is not first")
		}
	})
}

func TestFlowPageRedirectsWithoutFlow(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s, Options{})
		for _, tc := range []struct{ path, want string }{
			{"ui/login?" + query("return_to", "https://app.example.org/x", "refresh", "true", "aal", "aal2", "junk", "1"),
				"self-service/login/browser?" + query("aal", "aal2", "refresh", "true", "return_to", "https://app.example.org/x")},
			{"ui/registration", "self-service/registration/browser"},
			{"ui/settings?return_to=%2Fx&aal=aal2", "self-service/settings/browser?return_to=%2Fx"},
			{"ui/recovery", "self-service/recovery/browser"},
			{"ui/verification?return_to=https%3A%2F%2Fa.test%2F", "self-service/verification/browser?return_to=https%3A%2F%2Fa.test%2F"},
			{"ui/login?flow=not-a-uuid", "self-service/login/browser"},
			{"ui/login?flow=" + uuid.NewString(), "self-service/login/browser"},
			{"ui", "ui/"},
		} {
			p := e.get(t, nil, tc.path)
			if p.status != http.StatusSeeOther || p.header.Get("Location") != e.public+tc.want {
				t.Errorf("%s: %d to %q, want 303 to %q", tc.path, p.status, p.header.Get("Location"), e.public+tc.want)
			}
		}
	})
}

func TestFlowOfAnotherBrowserIsNotShown(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s, Options{})
		f, own := e.startFlow(t, flow.Registration, everyNode)
		_, other := e.startFlow(t, flow.Registration, nil)
		for name, b := range map[string]*browser{"another browser": other, "another browser, signed in": {cookies: other.cookies, header: http.Header{"X-Session-Token": {"nope"}}}} {
			p := e.get(t, b, "ui/registration?flow="+f.ID.String()+"&return_to=https%3A%2F%2Fa.test%2F")
			if p.status != http.StatusSeeOther || p.header.Get("Location") != e.public+"self-service/registration/browser?return_to=https%3A%2F%2Fa.test%2F" {
				t.Errorf("%s: %d %q", name, p.status, p.header.Get("Location"))
			}
			if strings.Contains(p.body, "csrf_token") {
				t.Errorf("%s: the flow was shown", name)
			}
		}
		// Without any CSRF cookie, the browser refuses cookies: a new
		// flow would come back here without one again, so the page says so.
		p := e.get(t, nil, "ui/registration?flow="+f.ID.String())
		if p.status != http.StatusForbidden || strings.Contains(p.body, "csrf_token") {
			t.Errorf("no cookies: %d", p.status)
		}
		checkPage(t, "no cookies", p)
		mustContain(t, "no cookies", p.body, `role="alert"`, "<code>security_csrf_violation</code>", "The flow was started by another browser")
		// A flow of another kind is unknown here.
		if p := e.get(t, own, "ui/login?flow="+f.ID.String()); p.status != http.StatusSeeOther {
			t.Errorf("registration flow on the login page: %d", p.status)
		}
		// An app's flow is not a browser's to submit.
		rec := httptest.NewRecorder()
		api, err := e.kit.Start(rec, httptest.NewRequest(http.MethodGet, e.public+"self-service/registration/api", nil), flow.Registration, flow.TypeAPI)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.kit.Save(context.Background(), api); err != nil {
			t.Fatal(err)
		}
		if p := e.get(t, own, "ui/registration?flow="+api.ID.String()); p.status != http.StatusSeeOther {
			t.Errorf("api flow: %d", p.status)
		}
		// Expired: a new one.
		f.ExpiresAt = time.Now().Add(-time.Minute)
		if err := s.Write(context.Background(), func(q *store.Q) error {
			_, err := q.Exec(context.Background(), `UPDATE selfservice_flows SET expires_at = $1 WHERE id = $2`, f.ExpiresAt, f.ID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if p := e.get(t, own, "ui/registration?flow="+f.ID.String()); p.status != http.StatusSeeOther {
			t.Errorf("expired flow: %d", p.status)
		}
	})
}

func TestSettingsFlowOfAnotherIdentity(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s, Options{})
		ada, grace := &browser{header: http.Header{}}, &browser{header: http.Header{}}
		adaID := e.signIn(t, ada, "ada@example.org")
		e.signIn(t, grace, "grace@example.org")
		f, b := e.startFlow(t, flow.Settings, func(f *flow.Flow) { f.IdentityID = &adaID.ID })
		ada.cookies, grace.cookies = b.cookies, b.cookies

		p := e.get(t, ada, "ui/settings?flow="+f.ID.String())
		if p.status != http.StatusOK {
			t.Fatalf("own settings flow: %d", p.status)
		}
		checkPage(t, "settings", p)
		mustContain(t, "settings", p.body, `href="`+e.public+`ui/sessions"`, `self-service/logout?token=ory_lo_`)
		for name, who := range map[string]*browser{"another identity": grace, "signed out": {cookies: b.cookies}} {
			p := e.get(t, who, "ui/settings?flow="+f.ID.String())
			if p.status != http.StatusSeeOther || p.header.Get("Location") != e.public+"self-service/settings/browser" {
				t.Errorf("%s: %d %q", name, p.status, p.header.Get("Location"))
			}
		}
	})
}

func TestWelcomePage(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s, Options{})
		p := e.get(t, nil, "ui/")
		if p.status != http.StatusOK {
			t.Fatalf("status %d", p.status)
		}
		checkPage(t, "welcome", p)
		dump(t, "welcome", p)
		mustContain(t, "signed out", p.body, "You are not signed in.", `href="`+e.public+`ui/login"`, `href="`+e.public+`ui/registration"`, `href="`+e.public+`ui/recovery"`)

		b := &browser{header: http.Header{}}
		e.signIn(t, b, "ada@example.org")
		p = e.get(t, b, "ui/")
		checkPage(t, "welcome signed in", p)
		dump(t, "welcome-signed-in", p)
		logout := e.public + "self-service/logout?token=" + e.sessions.LogoutToken(b.header.Get("X-Session-Token"))
		mustContain(t, "signed in", p.body, "<strong>ada@example.org</strong>", `href="`+e.public+`ui/settings"`, `href="`+e.public+`ui/sessions"`, `href="`+logout+`"`)
		if strings.Contains(p.body, b.header.Get("X-Session-Token")) {
			t.Error("the page shows the session token")
		}
	})
}

func TestErrorPage(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s, Options{})
		rec := httptest.NewRecorder()
		e.kit.BrowserError(rec, httptest.NewRequest(http.MethodGet, e.public+"self-service/login", nil),
			wire.Forbidden.WithID("security_csrf_violation").WithReason("The request was refused <b>here</b>."))
		loc := rec.Header().Get("Location")
		if !strings.HasPrefix(loc, e.public+"ui/error?id=") {
			t.Fatalf("error redirect %q", loc)
		}
		p := e.get(t, nil, strings.TrimPrefix(loc, e.public))
		if p.status != http.StatusOK {
			t.Fatalf("status %d", p.status)
		}
		checkPage(t, "error", p)
		dump(t, "error", p)
		mustContain(t, "error", p.body, `role="alert"`, "Error 403", "Forbidden", "The request was refused &lt;b&gt;here&lt;/b&gt;.", "<code>security_csrf_violation</code>", `href="`+e.public+`ui/"`)

		p = e.get(t, nil, "ui/error?id=stub:500")
		mustContain(t, "stub", p.body, "Error 500", "This is a stub error.")
		for _, id := range []string{uuid.NewString(), "nope", ""} {
			p = e.get(t, nil, "ui/error?id="+id)
			if p.status != http.StatusNotFound || !strings.Contains(p.body, "The error could not be found.") {
				t.Errorf("unknown error %q: %d", id, p.status)
			}
		}
	})
}

func TestReadErrorMatchesServeError(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s, Options{})
		if _, err := e.kit.ReadError(context.Background(), uuid.NewString()); !errors.Is(err, flow.ErrStoredErrorNotFound) {
			t.Errorf("unknown: %v", err)
		}
	})
}

func TestAssets(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s, Options{})
		for name, ctype := range map[string]string{"ui.css": "text/css; charset=utf-8", "ui.js": "text/javascript; charset=utf-8"} {
			u := assetURL(e.public, name)
			p := e.get(t, nil, strings.TrimPrefix(u, e.public))
			if p.status != http.StatusOK || p.header.Get("Content-Type") != ctype || p.header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
				t.Errorf("%s: %d %q %q", name, p.status, p.header.Get("Content-Type"), p.header.Get("Cache-Control"))
			}
			if p.header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%s: no nosniff", name)
			}
			p = e.get(t, nil, "ui/assets/"+name)
			if p.status != http.StatusOK || p.header.Get("Cache-Control") != "public, no-cache" {
				t.Errorf("%s unversioned: %d %q", name, p.status, p.header.Get("Cache-Control"))
			}
		}
		if p := e.get(t, nil, "ui/assets/nope.js"); p.status != http.StatusNotFound {
			t.Errorf("unknown asset: %d", p.status)
		}
		js := string(assets["ui.js"].body)
		mustContain(t, "ui.js", js, "data-trigger", "data-load-trigger", "oryWebAuthnInitialized", "__oryWebAuthnInitialized")
		mustContain(t, "ui.css", string(assets["ui.css"].body), "prefers-color-scheme: dark", ":focus-visible", "var(--primary)")
	})
}

func TestBrandingAndPolicyOrigins(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s, Options{
			Branding:          config.UIBranding{Name: "Example <Inc>", LogoURL: "https://cdn.example.com/a/logo.png?x=1", PrimaryColor: "#aa3300"},
			FormActionOrigins: []string{"https://accounts.google.com/o/oauth2/auth", "javascript:alert(1)", "https://idp.test:8443/"},
		})
		p := e.get(t, nil, "ui/")
		checkPage(t, "branded", p)
		mustContain(t, "branded", p.body, "<title>Welcome · Example &lt;Inc&gt;</title>", `<img src="https://cdn.example.com/a/logo.png?x=1" alt="" height="32">`, ":root{--primary:#aa3300}")
		csp := p.header.Get("Content-Security-Policy")
		mustContain(t, "csp", csp, "img-src 'self' data: https://cdn.example.com;", "form-action 'self' https://accounts.google.com https://idp.test:8443;")
		if strings.Contains(csp, "javascript") {
			t.Errorf("csp %q", csp)
		}
		// A colour that did not come through config validation is not
		// written into the style block.
		e2 := newEnv(t, s, Options{Branding: config.UIBranding{PrimaryColor: "red;}body{display:none"}})
		p = e2.get(t, nil, "ui/")
		mustContain(t, "bad colour", p.body, ":root{--primary:"+config.DefaultPrimaryColor+"}", "<title>Welcome · Lanyard</title>")
		if first, second := nonceOf(t, e.get(t, nil, "ui/")), nonceOf(t, e.get(t, nil, "ui/")); first == second {
			t.Error("the nonce is the same on two responses")
		}
	})
}

func nonceOf(t *testing.T, p reply) string {
	t.Helper()
	m := cspNonce.FindStringSubmatch(p.header.Get("Content-Security-Policy"))
	if m == nil {
		t.Fatal("no nonce")
	}
	return m[1]
}

// german is a Translator with words of its own, to see that every text
// goes through it.
type german struct{}

func (german) Match(al string) string {
	if strings.HasPrefix(al, "de") {
		return "de"
	}
	return "en"
}
func (german) Text(tag string, m *text.Message) string { return tag + ":" + m.Text }
func (german) Phrase(tag, key string) string           { return tag + "[" + key + "]" }
func (german) Date(tag string, t time.Time) string     { return tag + "-date" }

func TestTranslator(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s, Options{Translator: german{}})
		f, b := e.startFlow(t, flow.Login, everyNode)
		b.header.Set("Accept-Language", "de-CH, de;q=0.9, en;q=0.5")
		p := e.get(t, b, "ui/login?flow="+f.ID.String())
		checkPage(t, "de", p)
		mustContain(t, "de", p.body, `<html lang="de">`, "<h1>de[title.login]</h1>", "de:Sign in</p>", `<label for="n1-identifier">de:Email</label>`,
			"<code>de:abcd1234</code>", "<legend>de[group.password]</legend>", ">de-date</time>", "de:Sign in with password</button>")
	})
}

func TestWebAuthnScriptNodeLoadsUnderThePolicy(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s, Options{})
		script := securitykey.NewScript(e.public)
		node := script.Node()
		f, b := e.startFlow(t, flow.Login, func(f *flow.Flow) { f.UI.Add(node) })
		p := e.get(t, b, "ui/login?flow="+f.ID.String())
		checkPage(t, "webauthn", p)
		nonce := nonceOf(t, p)
		a := node.Attributes
		mustContain(t, "webauthn", p.body, `<script src="`+a.Src+`" nonce="`+nonce+`" integrity="`+strings.ReplaceAll(a.Integrity, "+", "&#43;")+`" crossorigin="anonymous" referrerpolicy="no-referrer" type="text/javascript" async id="webauthn_script"></script>`)
		if strings.Contains(p.body, a.Nonce) {
			t.Error("the node's own nonce is on the page instead of the policy's")
		}
	})
}
