package conformance

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	ory "github.com/ory/client-go"
)

// Helpers of the settings and session tests; the st prefix keeps them apart
// from the other test files of this package.

const stSettingsUI = uiBase + "/ui/settings"

// stServer is a selfservice server with a settings UI; set adds or
// overrides keys (a nil value deletes one).
func stServer(t *testing.T, store string, set map[string]any) *Server {
	t.Helper()
	return startServer(t, stSpec(store, set))
}

// stSpec is the serverSpec of stServer.
func stSpec(store string, set map[string]any) serverSpec {
	cfg := map[string]any{"selfservice.flows.settings.ui_url": stSettingsUI}
	for k, v := range set {
		cfg[k] = v
	}
	return selfserviceSpec(store, cfg)
}

// stUser is a signed-in identity seen through one of its sessions.
type stUser struct {
	Email      string
	IdentityID string
	SessionID  string
	Token      string
}

// stRegister signs a fresh identity up natively (session hook on).
func stRegister(t *testing.T, s *Server, prefix string) stUser {
	t.Helper()
	email := uniqueEmail(prefix)
	reg := s.registerNative(t, email)
	if reg.SessionToken == "" || reg.Session == nil || reg.Identity == nil {
		t.Fatalf("registration of %s gave no session: %s", email, asJSON(reg))
	}
	return stUser{Email: email, IdentityID: reg.Identity.Id, SessionID: reg.Session.Id, Token: reg.SessionToken}
}

// stLogin opens another session of the identity by a native login; header
// goes with the submit (e.g. a User-Agent for the device record).
func stLogin(t *testing.T, s *Server, email, password string, header http.Header) stUser {
	t.Helper()
	f := s.nativeFlow(t, "login")
	res := sendRequest(t, plain(s), http.MethodPost, s.submitURL("login", f.ID), map[string]any{
		"method": "password", "identifier": email, "password": password,
	}, header)
	if res.status != http.StatusOK {
		t.Fatalf("native login of %s: status %d, want 200: %s", email, res.status, res.body)
	}
	ok := decodeSuccess(t, res.body)
	if ok.SessionToken == "" || ok.Session == nil {
		t.Fatalf("native login of %s gave no session: %s", email, res.body)
	}
	u := stUser{Email: email, SessionID: ok.Session.Id, Token: ok.SessionToken}
	if ok.Session.Identity != nil {
		u.IdentityID = ok.Session.Identity.Id
	}
	return u
}

// stBrowserLogin signs email in with a browser JSON login and answers the
// browser holding the session cookie.
func stBrowserLogin(t *testing.T, s *Server, email, password string) *browser {
	t.Helper()
	b, res := browserPasswordLogin(t, s, email, password)
	if res.status != http.StatusOK {
		t.Fatalf("browser login of %s: status %d, want 200: %s", email, res.status, res.body)
	}
	return b
}

// stAddress is a verifiable address as the wire shows it.
type stAddress struct {
	Value    string `json:"value"`
	Via      string `json:"via"`
	Verified bool   `json:"verified"`
	Status   string `json:"status"`
}

// stFlow is a settings flow as seen on the wire.
type stFlow struct {
	flowView
	Identity struct {
		ID                  string         `json:"id"`
		Traits              map[string]any `json:"traits"`
		VerifiableAddresses []stAddress    `json:"verifiable_addresses"`
	} `json:"identity"`
}

// stDecodeFlow reads a settings flow body, which the SDK must read too.
func stDecodeFlow(t *testing.T, body []byte) stFlow {
	t.Helper()
	var f stFlow
	if err := json.Unmarshal(body, &f); err != nil {
		t.Fatalf("body is not a settings flow (%v): %s", err, body)
	}
	if f.ID == "" {
		t.Fatalf("settings flow has no id: %s", body)
	}
	var m ory.SettingsFlow
	if err := json.Unmarshal(body, &m); err != nil {
		t.Errorf("the SDK cannot read the settings flow (id %s, state %v): %v", f.ID, f.State, err)
	}
	return f
}

// stFlowOf reads the raw flow behind an SDK answer (the SDK leaves the body
// readable).
func stFlowOf(t *testing.T, res *http.Response) stFlow {
	t.Helper()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return stDecodeFlow(t, body)
}

// stNativeSettings opens an API settings flow for the session token.
func stNativeSettings(t *testing.T, s *Server, token string) stFlow {
	t.Helper()
	_, res, err := s.Public.FrontendAPI.CreateNativeSettingsFlow(context.Background()).XSessionToken(token).Execute()
	requireOK(t, res, err, http.StatusOK)
	return stFlowOf(t, res)
}

// stBrowserSettings opens a browser settings flow as an AJAX client.
func stBrowserSettings(t *testing.T, b *browser, query url.Values) stFlow {
	t.Helper()
	u := b.s.PublicURL + "/self-service/settings/browser"
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	res := b.do(t, http.MethodGet, u, nil, jsonAccept)
	if res.status != http.StatusOK {
		t.Fatalf("GET %s: status %d, want 200: %s", u, res.status, res.body)
	}
	return stDecodeFlow(t, res.body)
}

// stSubmitNative posts body to a settings flow with the session token.
func stSubmitNative(t *testing.T, s *Server, flowID, token string, body any) response {
	t.Helper()
	var header http.Header
	if token != "" {
		header = tokenHeader(token)
	}
	return sendRequest(t, plain(s), http.MethodPost, s.submitURL("settings", flowID), body, header)
}

// stSubmitPassword changes the password through the SDK's updateSettingsFlow.
func stSubmitPassword(t *testing.T, s *Server, flowID, token, password string) (*ory.SettingsFlow, *http.Response, error) {
	t.Helper()
	body := ory.UpdateSettingsFlowWithPasswordMethodAsUpdateSettingsFlowBody(&ory.UpdateSettingsFlowWithPasswordMethod{
		Method: "password", Password: password,
	})
	return s.Public.FrontendAPI.UpdateSettingsFlow(context.Background()).Flow(flowID).XSessionToken(token).UpdateSettingsFlowBody(body).Execute()
}

// stSubmitProfile changes the traits through the SDK's updateSettingsFlow.
func stSubmitProfile(t *testing.T, s *Server, flowID, token string, traits map[string]any) (*ory.SettingsFlow, *http.Response, error) {
	t.Helper()
	body := ory.UpdateSettingsFlowWithProfileMethodAsUpdateSettingsFlowBody(&ory.UpdateSettingsFlowWithProfileMethod{
		Method: "profile", Traits: traits,
	})
	return s.Public.FrontendAPI.UpdateSettingsFlow(context.Background()).Flow(flowID).XSessionToken(token).UpdateSettingsFlowBody(body).Execute()
}

// stRequireSuccess asserts a settings flow finished with the saved message.
func stRequireSuccess(t *testing.T, f stFlow) {
	t.Helper()
	if f.State != "success" {
		t.Errorf("state = %v, want success", f.State)
	}
	if !hasMessage(f.UI.Messages, 1050001) {
		t.Errorf("ui.messages ids = %v, want 1050001 (changes saved)", messageIDs(f.UI.Messages))
	}
	for _, m := range f.UI.Messages {
		if m.ID == 1050001 && m.Type != "success" {
			t.Errorf("message 1050001 type = %q, want success", m.Type)
		}
	}
}

// stWhoami answers whoami's status for a session token.
func stWhoami(t *testing.T, s *Server, token string) int {
	t.Helper()
	status, _, _ := s.whoami(t, plain(s), tokenHeader(token))
	return status
}

// stRequireWhoami asserts whoami's status for each token.
func stRequireWhoami(t *testing.T, s *Server, want int, what string, users ...stUser) {
	t.Helper()
	for _, u := range users {
		if got := stWhoami(t, s, u.Token); got != want {
			t.Errorf("%s: whoami with session %s answers %d, want %d", what, u.SessionID, got, want)
		}
	}
}

// stSessionIDs lists the ids of sessions.
func stSessionIDs(ss []ory.Session) []string {
	ids := make([]string, 0, len(ss))
	for _, s := range ss {
		ids = append(ids, s.Id)
	}
	return ids
}

// stSameSet reports whether two id lists hold the same ids.
func stSameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, x := range a {
		seen[x]++
	}
	for _, x := range b {
		seen[x]--
		if seen[x] < 0 {
			return false
		}
	}
	return true
}

// stNear reports whether two times differ by at most tol.
func stNear(a, b time.Time, tol time.Duration) bool {
	d := a.Sub(b)
	return d <= tol && d >= -tol
}
