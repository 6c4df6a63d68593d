package conformance

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	ory "github.com/ory/client-go"
)

func TestSelfserviceLogin_FlowRendersPasswordNodes(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, nil)
		b := newBrowser(t, s)
		browserFlow, _ := b.browserFlow(t, "login", nil)
		for _, f := range []flowView{s.nativeFlow(t, "login"), browserFlow} {
			t.Run(f.Type, func(t *testing.T) {
				if f.Refresh {
					t.Errorf("refresh = true, want false")
				}
				if f.State != "choose_method" {
					t.Errorf("state = %v, want choose_method", f.State)
				}
				if want := s.submitURL("login", f.ID); f.UI.Action != want {
					t.Errorf("ui.action = %q, want %q", f.UI.Action, want)
				}
				if n := f.node(t, "csrf_token"); n.Group != "default" || n.inputType() != "hidden" {
					t.Errorf("csrf_token node = %s", asJSON(n))
				}
				id := f.node(t, "identifier")
				if id.Group != "default" || id.Attributes["required"] != true || id.Meta.Label == nil {
					t.Errorf("identifier node = %s, want a required, labelled input in group default", asJSON(id))
				}
				pw := f.node(t, "password")
				if pw.Group != "password" || pw.inputType() != "password" || pw.Attributes["required"] != true {
					t.Errorf("password node = %s, want a required password input in group password", asJSON(pw))
				}
				if pw.Attributes["autocomplete"] != "current-password" {
					t.Errorf("password autocomplete = %v, want current-password", pw.Attributes["autocomplete"])
				}
				submit := f.node(t, "method", "password")
				if submit.Group != "password" || submit.inputType() != "submit" {
					t.Errorf("method=password node = %s, want a submit in group password", asJSON(submit))
				}
				if submit.Meta.Label == nil || submit.Meta.Label.ID != 1010022 {
					t.Errorf("method=password label = %s, want message 1010022", asJSON(submit.Meta.Label))
				}
			})
		}
		if v := browserFlow.csrf(t); v == "" {
			t.Error("a browser login flow must carry a CSRF token")
		}

		// Plain navigation goes to the login UI.
		res := newBrowser(t, s).do(t, http.MethodGet, s.PublicURL+"/self-service/login/browser", nil, nil)
		if loc := redirectTarget(t, res); withoutQuery(loc) != loginUI || loc.Query().Get("flow") == "" {
			t.Errorf("Location = %s, want %s?flow=<id>", loc, loginUI)
		}
		// The browser flow is private to the browser holding the cookie.
		_, res2, err := s.Public.FrontendAPI.GetLoginFlow(context.Background()).Id(browserFlow.ID).Execute()
		status, body := sdkFailure(t, res2, err)
		if e := requireError(t, status, body, http.StatusForbidden); e.Error.ID != "security_csrf_violation" {
			t.Errorf("error.id = %q, want security_csrf_violation", e.Error.ID)
		}
		got, res2, err := b.sdk.FrontendAPI.GetLoginFlow(context.Background()).Id(browserFlow.ID).Execute()
		requireOK(t, res2, err, http.StatusOK)
		if got.Id != browserFlow.ID {
			t.Errorf("GET answered flow %s, want %s", got.Id, browserFlow.ID)
		}
	})
}

func TestSelfserviceLogin_NativeIssuesSessionToken(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, nil)
		ctx := context.Background()
		created := s.createIdentity(t, withPassword(identityBody("native-login@example.org"), testPassword))

		login := func() *ory.SuccessfulNativeLogin {
			flow, res, err := s.Public.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
			requireOK(t, res, err, http.StatusOK)
			body := ory.UpdateLoginFlowWithPasswordMethodAsUpdateLoginFlowBody(&ory.UpdateLoginFlowWithPasswordMethod{
				Method: "password", Identifier: "native-login@example.org", Password: testPassword,
			})
			out, res, err := s.Public.FrontendAPI.UpdateLoginFlow(ctx).Flow(flow.Id).UpdateLoginFlowBody(body).Execute()
			requireOK(t, res, err, http.StatusOK)
			return out
		}
		before := time.Now().Add(-2 * time.Second)
		first := login()
		if first.SessionToken == nil || !sessionTokenFormat.MatchString(*first.SessionToken) {
			t.Fatalf("session_token = %v, want ory_st_ + 32 alphanumerics", first.SessionToken)
		}
		sess := first.Session
		if sess.Identity == nil || sess.Identity.Id != created.Id {
			t.Errorf("session identity = %s, want %s", asJSON(sess.Identity), created.Id)
		}
		if sess.AuthenticatedAt == nil || sess.AuthenticatedAt.Before(before) {
			t.Errorf("authenticated_at = %v, want about now", sess.AuthenticatedAt)
		}
		if sess.ExpiresAt == nil || sess.ExpiresAt.Sub(*sess.AuthenticatedAt) < 23*time.Hour || sess.ExpiresAt.Sub(*sess.AuthenticatedAt) > 25*time.Hour {
			t.Errorf("expires_at = %v, want authenticated_at + the default lifespan 24h", sess.ExpiresAt)
		}
		if len(sess.AuthenticationMethods) != 1 || sess.AuthenticationMethods[0].GetMethod() != "password" {
			t.Errorf("authentication_methods = %s, want one password entry", asJSON(sess.AuthenticationMethods))
		}

		second := login()
		if *second.SessionToken == *first.SessionToken || second.Session.Id == first.Session.Id {
			t.Errorf("two logins share a session or token: %s and %s", first.Session.Id, second.Session.Id)
		}
		for _, token := range []string{*first.SessionToken, *second.SessionToken} {
			got, res, err := s.Public.FrontendAPI.ToSession(ctx).XSessionToken(token).Execute()
			requireOK(t, res, err, http.StatusOK)
			if got.Identity == nil || got.Identity.Id != created.Id {
				t.Errorf("whoami identity = %s, want %s", asJSON(got.Identity), created.Id)
			}
		}
	})
}

// normalizedFlow drops what legitimately differs between two answers of
// different flows: ids, timestamps, the action URL, the submitted
// identifier and the CSRF value.
func normalizedFlow(t *testing.T, body []byte, identifier string) map[string]any {
	t.Helper()
	text := strings.ReplaceAll(string(body), identifier, "<identifier>")
	var m map[string]any
	if err := json.Unmarshal([]byte(text), &m); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	for _, k := range []string{"id", "expires_at", "issued_at", "created_at", "updated_at"} {
		delete(m, k)
	}
	if ui, ok := m["ui"].(map[string]any); ok {
		delete(ui, "action")
	}
	return m
}

func TestSelfserviceLogin_WrongPasswordAndUnknownIdentifierLookAlike(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, nil)
		s.createIdentity(t, withPassword(identityBody("known@example.org"), testPassword))

		wrong := s.loginNative(t, "known@example.org", "not-the-Password-9")
		unknown := s.loginNative(t, "nobody@example.org", "not-the-Password-9")
		for name, res := range map[string]response{"wrong password": wrong, "unknown identifier": unknown} {
			if res.status != http.StatusBadRequest {
				t.Fatalf("%s: status %d, want 400 with the flow: %s", name, res.status, res.body)
			}
			f := decodeFlow(t, "login", res.body)
			if ids := messageIDs(f.UI.Messages); len(ids) != 1 || ids[0] != 4000006 {
				t.Errorf("%s: ui.messages ids = %v, want exactly [4000006]", name, ids)
			}
			if v := f.node(t, "password").value(); v != nil && v != "" {
				t.Errorf("%s: the password node echoes the password: %v", name, v)
			}
			if v := f.node(t, "identifier").value(); v == nil {
				t.Errorf("%s: the identifier node lost the submitted identifier", name)
			}
			if strings.Contains(string(res.body), "not-the-Password-9") {
				t.Errorf("%s: the answer contains the submitted password: %s", name, res.body)
			}
		}
		a := normalizedFlow(t, wrong.body, "known@example.org")
		b := normalizedFlow(t, unknown.body, "nobody@example.org")
		if !sameJSON(a, b) {
			t.Errorf("the answers tell a wrong password from an unknown account:\nwrong password:     %s\nunknown identifier: %s", asJSON(a), asJSON(b))
		}

		// Missing fields are reported on their nodes.
		f := s.nativeFlow(t, "login")
		res := sendRequest(t, plain(s), http.MethodPost, s.submitURL("login", f.ID),
			map[string]any{"method": "password", "identifier": "", "password": ""}, nil)
		if res.status != http.StatusBadRequest {
			t.Fatalf("empty submission: status %d, want 400: %s", res.status, res.body)
		}
		empty := decodeFlow(t, "login", res.body)
		requireNodeMessage(t, empty, "identifier", 4000002)
		requireNodeMessage(t, empty, "password", 4000002)
	})
}

func TestSelfserviceLogin_IdentifierIsCaseInsensitive(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, nil)
		created := s.createIdentity(t, withPassword(identityBody("Mixed.Case@Example.org"), testPassword))
		for _, id := range []string{"Mixed.Case@Example.org", "mixed.case@example.org", "MIXED.CASE@EXAMPLE.ORG"} {
			res := s.loginNative(t, id, testPassword)
			if res.status != http.StatusOK {
				t.Errorf("login as %q: status %d, want 200: %s", id, res.status, res.body)
				continue
			}
			if ok := decodeSuccess(t, res.body); ok.Session == nil || ok.Session.Identity == nil || ok.Session.Identity.Id != created.Id {
				t.Errorf("login as %q gave session %s, want identity %s", id, asJSON(ok.Session), created.Id)
			}
		}
		// The password itself stays case-sensitive.
		if res := s.loginNative(t, "mixed.case@example.org", strings.ToUpper(testPassword)); res.status != http.StatusBadRequest {
			t.Errorf("upper-cased password: status %d, want 400: %s", res.status, res.body)
		}
	})
}

func TestSelfserviceLogin_BrowserJSONAndFormSetCookie(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		const afterLogin = appURL + "/after-login"
		s := selfserviceServer(t, store, map[string]any{"selfservice.flows.login.after.default_browser_return_url": afterLogin})
		created := s.createIdentity(t, withPassword(identityBody("browser-login@example.org"), testPassword))

		t.Run("json", func(t *testing.T) {
			b := newBrowser(t, s)
			f, _ := b.browserFlow(t, "login", nil)
			res := b.do(t, http.MethodPost, s.submitURL("login", f.ID), map[string]any{
				"csrf_token": f.csrf(t), "method": "password",
				"identifier": "browser-login@example.org", "password": testPassword,
			}, nil)
			if res.status != http.StatusOK {
				t.Fatalf("status %d, want 200: %s", res.status, res.body)
			}
			var m map[string]json.RawMessage
			_ = json.Unmarshal(res.body, &m)
			if _, ok := m["session"]; !ok {
				t.Errorf("no session in the answer: %s", res.body)
			}
			if tok, ok := m["session_token"]; ok && string(tok) != "null" && string(tok) != `""` {
				t.Errorf("a browser login must not hand out a session token: %s", res.body)
			}
			c := setCookie(res, "ory_kratos_session")
			if c == nil {
				t.Fatalf("no session cookie: %v", res.header.Values("Set-Cookie"))
			}
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure {
				t.Errorf("session cookie %q, want HttpOnly, SameSite=Lax, no Secure in dev mode", c.Raw)
			}
			sess, res2, err := b.sdk.FrontendAPI.ToSession(context.Background()).Execute()
			requireOK(t, res2, err, http.StatusOK)
			if sess.Identity == nil || sess.Identity.Id != created.Id {
				t.Errorf("whoami identity = %s, want %s", asJSON(sess.Identity), created.Id)
			}
		})

		for _, tc := range []struct{ name, returnTo, want string }{
			{"form", "", afterLogin},
			{"form return_to", appURL + "/deep/link", appURL + "/deep/link"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				b := newBrowser(t, s)
				q := url.Values{}
				if tc.returnTo != "" {
					q.Set("return_to", tc.returnTo)
				}
				f, _ := b.browserFlow(t, "login", q)
				res := b.do(t, http.MethodPost, s.submitURL("login", f.ID), url.Values{
					"csrf_token": {f.csrf(t)}, "method": {"password"},
					"identifier": {"browser-login@example.org"}, "password": {testPassword},
				}, nil)
				if loc := redirectTarget(t, res); loc.String() != tc.want {
					t.Errorf("Location = %s, want %s", loc, tc.want)
				}
				if setCookie(res, "ory_kratos_session") == nil {
					t.Fatalf("no session cookie: %v", res.header.Values("Set-Cookie"))
				}
				if status, _, who := s.whoami(t, b.http, nil); status != http.StatusOK {
					t.Errorf("whoami by cookie: %d %s", status, who.body)
				}
			})
		}

		t.Run("form wrong password", func(t *testing.T) {
			b := newBrowser(t, s)
			f, _ := b.browserFlow(t, "login", nil)
			res := b.do(t, http.MethodPost, s.submitURL("login", f.ID), url.Values{
				"csrf_token": {f.csrf(t)}, "method": {"password"},
				"identifier": {"browser-login@example.org"}, "password": {"wrong-Password-0"},
			}, nil)
			loc := redirectTarget(t, res)
			if withoutQuery(loc) != loginUI || loc.Query().Get("flow") != f.ID {
				t.Errorf("Location = %s, want back to %s?flow=%s", loc, loginUI, f.ID)
			}
			if setCookie(res, "ory_kratos_session") != nil {
				t.Errorf("a failed login set a session cookie")
			}
			got := b.do(t, http.MethodGet, s.PublicURL+"/self-service/login/flows?id="+f.ID, nil, jsonAccept)
			requireFlowMessage(t, decodeFlow(t, "login", got.body), 4000006)
		})
	})
}

func TestSelfserviceLogin_ExistingSessionIsNotLoggedInAgain(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, nil)
		ctx := context.Background()
		reg := s.registerNative(t, "already@example.org")

		_, res, err := s.Public.FrontendAPI.CreateNativeLoginFlow(ctx).XSessionToken(reg.SessionToken).Execute()
		status, body := sdkFailure(t, res, err)
		if e := requireError(t, status, body, http.StatusBadRequest); e.Error.ID != "session_already_available" {
			t.Errorf("native login init with a session: error.id = %q, want session_already_available", e.Error.ID)
		}
		raw := sendRequest(t, plain(s), http.MethodGet, s.PublicURL+"/self-service/registration/api", nil, tokenHeader(reg.SessionToken))
		if e := requireError(t, raw.status, raw.body, http.StatusBadRequest); e.Error.ID != "session_already_available" {
			t.Errorf("native registration init with a session: error.id = %q, want session_already_available", e.Error.ID)
		}

		b := newBrowser(t, s)
		f, _ := b.browserFlow(t, "login", nil)
		res2 := b.do(t, http.MethodPost, s.submitURL("login", f.ID), map[string]any{
			"csrf_token": f.csrf(t), "method": "password", "identifier": "already@example.org", "password": testPassword,
		}, nil)
		if res2.status != http.StatusOK {
			t.Fatalf("browser login: %d %s", res2.status, res2.body)
		}
		plainInit := b.do(t, http.MethodGet, s.PublicURL+"/self-service/login/browser", nil, nil)
		if loc := redirectTarget(t, plainInit); loc.String() != defaultReturn {
			t.Errorf("browser login init with a session: Location = %s, want %s", loc, defaultReturn)
		}
		for _, kind := range []string{"login", "registration"} {
			jsonInit := b.do(t, http.MethodGet, s.PublicURL+"/self-service/"+kind+"/browser", nil, jsonAccept)
			if e := requireError(t, jsonInit.status, jsonInit.body, http.StatusBadRequest); e.Error.ID != "session_already_available" {
				t.Errorf("AJAX %s init with a session: error.id = %q, want session_already_available", kind, e.Error.ID)
			}
		}
		plainInit = b.do(t, http.MethodGet, s.PublicURL+"/self-service/registration/browser", nil, nil)
		if loc := redirectTarget(t, plainInit); loc.String() != defaultReturn {
			t.Errorf("browser registration init with a session: Location = %s, want %s", loc, defaultReturn)
		}
	})
}

func TestSelfserviceLogin_RefreshKeepsSessionAndMovesAuthenticatedAt(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, nil)
		ctx := context.Background()
		reg := s.registerNative(t, "refresh@example.org")
		b := newBrowser(t, s)
		bf, _ := b.browserFlow(t, "login", nil)
		if res := b.do(t, http.MethodPost, s.submitURL("login", bf.ID), map[string]any{
			"csrf_token": bf.csrf(t), "method": "password", "identifier": "refresh@example.org", "password": testPassword,
		}, nil); res.status != http.StatusOK {
			t.Fatalf("browser login: %d %s", res.status, res.body)
		}
		_, browserBefore, _ := s.whoami(t, b.http, nil)
		// authenticated_at must visibly move, even at second precision.
		time.Sleep(1100 * time.Millisecond)

		t.Run("native", func(t *testing.T) {
			flow, res, err := s.Public.FrontendAPI.CreateNativeLoginFlow(ctx).Refresh(true).XSessionToken(reg.SessionToken).Execute()
			requireOK(t, res, err, http.StatusOK)
			if !flow.GetRefresh() {
				t.Errorf("refresh = false, want true")
			}
			out := sendRequest(t, plain(s), http.MethodPost, s.submitURL("login", flow.Id), map[string]any{
				"method": "password", "identifier": "refresh@example.org", "password": testPassword,
			}, tokenHeader(reg.SessionToken))
			if out.status != http.StatusOK {
				t.Fatalf("refresh login: %d %s", out.status, out.body)
			}
			ok := decodeSuccess(t, out.body)
			if ok.Session == nil || ok.Session.Id != reg.Session.Id {
				t.Errorf("refresh gave session %s, want the same session %s", asJSON(ok.Session), reg.Session.Id)
			}
			// Kratos answers the token of the refreshed session, and apps
			// (the SDK scenario) call whoami with what they got back.
			if ok.SessionToken != reg.SessionToken {
				t.Errorf("refresh answered session_token %q, want the session's token", ok.SessionToken)
			}
			if len(ok.ContinueWith) != 1 || ok.ContinueWith[0].OrySessionToken != reg.SessionToken {
				t.Errorf("refresh continue_with = %s, want set_ory_session_token with the session's token", asJSON(ok.ContinueWith))
			}
			_, sess, _ := s.whoami(t, plain(s), tokenHeader(ok.SessionToken))
			if sess == nil || sess.Id != reg.Session.Id {
				t.Fatalf("the old token no longer names the session: %s", asJSON(sess))
			}
			if !sess.AuthenticatedAt.After(*reg.Session.AuthenticatedAt) {
				t.Errorf("authenticated_at = %v, want after the first login's %v", sess.AuthenticatedAt, reg.Session.AuthenticatedAt)
			}
			// A refresh starts the session afresh, as Kratos's does.
			if !sess.ExpiresAt.After(*reg.Session.ExpiresAt) || !sess.IssuedAt.After(*reg.Session.IssuedAt) {
				t.Errorf("issued_at %v, expires_at %v, want both after the first login's %v, %v", sess.IssuedAt, sess.ExpiresAt, reg.Session.IssuedAt, reg.Session.ExpiresAt)
			}
		})

		t.Run("browser", func(t *testing.T) {
			f, _ := b.browserFlow(t, "login", url.Values{"refresh": {"true"}})
			if !f.Refresh {
				t.Errorf("refresh = false, want true")
			}
			res := b.do(t, http.MethodPost, s.submitURL("login", f.ID), map[string]any{
				"csrf_token": f.csrf(t), "method": "password", "identifier": "refresh@example.org", "password": testPassword,
			}, nil)
			if res.status != http.StatusOK {
				t.Fatalf("refresh login: %d %s", res.status, res.body)
			}
			_, sess, _ := s.whoami(t, b.http, nil)
			if sess == nil || browserBefore == nil || sess.Id != browserBefore.Id {
				t.Fatalf("refresh changed the browser session: before %s, after %s", asJSON(browserBefore), asJSON(sess))
			}
			if !sess.AuthenticatedAt.After(*browserBefore.AuthenticatedAt) {
				t.Errorf("authenticated_at = %v, want after %v", sess.AuthenticatedAt, browserBefore.AuthenticatedAt)
			}
		})
	})
}

func TestSelfserviceLogin_ImportedHashesAreUpgraded(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, nil)
		for algo, hash := range importedHashes {
			t.Run(algo, func(t *testing.T) {
				email := "imported-" + algo + "@example.org"
				created := s.createIdentity(t, withHashedPassword(identityBody(email), hash))

				// A wrong password neither logs in nor touches the hash.
				if res := s.loginNative(t, email, "wrong-Password-0"); res.status != http.StatusBadRequest {
					t.Errorf("wrong password: status %d, want 400: %s", res.status, res.body)
				}
				if got := passwordCredential(t, s, created.Id).hash; got != hash {
					t.Errorf("a failed login changed the stored hash to %.12s...", got)
				}

				res := s.loginNative(t, email, testPassword)
				if res.status != http.StatusOK {
					t.Fatalf("login with the imported %s hash: status %d, want 200: %s", algo, res.status, res.body)
				}
				got := passwordCredential(t, s, created.Id).hash
				if !strings.HasPrefix(got, "$2a$04$") {
					t.Errorf("after login the hash is %.12s..., want it re-hashed with bcrypt cost 4 ($2a$04$)", got)
				}
				if algo != "bcrypt" && got == hash {
					t.Errorf("the %s hash was not upgraded", algo)
				}
				// The upgraded hash still verifies.
				if res := s.loginNative(t, email, testPassword); res.status != http.StatusOK {
					t.Errorf("second login after the upgrade: status %d: %s", res.status, res.body)
				}
			})
		}
	})
}
