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
	"github.com/pquerna/otp/totp"
)

// TOTP end to end: an authenticator app set up in settings, the second
// factor of a login, replay, and removal, through the official SDK.

// totpConfig turns the method on; free_failures keeps the wrong codes of
// these tests from being delayed.
var totpConfig = map[string]any{
	"selfservice.methods.totp.enabled":       true,
	"selfservice.methods.totp.config.issuer": "Lanyard Conformance",
	"protection.attempts.free_failures":      100,
}

// totpCode is the app's code for secret at.
func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// totpSecretOf reads the key a settings flow shows, checking the nodes
// that show it as the SDK decodes them.
func totpSecretOf(t *testing.T, f *ory.SettingsFlow) string {
	t.Helper()
	var secret string
	var qr, code, submit bool
	for _, n := range f.Ui.Nodes {
		a := n.Attributes
		switch {
		case a.UiNodeImageAttributes != nil && a.UiNodeImageAttributes.Id == "totp_qr":
			img := a.UiNodeImageAttributes
			qr = n.Group == "totp" && img.Width == 256 && img.Height == 256 && strings.HasPrefix(img.Src, "data:image/png;base64,") &&
				n.Meta.Label != nil && n.Meta.Label.Id == 1050005
		case a.UiNodeTextAttributes != nil && a.UiNodeTextAttributes.Id == "totp_secret_key":
			txt := a.UiNodeTextAttributes.Text
			if txt.Id != 1050006 || txt.Context["secret"] != txt.Text || n.Meta.Label == nil || n.Meta.Label.Id != 1050017 {
				t.Errorf("secret node %s", asJSON(n))
			}
			secret = txt.Text
		case a.UiNodeInputAttributes != nil && a.UiNodeInputAttributes.Name == "totp_code":
			code = n.Group == "totp" && a.UiNodeInputAttributes.Type == "text" && a.UiNodeInputAttributes.GetRequired()
		case a.UiNodeInputAttributes != nil && a.UiNodeInputAttributes.Name == "method" && a.UiNodeInputAttributes.Value == "totp":
			submit = n.Group == "totp" && a.UiNodeInputAttributes.Type == "submit"
		}
	}
	if secret == "" || !qr || !code || !submit {
		t.Fatalf("settings flow without the TOTP setup nodes (secret %t, qr %t, code %t, submit %t): %s",
			secret != "", qr, code, submit, asJSON(f.Ui.Nodes))
	}
	return secret
}

// totpHasUnlink reports whether a flow offers to remove the app.
func totpHasUnlink(f flowView) bool {
	n, ok := f.find("totp_unlink", "true")
	return ok && n.inputType() == "submit" && n.Group == "totp" && n.Meta.Label != nil && n.Meta.Label.ID == 1050004
}

// totpSettingsSDK submits the TOTP method of a native settings flow.
func totpSettingsSDK(s *Server, flowID, token string, body ory.UpdateSettingsFlowWithTotpMethod) (*ory.SettingsFlow, *http.Response, error) {
	body.Method = "totp"
	return s.Public.FrontendAPI.UpdateSettingsFlow(context.Background()).Flow(flowID).XSessionToken(token).
		UpdateSettingsFlowBody(ory.UpdateSettingsFlowWithTotpMethodAsUpdateSettingsFlowBody(&body)).Execute()
}

// totpLoginSDK submits a code to a native aal2 login flow.
func totpLoginSDK(s *Server, flowID, token, code string) (*ory.SuccessfulNativeLogin, *http.Response, error) {
	body := ory.UpdateLoginFlowWithTotpMethodAsUpdateLoginFlowBody(&ory.UpdateLoginFlowWithTotpMethod{Method: "totp", TotpCode: code})
	return s.Public.FrontendAPI.UpdateLoginFlow(context.Background()).Flow(flowID).XSessionToken(token).UpdateLoginFlowBody(body).Execute()
}

// totpNativeStepUp opens a native aal2 login flow for the session token,
// checking it asks for the app's code.
func totpNativeStepUp(t *testing.T, s *Server, token string) string {
	t.Helper()
	f, res, err := s.Public.FrontendAPI.CreateNativeLoginFlow(context.Background()).Aal("aal2").XSessionToken(token).Execute()
	requireOK(t, res, err, http.StatusOK)
	var code, submit bool
	for _, n := range f.Ui.Nodes {
		if a := n.Attributes.UiNodeInputAttributes; a != nil && n.Group == "totp" {
			code = code || a.Name == "totp_code" && a.Type == "text" && n.Meta.Label != nil && n.Meta.Label.Id == 1010006
			submit = submit || a.Name == "method" && a.Value == "totp" && n.Meta.Label != nil && n.Meta.Label.Id == 1010009
		}
	}
	if !code || !submit {
		t.Fatalf("aal2 login flow without the TOTP nodes: %s", asJSON(f.Ui.Nodes))
	}
	return f.Id
}

// totpMethods lists a session's authentication methods as method/aal.
func totpMethods(s *ory.Session) []string {
	var out []string
	for _, m := range s.AuthenticationMethods {
		out = append(out, m.GetMethod()+"/"+string(m.GetAal()))
	}
	return out
}

// totpRequireCredential checks what the admin API shows of the identity's
// TOTP credential: the key URL decrypted with include_credential=totp.
func totpRequireCredential(t *testing.T, s *Server, identityID, secret string) {
	t.Helper()
	i := s.getIdentity(t, identityID, "totp")
	c, ok := i.GetCredentials()["totp"]
	if !ok {
		t.Fatalf("identity %s has no totp credential: %s", identityID, asJSON(i.Credentials))
	}
	u, _ := c.Config["totp_url"].(string)
	parsed, err := url.Parse(u)
	if err != nil || parsed.Scheme != "otpauth" || parsed.Host != "totp" || parsed.Query().Get("secret") != secret ||
		parsed.Query().Get("issuer") != "Lanyard Conformance" || len(c.Config) != 1 {
		t.Errorf("include_credential=totp config = %s, want {totp_url: otpauth://totp/...secret=%s...}", asJSON(c.Config), secret)
	}
	if len(c.Identifiers) != 1 || c.Identifiers[0] != identityID {
		t.Errorf("totp identifiers = %v, want [%s]", c.Identifiers, identityID)
	}
	if plain := s.getIdentity(t, identityID); plain.GetCredentials()["totp"].Config != nil {
		t.Errorf("without include_credential the totp config is shown: %s", asJSON(plain.Credentials))
	}
}

func TestTOTP_NativeSetupStepUpReplayUnlink(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := stServer(t, store, totpConfig)
		u := stRegister(t, s, "totp-native")

		// Set up: the flow shows a key, keeps it across reads, and a wrong
		// or missing code answers Kratos's messages on totp_code.
		f, res, err := s.Public.FrontendAPI.CreateNativeSettingsFlow(context.Background()).XSessionToken(u.Token).Execute()
		requireOK(t, res, err, http.StatusOK)
		secret := totpSecretOf(t, f)
		again, res, err := s.Public.FrontendAPI.GetSettingsFlow(context.Background()).Id(f.Id).XSessionToken(u.Token).Execute()
		requireOK(t, res, err, http.StatusOK)
		if got := totpSecretOf(t, again); got != secret {
			t.Errorf("reading the flow again shows key %q, first %q", got, secret)
		}

		wrong := totpCode(t, secret, time.Now().Add(10*time.Minute))
		_, res, err = totpSettingsSDK(s, f.Id, u.Token, ory.UpdateSettingsFlowWithTotpMethod{TotpCode: &wrong})
		st, body := sdkFailure(t, res, err)
		if st != http.StatusBadRequest {
			t.Fatalf("wrong code: status %d, want 400: %s", st, body)
		}
		rejected := stDecodeFlow(t, body)
		requireNodeMessage(t, rejected.flowView, "totp_code", 4000008)
		_, res, err = totpSettingsSDK(s, f.Id, u.Token, ory.UpdateSettingsFlowWithTotpMethod{})
		st, body = sdkFailure(t, res, err)
		if st != http.StatusBadRequest {
			t.Fatalf("missing code: status %d, want 400: %s", st, body)
		}
		requireNodeMessage(t, stDecodeFlow(t, body).flowView, "totp_code", 4000002)
		if i := s.getIdentity(t, u.IdentityID); hasTOTPCredential(i) {
			t.Fatalf("a refused code set the app up: %s", asJSON(i.Credentials))
		}

		right := totpCode(t, secret, time.Now())
		_, res, err = totpSettingsSDK(s, f.Id, u.Token, ory.UpdateSettingsFlowWithTotpMethod{TotpCode: &right})
		requireOK(t, res, err, http.StatusOK)
		done := stFlowOf(t, res)
		stRequireSuccess(t, done)
		if !totpHasUnlink(done.flowView) {
			t.Errorf("after setup the flow does not offer to unlink: %s", asJSON(done.UI.Nodes))
		}
		totpRequireCredential(t, s, u.IdentityID, secret)

		// Setting the app up proved it: the session is aal2 now.
		status, sess, whoami := s.whoami(t, plain(s), tokenHeader(u.Token))
		if status != http.StatusOK || sess.GetAuthenticatorAssuranceLevel() != ory.AUTHENTICATORASSURANCELEVEL_AAL2 {
			t.Fatalf("whoami after setup: %d %s", status, whoami.body)
		}
		if got := totpMethods(sess); len(got) != 2 || got[1] != "totp/aal2" {
			t.Errorf("authentication methods after setup = %v, want [password/aal1 totp/aal2]", got)
		}

		// A password sign-in is aal1 now, short of the identity's aal2.
		other := stLogin(t, s, u.Email, testPassword, nil)
		status, _, whoami = s.whoami(t, plain(s), tokenHeader(other.Token))
		if e := requireError(t, status, whoami.body, http.StatusForbidden); e.Error.ID != "session_aal2_required" {
			t.Errorf("whoami of the aal1 session: error id %q, want session_aal2_required", e.Error.ID)
		}
		// So does the settings flow (selfservice.flows.settings.required_aal).
		_, res, err = s.Public.FrontendAPI.CreateNativeSettingsFlow(context.Background()).XSessionToken(other.Token).Execute()
		st, body = sdkFailure(t, res, err)
		if e := requireError(t, st, body, http.StatusForbidden); e.Error.ID != "session_aal2_required" || e.Error.Details["redirect_browser_to"] == nil {
			t.Errorf("settings of the aal1 session: %s, want session_aal2_required with redirect_browser_to", body)
		}

		// Step up with the app: a wrong code is a flow-level 4000008.
		loginID := totpNativeStepUp(t, s, other.Token)
		_, res, err = totpLoginSDK(s, loginID, other.Token, wrong)
		st, body = sdkFailure(t, res, err)
		if st != http.StatusBadRequest {
			t.Fatalf("wrong login code: status %d, want 400: %s", st, body)
		}
		requireFlowMessage(t, decodeFlow(t, "login", body), 4000008)

		// The next step's code (in the skew): the same session becomes aal2.
		code := totpCode(t, secret, time.Now().Add(30*time.Second))
		ok, res, err := totpLoginSDK(s, loginID, other.Token, code)
		requireOK(t, res, err, http.StatusOK)
		if ok.Session.Id != other.SessionID || ok.GetSessionToken() != other.Token {
			t.Errorf("step-up answered session %s token %t; want the same session %s and its token", ok.Session.Id, ok.GetSessionToken() == other.Token, other.SessionID)
		}
		if ok.Session.GetAuthenticatorAssuranceLevel() != ory.AUTHENTICATORASSURANCELEVEL_AAL2 {
			t.Errorf("session aal after step-up = %s, want aal2", ok.Session.GetAuthenticatorAssuranceLevel())
		}
		if got := totpMethods(&ok.Session); len(got) != 2 || got[0] != "password/aal1" || got[1] != "totp/aal2" {
			t.Errorf("authentication methods after step-up = %v, want [password/aal1 totp/aal2]", got)
		}
		if status, sess, whoami := s.whoami(t, plain(s), tokenHeader(other.Token)); status != http.StatusOK || sess.Id != other.SessionID {
			t.Errorf("whoami after step-up: %d %s", status, whoami.body)
		}

		// The same code again, on another session: refused as wrong.
		third := stLogin(t, s, u.Email, testPassword, nil)
		replayID := totpNativeStepUp(t, s, third.Token)
		_, res, err = totpLoginSDK(s, replayID, third.Token, code)
		st, body = sdkFailure(t, res, err)
		if st != http.StatusBadRequest {
			t.Fatalf("replayed code: status %d, want 400: %s", st, body)
		}
		requireFlowMessage(t, decodeFlow(t, "login", body), 4000008)
		if status, _, _ := s.whoami(t, plain(s), tokenHeader(third.Token)); status != http.StatusForbidden {
			t.Errorf("a replayed code stepped the session up: whoami %d", status)
		}

		// Unlink from the aal2 session: the credential goes, the form
		// offers a new key, and aal1 sessions suffice again.
		uf, res, err := s.Public.FrontendAPI.CreateNativeSettingsFlow(context.Background()).XSessionToken(u.Token).Execute()
		requireOK(t, res, err, http.StatusOK)
		if !totpHasUnlink(stFlowOf(t, res).flowView) {
			t.Fatalf("settings with the app set up do not offer to unlink")
		}
		unlink := true
		_, res, err = totpSettingsSDK(s, uf.Id, u.Token, ory.UpdateSettingsFlowWithTotpMethod{TotpUnlink: &unlink})
		requireOK(t, res, err, http.StatusOK)
		unlinked := stFlowOf(t, res)
		stRequireSuccess(t, unlinked)
		if totpHasUnlink(unlinked.flowView) {
			t.Errorf("after unlinking the flow still offers to unlink")
		}
		if _, ok := unlinked.find("totp_code"); !ok {
			t.Errorf("after unlinking the flow offers no new setup: %s", asJSON(unlinked.UI.Nodes))
		}
		if i := s.getIdentity(t, u.IdentityID, "totp"); hasTOTPCredential(i) {
			t.Errorf("after unlinking the identity still has %s", asJSON(i.Credentials))
		}
		if status, _, whoami := s.whoami(t, plain(s), tokenHeader(third.Token)); status != http.StatusOK {
			t.Errorf("whoami of an aal1 session after unlinking: %d %s", status, whoami.body)
		}
	})
}

// totpBrowserSecret reads the key of a browser settings flow from its raw
// nodes.
func totpBrowserSecret(t *testing.T, f stFlow) string {
	t.Helper()
	for _, n := range f.UI.Nodes {
		if id, _ := n.Attributes["id"].(string); id == "totp_secret_key" {
			var txt uiText
			raw, _ := json.Marshal(n.Attributes["text"])
			if json.Unmarshal(raw, &txt) == nil && txt.Text != "" {
				return txt.Text
			}
		}
	}
	t.Fatalf("browser settings flow shows no TOTP key: %s", asJSON(f.UI.Nodes))
	return ""
}

// totpBrowserPasswordLogin signs email in with the password in a new
// browser. The identity has an app, so the session (cookie set) is short
// of its aal2: the JSON answer is 422 pointing at the aal2 login, as
// Kratos answers.
func totpBrowserPasswordLogin(t *testing.T, s *Server, email, password string) *browser {
	t.Helper()
	b, res := browserPasswordLogin(t, s, email, password)
	requireSentToAAL2(t, b, res, "browser password login with an app set up")
	return b
}

func TestTOTP_BrowserSetupStepUpReplayUnlink(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		set := map[string]any{"secrets.cipher": []any{"conformance-cipher-secret-32byte"}, "ciphers.algorithm": "aes"}
		for k, v := range totpConfig {
			set[k] = v
		}
		s := stServer(t, store, set)
		email := uniqueEmail("totp-browser")
		reg := s.registerNative(t, email)
		b := stBrowserLogin(t, s, email, testPassword)

		f := stBrowserSettings(t, b, nil)
		secret := totpBrowserSecret(t, f)
		res := b.do(t, http.MethodPost, s.submitURL("settings", f.ID), map[string]any{
			"method": "totp", "totp_code": totpCode(t, secret, time.Now().Add(10*time.Minute)), "csrf_token": f.csrf(t),
		}, nil)
		if res.status != http.StatusBadRequest {
			t.Fatalf("wrong code: status %d, want 400: %s", res.status, res.body)
		}
		requireNodeMessage(t, stDecodeFlow(t, res.body).flowView, "totp_code", 4000008)
		res = b.do(t, http.MethodPost, s.submitURL("settings", f.ID), map[string]any{
			"method": "totp", "totp_code": totpCode(t, secret, time.Now()), "csrf_token": f.csrf(t),
		}, nil)
		if res.status != http.StatusOK {
			t.Fatalf("setup: status %d, want 200: %s", res.status, res.body)
		}
		stRequireSuccess(t, stDecodeFlow(t, res.body))
		totpRequireCredential(t, s, reg.Identity.Id, secret)

		// Another browser signs in with the password and steps up.
		b2 := totpBrowserPasswordLogin(t, s, email, testPassword)
		lf, _ := b2.browserFlow(t, "login", url.Values{"aal": {"aal2"}})
		lf.node(t, "totp_code")
		code := totpCode(t, secret, time.Now().Add(30*time.Second))
		res = b2.do(t, http.MethodPost, s.submitURL("login", lf.ID), map[string]any{
			"method": "totp", "totp_code": code, "csrf_token": lf.csrf(t),
		}, nil)
		if res.status != http.StatusOK {
			t.Fatalf("browser step-up: status %d, want 200: %s", res.status, res.body)
		}
		var ok struct {
			Session ory.Session `json:"session"`
		}
		if err := json.Unmarshal(res.body, &ok); err != nil {
			t.Fatal(err)
		}
		if ok.Session.GetAuthenticatorAssuranceLevel() != ory.AUTHENTICATORASSURANCELEVEL_AAL2 {
			t.Errorf("browser step-up: session %s", res.body)
		}
		if got := totpMethods(&ok.Session); len(got) != 2 || got[1] != "totp/aal2" {
			t.Errorf("browser step-up: methods %v", got)
		}
		status, sess, whoami := s.whoami(t, b2.http, nil)
		if status != http.StatusOK || sess.Id != ok.Session.Id {
			t.Errorf("whoami of the stepped-up browser: %d %s (step-up answered session %s)", status, whoami.body, ok.Session.Id)
		}

		// Replayed in a third browser: refused.
		b3 := totpBrowserPasswordLogin(t, s, email, testPassword)
		rf, _ := b3.browserFlow(t, "login", url.Values{"aal": {"aal2"}})
		res = b3.do(t, http.MethodPost, s.submitURL("login", rf.ID), map[string]any{
			"method": "totp", "totp_code": code, "csrf_token": rf.csrf(t),
		}, nil)
		if res.status != http.StatusBadRequest {
			t.Fatalf("replayed code: status %d, want 400: %s", res.status, res.body)
		}
		requireFlowMessage(t, decodeFlow(t, "login", res.body), 4000008)

		// Unlink with a plain form post: 303 back to the settings UI.
		uf := stBrowserSettings(t, b, nil)
		res = b.do(t, http.MethodPost, s.submitURL("settings", uf.ID), url.Values{
			"method": {"totp"}, "totp_unlink": {"true"}, "csrf_token": {uf.csrf(t)},
		}, nil)
		if res.status != http.StatusSeeOther || !strings.HasPrefix(res.header.Get("Location"), stSettingsUI) {
			t.Fatalf("form unlink: status %d location %q, want 303 to the settings UI: %s", res.status, res.header.Get("Location"), res.body)
		}
		if i := s.getIdentity(t, reg.Identity.Id, "totp"); hasTOTPCredential(i) {
			t.Errorf("after unlinking the identity still has %s", asJSON(i.Credentials))
		}
	})
}

func hasTOTPCredential(i *ory.Identity) bool {
	_, ok := i.GetCredentials()["totp"]
	return ok
}
