package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	ory "github.com/ory/client-go"
)

func TestSelfserviceRegistration_NativeFlowRendersProfileStep(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, nil)
		f := s.nativeFlow(t, "registration")

		if f.Type != "api" {
			t.Errorf("type = %q, want api", f.Type)
		}
		if f.State != "choose_method" {
			t.Errorf("state = %v, want choose_method", f.State)
		}
		if want := s.submitURL("registration", f.ID); f.UI.Action != want {
			t.Errorf("ui.action = %q, want %q", f.UI.Action, want)
		}
		if f.UI.Method != "POST" {
			t.Errorf("ui.method = %q, want POST", f.UI.Method)
		}
		if life := f.ExpiresAt.Sub(f.IssuedAt); life < 59*time.Minute || life > 61*time.Minute {
			t.Errorf("expires_at - issued_at = %s, want the default lifespan of 1h", life)
		}

		csrf := f.node(t, "csrf_token")
		if csrf.Group != "default" || csrf.inputType() != "hidden" {
			t.Errorf("csrf_token node = %s, want a hidden input in group default", asJSON(csrf))
		}
		if v, ok := csrf.Attributes["value"]; !ok || v != "" {
			t.Errorf("csrf_token value of an API flow = %#v (present %v), want \"\"", v, ok)
		}

		email := f.node(t, "traits.email")
		if email.Group != "default" || email.inputType() != "email" || email.Attributes["required"] != true {
			t.Errorf("traits.email node = %s, want a required email input in group default", asJSON(email))
		}
		if email.Attributes["autocomplete"] != "email" {
			t.Errorf("traits.email autocomplete = %v, want email", email.Attributes["autocomplete"])
		}
		for _, name := range []string{"traits.email", "traits.name.first", "traits.name.last"} {
			n := f.node(t, name)
			if n.Group != "default" || n.Type != "input" {
				t.Errorf("%s node = %s, want an input in group default", name, asJSON(n))
			}
			if n.Meta.Label == nil || n.Meta.Label.ID != 1070002 {
				t.Errorf("%s label = %s, want message 1070002", name, asJSON(n.Meta.Label))
			}
		}
		profile := f.node(t, "method", "profile")
		if profile.Group != "profile" || profile.inputType() != "submit" {
			t.Errorf("method=profile node = %s, want a submit in group profile", asJSON(profile))
		}
		if _, ok := f.find("password"); ok {
			t.Errorf("step one must not ask for the password yet: %s", asJSON(f.UI.Nodes))
		}

		// API flows are fetched without any cookie.
		got, res, err := s.Public.FrontendAPI.GetRegistrationFlow(context.Background()).Id(f.ID).Execute()
		requireOK(t, res, err, http.StatusOK)
		if got.Id != f.ID {
			t.Errorf("GET flows?id= answered flow %s, want %s", got.Id, f.ID)
		}
		_, res, err = s.Public.FrontendAPI.GetRegistrationFlow(context.Background()).Id("2c0a5e4b-6f59-4a5c-8a3e-0d7d1c9b1f00").Execute()
		status, body := sdkFailure(t, res, err)
		requireError(t, status, body, http.StatusNotFound)
	})
}

func TestSelfserviceRegistration_BrowserInitRedirectsOrAnswersJSON(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, nil)

		// A plain navigation goes to the registration UI with the flow id.
		b := newBrowser(t, s)
		res := b.do(t, http.MethodGet, s.PublicURL+"/self-service/registration/browser", nil, nil)
		loc := redirectTarget(t, res)
		if withoutQuery(loc) != registerUI || loc.Query().Get("flow") == "" {
			t.Fatalf("Location = %s, want %s?flow=<id>", loc, registerUI)
		}
		if b.cookie(csrfCookieName(s)) == nil {
			t.Errorf("no CSRF cookie %s after the browser init; Set-Cookie: %v", csrfCookieName(s), res.header.Values("Set-Cookie"))
		}
		f, _, err := b.sdk.FrontendAPI.GetRegistrationFlow(context.Background()).Id(loc.Query().Get("flow")).Execute()
		if err != nil {
			t.Fatalf("GET the redirected flow with the CSRF cookie: %v", err)
		}
		if f.Type != "browser" {
			t.Errorf("type = %q, want browser", f.Type)
		}

		// An AJAX init answers the flow and sets the CSRF cookie.
		b2 := newBrowser(t, s)
		flow, raw := b2.browserFlow(t, "registration", nil)
		c := setCookie(raw, csrfCookieName(s))
		if c == nil {
			t.Fatalf("no Set-Cookie %s on the JSON init: %v", csrfCookieName(s), raw.header.Values("Set-Cookie"))
		}
		if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure || c.Path != "/" {
			t.Errorf("CSRF cookie = %q, want HttpOnly, SameSite=Lax, Path=/ and no Secure in dev mode", c.Raw)
		}
		token := flow.csrf(t)
		if len(token) < 32 {
			t.Errorf("csrf_token node value %q of a browser flow is too short to be a masked token", token)
		}

		// Fetching a browser flow needs the CSRF cookie.
		got := b2.do(t, http.MethodGet, s.PublicURL+"/self-service/registration/flows?id="+flow.ID, nil, jsonAccept)
		if got.status != http.StatusOK {
			t.Errorf("GET flow with the CSRF cookie: %d %s", got.status, got.body)
		}
		_, res2, err := s.Public.FrontendAPI.GetRegistrationFlow(context.Background()).Id(flow.ID).Execute()
		status, body := sdkFailure(t, res2, err)
		if e := requireError(t, status, body, http.StatusForbidden); e.Error.ID != "security_csrf_violation" {
			t.Errorf("error.id = %q, want security_csrf_violation", e.Error.ID)
		}
	})
}

// registrationTraits is a full set of traits of the default schema.
func registrationTraits(email string) map[string]any {
	return map[string]any{"email": email, "name": map[string]any{"first": "Ada", "last": "Lovelace"}}
}

func TestSelfserviceRegistration_TwoStepProfileThenPassword(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, nil)

		t.Run("native", func(t *testing.T) {
			email := uniqueEmail("twostep")
			f := s.nativeFlow(t, "registration")
			res := sendRequest(t, plain(s), http.MethodPost, s.submitURL("registration", f.ID),
				map[string]any{"method": "profile", "traits": registrationTraits(email)}, nil)
			if res.status != http.StatusBadRequest {
				t.Fatalf("profile step: status %d, want 400 with the next step: %s", res.status, res.body)
			}
			step2 := decodeFlow(t, "registration", res.body)
			requirePasswordStep(t, step2, f.ID, email)

			// Back to step one keeps the traits.
			res = sendRequest(t, plain(s), http.MethodPost, s.submitURL("registration", f.ID),
				map[string]any{"method": "profile", "screen": "previous", "traits": registrationTraits(email)}, nil)
			if res.status != http.StatusBadRequest && res.status != http.StatusOK {
				t.Fatalf("screen=previous: status %d, want the flow back at step one: %s", res.status, res.body)
			}
			back := decodeFlow(t, "registration", res.body)
			if n := back.node(t, "traits.email"); n.inputType() != "email" || n.value() != email {
				t.Errorf("after screen=previous traits.email = %s, want an editable input holding %q", asJSON(n), email)
			}
			if _, ok := back.find("password"); ok {
				t.Errorf("after screen=previous the password input must be gone: %s", asJSON(back.UI.Nodes))
			}

			// Forward again, then the password completes the flow.
			res = sendRequest(t, plain(s), http.MethodPost, s.submitURL("registration", f.ID),
				map[string]any{"method": "profile", "traits": registrationTraits(email)}, nil)
			if res.status != http.StatusBadRequest {
				t.Fatalf("profile step again: status %d: %s", res.status, res.body)
			}
			res = sendRequest(t, plain(s), http.MethodPost, s.submitURL("registration", f.ID),
				map[string]any{"method": "password", "password": testPassword, "traits": registrationTraits(email)}, nil)
			if res.status != http.StatusOK {
				t.Fatalf("password step: status %d, want 200: %s", res.status, res.body)
			}
			ok := decodeSuccess(t, res.body)
			if ok.Identity == nil || !sameJSON(ok.Identity.Traits, registrationTraits(email)) {
				t.Errorf("identity = %s, want the traits of step one", asJSON(ok.Identity))
			}
			if !sessionTokenFormat.MatchString(ok.SessionToken) {
				t.Errorf("session_token = %q, want ory_st_ + 32 alphanumerics", ok.SessionToken)
			}
		})

		t.Run("browser form", func(t *testing.T) {
			email := uniqueEmail("twostep-form")
			b := newBrowser(t, s)
			f, _ := b.browserFlow(t, "registration", nil)
			form := url.Values{
				"csrf_token":        {f.csrf(t)},
				"method":            {"profile"},
				"traits.email":      {email},
				"traits.name.first": {"Ada"},
				"traits.name.last":  {"Lovelace"},
			}
			res := b.do(t, http.MethodPost, s.submitURL("registration", f.ID), form, nil)
			loc := redirectTarget(t, res)
			if withoutQuery(loc) != registerUI || loc.Query().Get("flow") != f.ID {
				t.Fatalf("profile step: Location = %s, want %s?flow=%s", loc, registerUI, f.ID)
			}
			got := b.do(t, http.MethodGet, s.PublicURL+"/self-service/registration/flows?id="+f.ID, nil, jsonAccept)
			if got.status != http.StatusOK {
				t.Fatalf("GET flow after the profile step: %d %s", got.status, got.body)
			}
			step2 := decodeFlow(t, "registration", got.body)
			requirePasswordStep(t, step2, f.ID, email)

			form.Set("method", "password")
			form.Set("password", testPassword)
			form.Set("csrf_token", step2.csrf(t))
			res = b.do(t, http.MethodPost, s.submitURL("registration", f.ID), form, nil)
			if loc := redirectTarget(t, res); loc.String() != defaultReturn {
				t.Errorf("password step: Location = %s, want %s", loc, defaultReturn)
			}
			if setCookie(res, "ory_kratos_session") == nil {
				t.Errorf("no session cookie after registration: %v", res.header.Values("Set-Cookie"))
			}
			status, sess, who := s.whoami(t, b.http, nil)
			if status != http.StatusOK {
				t.Fatalf("whoami with the new cookie: %d %s", status, who.body)
			}
			if traits, _ := sess.Identity.Traits.(map[string]any); traits["email"] != email {
				t.Errorf("whoami identity traits = %s, want email %s", asJSON(sess.Identity.Traits), email)
			}
		})
	})
}

// requirePasswordStep checks step two of a registration: the traits as
// hidden inputs, the password, its submit, the way back and message 1040009.
func requirePasswordStep(t *testing.T, f flowView, flowID, email string) {
	t.Helper()
	if f.ID != flowID {
		t.Errorf("step two is flow %s, want the same flow %s", f.ID, flowID)
	}
	requireFlowMessage(t, f, 1040009)
	if n := f.node(t, "traits.email"); n.inputType() != "hidden" || n.value() != email {
		t.Errorf("step two traits.email = %s, want a hidden input holding %q", asJSON(n), email)
	}
	if n := f.node(t, "traits.name.first"); n.inputType() != "hidden" || n.value() != "Ada" {
		t.Errorf("step two traits.name.first = %s, want a hidden input holding Ada", asJSON(n))
	}
	pw := f.node(t, "password")
	if pw.Group != "password" || pw.inputType() != "password" || pw.Attributes["required"] != true {
		t.Errorf("password node = %s, want a required password input in group password", asJSON(pw))
	}
	if submit := f.node(t, "method", "password"); submit.Group != "password" || submit.inputType() != "submit" {
		t.Errorf("method=password node = %s, want a submit in group password", asJSON(submit))
	}
	if back := f.node(t, "screen", "previous"); back.inputType() != "submit" {
		t.Errorf("screen=previous node = %s, want a submit button", asJSON(back))
	}
}

func TestSelfserviceRegistration_NativeOneShotIssuesSession(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, nil)
		ctx := context.Background()

		flow, res, err := s.Public.FrontendAPI.CreateNativeRegistrationFlow(ctx).Execute()
		requireOK(t, res, err, http.StatusOK)
		body := ory.UpdateRegistrationFlowWithPasswordMethodAsUpdateRegistrationFlowBody(&ory.UpdateRegistrationFlowWithPasswordMethod{
			Method:   "password",
			Password: testPassword,
			Traits:   map[string]any{"email": "One.Shot@Example.org"},
		})
		reg, res, err := s.Public.FrontendAPI.UpdateRegistrationFlow(ctx).Flow(flow.Id).UpdateRegistrationFlowBody(body).Execute()
		requireOK(t, res, err, http.StatusOK)

		if reg.Identity == nil || reg.Identity.Id == "" {
			t.Fatalf("no identity in the answer: %s", asJSON(reg))
		}
		if traits := traitsOf(t, reg.Identity); traits["email"] != "One.Shot@Example.org" {
			t.Errorf("traits.email = %v, want it as sent", traits["email"])
		}
		if reg.Session == nil || reg.SessionToken == nil {
			t.Fatalf("the session hook is configured but the answer has no session or token: %s", asJSON(reg))
		}
		token := *reg.SessionToken
		if !sessionTokenFormat.MatchString(token) {
			t.Errorf("session_token = %q, want ory_st_ + 32 alphanumerics", token)
		}
		if reg.Session.Identity == nil || reg.Session.Identity.Id != reg.Identity.Id {
			t.Errorf("session identity = %s, want %s", asJSON(reg.Session.Identity), reg.Identity.Id)
		}
		if reg.Session.Active == nil || !*reg.Session.Active {
			t.Errorf("session.active = %v, want true", reg.Session.Active)
		}
		if len(reg.Session.AuthenticationMethods) != 1 || reg.Session.AuthenticationMethods[0].GetMethod() != "password" {
			t.Errorf("authentication_methods = %s, want one password entry", asJSON(reg.Session.AuthenticationMethods))
		}
		if aal := reg.Session.AuthenticatorAssuranceLevel; aal == nil || *aal != ory.AUTHENTICATORASSURANCELEVEL_AAL1 {
			t.Errorf("authenticator_assurance_level = %v, want aal1", aal)
		}

		// continue_with tells the app to keep the token.
		raw := decodeSuccessFromSDK(t, res)
		if len(raw.ContinueWith) == 0 || raw.ContinueWith[0].Action != "set_ory_session_token" ||
			raw.ContinueWith[0].OrySessionToken != token {
			t.Errorf("continue_with = %s, want [{action: set_ory_session_token, ory_session_token: <the token>}]", asJSON(raw.ContinueWith))
		}

		// The token works in both headers; the identity id is echoed.
		for _, h := range []http.Header{tokenHeader(token), {"Authorization": {"Bearer " + token}}} {
			status, sess, who := s.whoami(t, plain(s), h)
			if status != http.StatusOK {
				t.Fatalf("whoami with %v: %d %s", h, status, who.body)
			}
			if sess.Id != reg.Session.Id {
				t.Errorf("whoami session %s, want %s", sess.Id, reg.Session.Id)
			}
			if got := who.header.Get("X-Kratos-Authenticated-Identity-Id"); got != reg.Identity.Id {
				t.Errorf("X-Kratos-Authenticated-Identity-Id = %q, want %q", got, reg.Identity.Id)
			}
		}
		sess, res, err := s.Public.FrontendAPI.ToSession(ctx).XSessionToken(token).Execute()
		requireOK(t, res, err, http.StatusOK)
		if sess.Identity == nil || sess.Identity.Id != reg.Identity.Id {
			t.Errorf("SDK ToSession identity = %s, want %s", asJSON(sess.Identity), reg.Identity.Id)
		}

		// The stored credential is the configured hash, keyed by the
		// lower-cased email.
		cred := passwordCredential(t, s, reg.Identity.Id)
		if !strings.HasPrefix(cred.hash, "$2a$04$") {
			t.Errorf("stored hash %.7s..., want bcrypt cost 4 ($2a$04$)", cred.hash)
		}
		if !sameJSON(cred.identifiers, []string{"one.shot@example.org"}) {
			t.Errorf("password identifiers = %v, want [one.shot@example.org]", cred.identifiers)
		}
	})
}

// decodeSuccessFromSDK reads the raw body an SDK call left readable.
func decodeSuccessFromSDK(t *testing.T, res *http.Response) nativeSuccess {
	t.Helper()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return decodeSuccess(t, body)
}

type storedPassword struct {
	hash        string
	identifiers []string
}

// passwordCredential reads an identity's password credential from the
// admin API.
func passwordCredential(t *testing.T, s *Server, id string) storedPassword {
	t.Helper()
	m := s.rawIdentity(t, id, "include_credential=password")
	creds, _ := m["credentials"].(map[string]any)
	pw, _ := creds["password"].(map[string]any)
	if pw == nil {
		t.Fatalf("identity %s has no password credential: %s", id, asJSON(m["credentials"]))
	}
	var out storedPassword
	for _, v := range pw["identifiers"].([]any) {
		out.identifiers = append(out.identifiers, fmt.Sprint(v))
	}
	cfg, _ := pw["config"].(map[string]any)
	out.hash, _ = cfg["hashed_password"].(string)
	return out
}

func TestSelfserviceRegistration_WithoutSessionHookIssuesNoSession(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, map[string]any{"selfservice.flows.registration.after.password.hooks": nil})
		ok := s.registerNative(t, "nohook@example.org")
		if ok.Identity == nil || ok.Identity.Id == "" {
			t.Fatalf("no identity in the answer: %s", asJSON(ok))
		}
		if ok.Session != nil || ok.SessionToken != "" {
			t.Errorf("without the session hook the answer must carry no session: %s", asJSON(ok))
		}
		s.requireCount(t, 1, "after registration")

		// The browser gets no session cookie either.
		b := newBrowser(t, s)
		f, _ := b.browserFlow(t, "registration", nil)
		res := b.do(t, http.MethodPost, s.submitURL("registration", f.ID), url.Values{
			"csrf_token": {f.csrf(t)}, "method": {"password"}, "password": {testPassword},
			"traits.email": {"nohook-browser@example.org"},
		}, nil)
		redirectTarget(t, res)
		if c := setCookie(res, "ory_kratos_session"); c != nil {
			t.Errorf("session cookie set without the session hook: %q", c.Raw)
		}
	})
}

func TestSelfserviceRegistration_BrowserJSONSetsSessionCookie(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, nil)
		b := newBrowser(t, s)
		f, _ := b.browserFlow(t, "registration", nil)
		res := b.do(t, http.MethodPost, s.submitURL("registration", f.ID), map[string]any{
			"csrf_token": f.csrf(t), "method": "password", "password": testPassword,
			"traits": map[string]any{"email": "browser-json@example.org"},
		}, nil)
		if res.status != http.StatusOK {
			t.Fatalf("status %d, want 200: %s", res.status, res.body)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(res.body, &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"identity", "session", "continue_with"} {
			if _, ok := m[k]; !ok {
				t.Errorf("answer has no %q: %s", k, res.body)
			}
		}
		if tok, ok := m["session_token"]; ok && string(tok) != "null" && string(tok) != `""` {
			t.Errorf("a browser answer must not hand out a session token: %s", res.body)
		}
		c := setCookie(res, "ory_kratos_session")
		if c == nil {
			t.Fatalf("no session cookie: %v", res.header.Values("Set-Cookie"))
		}
		if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure || c.Path != "/" {
			t.Errorf("session cookie %q, want HttpOnly, SameSite=Lax, Path=/ and no Secure in dev mode", c.Raw)
		}
		if c.MaxAge <= 0 && c.Expires.IsZero() {
			t.Errorf("session cookie %q is not persistent; session.cookie.persistent defaults to true", c.Raw)
		}
		ok := decodeSuccess(t, res.body)
		sess, res2, err := b.sdk.FrontendAPI.ToSession(context.Background()).Execute()
		requireOK(t, res2, err, http.StatusOK)
		if ok.Session == nil || sess.Id != ok.Session.Id {
			t.Errorf("whoami by cookie = session %s, want the registration's %s", sess.Id, asJSON(ok.Session))
		}
	})
}

func TestSelfserviceRegistration_BrowserFormRedirectsToReturnURL(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, nil)
		for _, tc := range []struct {
			name, returnTo, want string
		}{
			{"default", "", defaultReturn},
			{"return_to", appURL + "/welcome?x=1", appURL + "/welcome?x=1"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				b := newBrowser(t, s)
				init := s.PublicURL + "/self-service/registration/browser"
				if tc.returnTo != "" {
					init += "?return_to=" + url.QueryEscape(tc.returnTo)
				}
				flowID := redirectTarget(t, b.do(t, http.MethodGet, init, nil, nil)).Query().Get("flow")
				got := b.do(t, http.MethodGet, s.PublicURL+"/self-service/registration/flows?id="+flowID, nil, jsonAccept)
				f := decodeFlow(t, "registration", got.body)
				if f.ReturnTo != tc.returnTo {
					t.Errorf("flow return_to = %q, want %q", f.ReturnTo, tc.returnTo)
				}
				res := b.do(t, http.MethodPost, s.submitURL("registration", f.ID), url.Values{
					"csrf_token": {f.csrf(t)}, "method": {"password"}, "password": {testPassword},
					"traits.email": {uniqueEmail("form-" + tc.name)},
				}, nil)
				if loc := redirectTarget(t, res); loc.String() != tc.want {
					t.Errorf("Location = %s, want %s", loc, tc.want)
				}
				if b.cookie("ory_kratos_session") == nil {
					t.Errorf("no session cookie: %v", res.header.Values("Set-Cookie"))
				}
			})
		}
	})
}

func TestSelfserviceRegistration_DuplicateEmailAnyCase(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, nil)
		s.registerNative(t, "taken@example.org")

		f := s.nativeFlow(t, "registration")
		res := sendRequest(t, plain(s), http.MethodPost, s.submitURL("registration", f.ID), map[string]any{
			"method": "password", "password": testPassword, "traits": map[string]any{"email": "TAKEN@Example.ORG"},
		}, nil)
		if res.status != http.StatusBadRequest {
			t.Fatalf("status %d, want 400 with the flow: %s", res.status, res.body)
		}
		requireFlowMessage(t, decodeFlow(t, "registration", res.body), 4000007)

		// Same answer for a browser.
		b := newBrowser(t, s)
		bf, _ := b.browserFlow(t, "registration", nil)
		res = b.do(t, http.MethodPost, s.submitURL("registration", bf.ID), map[string]any{
			"csrf_token": bf.csrf(t), "method": "password", "password": testPassword,
			"traits": map[string]any{"email": "taken@example.org"},
		}, nil)
		if res.status != http.StatusBadRequest {
			t.Fatalf("browser: status %d, want 400 with the flow: %s", res.status, res.body)
		}
		requireFlowMessage(t, decodeFlow(t, "registration", res.body), 4000007)
		if c := setCookie(res, "ory_kratos_session"); c != nil {
			t.Errorf("a failed registration set a session cookie: %q", c.Raw)
		}
		s.requireCount(t, 1, "after duplicate registrations")
	})
}

func TestSelfserviceRegistration_PasswordPolicy(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, nil)
		// submit posts the password, after the profile step when twoStep.
		submit := func(t *testing.T, twoStep bool, email, password string) flowView {
			t.Helper()
			f := s.nativeFlow(t, "registration")
			if twoStep {
				res := sendRequest(t, plain(s), http.MethodPost, s.submitURL("registration", f.ID),
					map[string]any{"method": "profile", "traits": map[string]any{"email": email}}, nil)
				if res.status != http.StatusBadRequest {
					t.Fatalf("profile step: status %d: %s", res.status, res.body)
				}
			}
			res := sendRequest(t, plain(s), http.MethodPost, s.submitURL("registration", f.ID), map[string]any{
				"method": "password", "password": password, "traits": map[string]any{"email": email},
			}, nil)
			if res.status != http.StatusBadRequest {
				t.Fatalf("password %q: status %d, want 400: %s", password, res.status, res.body)
			}
			out := decodeFlow(t, "registration", res.body)
			if n, ok := out.find("password"); ok {
				if v, ok := n.Attributes["value"]; ok && v != "" {
					t.Errorf("the password node echoes the submitted password: %v", v)
				}
			}
			if n := out.node(t, "traits.email"); n.value() != email {
				t.Errorf("traits.email value = %v, want the submitted email back", n.value())
			}
			return out
		}

		for _, tc := range []struct {
			name    string
			twoStep bool
		}{{"two-step", true}, {"one-shot", false}} {
			t.Run(tc.name, func(t *testing.T) {
				f := submit(t, tc.twoStep, uniqueEmail("short"), "abc12")
				m := requireNodeMessage(t, f, "password", 4000032)
				if m.ID != 0 {
					if !sameJSON(m.Context, map[string]any{"min_length": 8, "actual_length": 5}) {
						t.Errorf("4000032 context = %s, want {min_length: 8, actual_length: 5}", asJSON(m.Context))
					}
					if m.Type != "error" {
						t.Errorf("4000032 type = %q, want error", m.Type)
					}
				}
				email := uniqueEmail("jane.doe.similar")
				requireNodeMessage(t, submit(t, tc.twoStep, email, email), "password", 4000031)
			})
		}
		s.requireCount(t, 0, "after rejected passwords")
	})
}

func TestSelfserviceRegistration_InvalidTraits(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, nil)
		for _, tc := range []struct {
			name   string
			traits map[string]any
			node   string
			id     int64
		}{
			{"missing email", map[string]any{"name": map[string]any{"first": "Ada"}}, "traits.email", 4000002},
			{"invalid email", map[string]any{"email": "not-an-email"}, "traits.email", 4000040},
		} {
			f := s.nativeFlow(t, "registration")
			res := sendRequest(t, plain(s), http.MethodPost, s.submitURL("registration", f.ID), map[string]any{
				"method": "password", "password": testPassword, "traits": tc.traits,
			}, nil)
			if res.status != http.StatusBadRequest {
				t.Fatalf("%s: status %d, want 400 with the flow: %s", tc.name, res.status, res.body)
			}
			requireNodeMessage(t, decodeFlow(t, "registration", res.body), tc.node, tc.id)
		}

		// The profile step validates the same way.
		f := s.nativeFlow(t, "registration")
		res := sendRequest(t, plain(s), http.MethodPost, s.submitURL("registration", f.ID),
			map[string]any{"method": "profile", "traits": map[string]any{"email": "still-not-an-email"}}, nil)
		if res.status != http.StatusBadRequest {
			t.Fatalf("profile step: status %d, want 400: %s", res.status, res.body)
		}
		step := decodeFlow(t, "registration", res.body)
		requireNodeMessage(t, step, "traits.email", 4000040)
		if _, ok := step.find("password"); ok {
			t.Errorf("invalid traits must not advance to the password step: %s", asJSON(step.UI.Nodes))
		}
		s.requireCount(t, 0, "after invalid traits")
	})
}

func TestSelfserviceRegistration_DisabledRefusesFlows(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, map[string]any{"selfservice.flows.registration.enabled": false})
		_, res, err := s.Public.FrontendAPI.CreateNativeRegistrationFlow(context.Background()).Execute()
		status, body := sdkFailure(t, res, err)
		if e := requireError(t, status, body, http.StatusBadRequest); e.Error.ID != "self_service_flow_disabled" {
			t.Errorf("api init: error.id = %q, want self_service_flow_disabled", e.Error.ID)
		}
		b := newBrowser(t, s)
		raw := b.do(t, http.MethodGet, s.PublicURL+"/self-service/registration/browser", nil, jsonAccept)
		if e := requireError(t, raw.status, raw.body, http.StatusBadRequest); e.Error.ID != "self_service_flow_disabled" {
			t.Errorf("browser init: error.id = %q, want self_service_flow_disabled", e.Error.ID)
		}
		// Login stays available.
		s.nativeFlow(t, "login")
		s.requireCount(t, 0, "with registration disabled")
	})
}

func TestSelfserviceRegistration_ConcurrentSameEmailCreatesOne(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, nil)
		const n = 10
		flows := make([]string, n)
		for i := range flows {
			flows[i] = s.nativeFlow(t, "registration").ID
		}
		type outcome struct {
			status int
			body   []byte
			err    error
		}
		results := make([]outcome, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range flows {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				email := "Race@Example.org"
				if i%2 == 1 {
					email = "race@example.org"
				}
				body := asJSON(map[string]any{"method": "password", "password": testPassword, "traits": map[string]any{"email": email}})
				<-start
				res, err := s.HTTP.Post(s.submitURL("registration", flows[i]), "application/json", strings.NewReader(body))
				if err != nil {
					results[i] = outcome{err: err}
					return
				}
				defer res.Body.Close()
				data, err := io.ReadAll(res.Body)
				results[i] = outcome{status: res.StatusCode, body: data, err: err}
			}(i)
		}
		close(start)
		wg.Wait()

		created := 0
		for i, r := range results {
			switch {
			case r.err != nil:
				t.Errorf("request %d: %v", i, r.err)
			case r.status == http.StatusOK:
				created++
			case r.status == http.StatusBadRequest:
				var f flowView
				if err := json.Unmarshal(r.body, &f); err != nil || !hasMessage(f.UI.Messages, 4000007) {
					t.Errorf("request %d: 400 without message 4000007: %s", i, r.body)
				}
			default:
				t.Errorf("request %d: status %d, want 200 or 400: %s", i, r.status, r.body)
			}
		}
		if created != 1 {
			t.Errorf("%d registrations succeeded, want exactly 1", created)
		}
		s.requireCount(t, 1, "after the registration race")
	})
}
