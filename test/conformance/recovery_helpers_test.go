package conformance

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	ory "github.com/ory/client-go"
)

// Helpers of the recovery tests; the rec prefix keeps them apart from the
// other test files of this package.

const (
	recUI = uiBase + "/ui/recovery"
	// recMailWait bounds how long a test waits for the courier to deliver.
	recMailWait = 30 * time.Second
	// recNewPassword is what recovered users set.
	recNewPassword = "recovered-Password-42"
)

// recServer starts a server like selfserviceServer with recovery enabled,
// a settings and a recovery UI, and the courier delivering to sink from
// the server process (serve --watch-courier). set adds or overrides keys.
func recServer(t *testing.T, store string, sink *mailSink, set map[string]any) *Server {
	t.Helper()
	return startServer(t, recSpec(store, sink, set))
}

// recSpec is the serverSpec of recServer.
func recSpec(store string, sink *mailSink, set map[string]any) serverSpec {
	cfg := map[string]any{
		"selfservice.default_browser_return_url":                                  defaultReturn,
		"selfservice.allowed_return_urls":                                         []any{appURL},
		"selfservice.flows.login.ui_url":                                          loginUI,
		"selfservice.flows.registration.ui_url":                                   registerUI,
		"selfservice.flows.error.ui_url":                                          errorUI,
		"selfservice.flows.settings.ui_url":                                       stSettingsUI,
		"selfservice.flows.recovery.ui_url":                                       recUI,
		"selfservice.flows.recovery.enabled":                                      true,
		"selfservice.methods.password.config.haveibeenpwned_enabled":              false,
		"selfservice.methods.password.config.min_password_length":                 8,
		"selfservice.methods.password.config.identifier_similarity_check_enabled": true,
		"courier.smtp.connection_uri":                                             sink.URI(),
		"courier.smtp.from_address":                                               "lanyard@example.org",
		"courier.worker.pull_wait":                                                "100ms",
	}
	for k, v := range set {
		if v == nil {
			delete(cfg, k)
			continue
		}
		cfg[k] = v
	}
	return serverSpec{store: store, set: cfg, args: []string{"--watch-courier"}}
}

// recUser creates an identity with testPassword through the admin API.
func recUser(t *testing.T, s *Server, prefix string) (email, id string) {
	t.Helper()
	email = uniqueEmail(prefix)
	return email, s.createIdentity(t, withPassword(identityBody(email), testPassword)).Id
}

// recFlow is a recovery flow as seen on the wire.
type recFlow struct {
	flowView
	ContinueWith []map[string]any `json:"continue_with"`
}

// recDecode reads a recovery flow body, which the SDK must read too.
func recDecode(t *testing.T, body []byte) recFlow {
	t.Helper()
	var f recFlow
	if err := json.Unmarshal(body, &f); err != nil {
		t.Fatalf("body is not a recovery flow (%v): %s", err, body)
	}
	if f.ID == "" {
		t.Fatalf("recovery flow has no id: %s", body)
	}
	var m ory.RecoveryFlow
	if err := json.Unmarshal(body, &m); err != nil {
		t.Errorf("the SDK cannot read the recovery flow: %v: %s", err, body)
	}
	return f
}

// recFlowOf reads the raw flow behind an SDK answer.
func recFlowOf(t *testing.T, res *http.Response) recFlow {
	t.Helper()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return recDecode(t, body)
}

// recNative opens an API recovery flow through the SDK.
func recNative(t *testing.T, s *Server) recFlow {
	t.Helper()
	_, res, err := s.Public.FrontendAPI.CreateNativeRecoveryFlow(context.Background()).Execute()
	requireOK(t, res, err, http.StatusOK)
	return recFlowOf(t, res)
}

// recBrowser opens a browser recovery flow through the SDK (as an SPA:
// the SDK asks for JSON) with the browser's cookie jar.
func recBrowser(t *testing.T, b *browser) recFlow {
	t.Helper()
	_, res, err := b.sdk.FrontendAPI.CreateBrowserRecoveryFlow(context.Background()).Execute()
	requireOK(t, res, err, http.StatusOK)
	return recFlowOf(t, res)
}

// recGet fetches a recovery flow with client (a browser's for browser
// flows) and answers the raw response.
func recGet(t *testing.T, s *Server, client *http.Client, id string) response {
	t.Helper()
	return sendRequest(t, client, http.MethodGet, s.PublicURL+"/self-service/recovery/flows?id="+url.QueryEscape(id), nil, jsonAccept)
}

// recGetOK fetches a recovery flow and requires 200.
func recGetOK(t *testing.T, s *Server, client *http.Client, id string) recFlow {
	t.Helper()
	res := recGet(t, s, client, id)
	if res.status != http.StatusOK {
		t.Fatalf("GET recovery flow %s: status %d, want 200: %s", id, res.status, res.body)
	}
	return recDecode(t, res.body)
}

// recSDKEmail submits an address to a native flow through the SDK's
// updateRecoveryFlow with the code method.
func recSDKEmail(t *testing.T, s *Server, flowID, email string) recFlow {
	t.Helper()
	body := ory.UpdateRecoveryFlowWithCodeMethodAsUpdateRecoveryFlowBody(&ory.UpdateRecoveryFlowWithCodeMethod{Method: "code", Email: ory.PtrString(email)})
	_, res, err := s.Public.FrontendAPI.UpdateRecoveryFlow(context.Background()).Flow(flowID).UpdateRecoveryFlowBody(body).Execute()
	requireOK(t, res, err, http.StatusOK)
	return recFlowOf(t, res)
}

// recSDKCode submits a code to a native flow through the SDK and answers
// the raw outcome (the SDK call fails on anything but 200).
func recSDKCode(t *testing.T, s *Server, flowID, code string) (*http.Response, []byte, error) {
	t.Helper()
	body := ory.UpdateRecoveryFlowWithCodeMethodAsUpdateRecoveryFlowBody(&ory.UpdateRecoveryFlowWithCodeMethod{Method: "code", Code: ory.PtrString(code)})
	_, res, err := s.Public.FrontendAPI.UpdateRecoveryFlow(context.Background()).Flow(flowID).UpdateRecoveryFlowBody(body).Execute()
	if res == nil {
		t.Fatalf("submitting a code: transport error: %v", err)
	}
	if err != nil {
		_, b := sdkFailure(t, res, err)
		return res, b, err
	}
	b, _ := io.ReadAll(res.Body)
	return res, b, nil
}

// recSubmit posts body to a recovery flow with client: JSON for maps,
// a form for url.Values.
func recSubmit(t *testing.T, s *Server, client *http.Client, flowID string, body any) response {
	t.Helper()
	return sendRequest(t, client, http.MethodPost, s.submitURL("recovery", flowID), body, nil)
}

// recMailCode waits for the recovery code mail to email and answers the code.
func recMailCode(t *testing.T, sink *mailSink, email string) string {
	t.Helper()
	return sink.WaitFor(t, email, "recovery code", recMailWait).Code(t)
}

// recCodeMails counts the recovery code mails email received.
func recCodeMails(sink *mailSink, email string) int {
	n := 0
	for _, m := range sink.Received() {
		if m.sentTo(email) && strings.Contains(m.Subject, "recovery code") {
			n++
		}
	}
	return n
}

// recRequireSentEmail asserts the flow after an address was submitted.
func recRequireSentEmail(t *testing.T, f recFlow, messageID int64) {
	t.Helper()
	if f.State != "sent_email" {
		t.Errorf("state = %v, want sent_email", f.State)
	}
	if !hasMessage(f.UI.Messages, messageID) {
		t.Errorf("ui.messages ids = %v, want %d", messageIDs(f.UI.Messages), messageID)
	}
}

// recLocationChange asserts Kratos's 422 browser_location_change_required
// pointing at the settings UI and answers the settings flow id.
func recLocationChange(t *testing.T, status int, body []byte) string {
	t.Helper()
	e := requireError(t, status, body, http.StatusUnprocessableEntity)
	if e.Error.ID != "browser_location_change_required" {
		t.Errorf("error.id = %q, want browser_location_change_required", e.Error.ID)
	}
	var top struct {
		RedirectBrowserTo string `json:"redirect_browser_to"`
	}
	_ = json.Unmarshal(body, &top)
	return recSettingsFlowID(t, top.RedirectBrowserTo)
}

// recSettingsFlowID checks that target is the settings UI with ?flow= and
// answers the flow id.
func recSettingsFlowID(t *testing.T, target string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil || target == "" {
		t.Fatalf("%q is not the settings UI URL", target)
	}
	if withoutQuery(u) != stSettingsUI || u.Query().Get("flow") == "" {
		t.Fatalf("target %q, want %s?flow=<id>", target, stSettingsUI)
	}
	return u.Query().Get("flow")
}

// recRecoveryUIFlowID checks that a 303 goes to the recovery UI with
// ?flow= and answers the flow id.
func recRecoveryUIFlowID(t *testing.T, res response) string {
	t.Helper()
	u := redirectTarget(t, res)
	if withoutQuery(u) != recUI || u.Query().Get("flow") == "" {
		t.Fatalf("redirected to %s, want %s?flow=<id>", u, recUI)
	}
	return u.Query().Get("flow")
}

// recRetriedFlowID checks Kratos's answer to an app when a recovery flow
// cannot go on: 303 to GET /self-service/recovery/flows?id=<new flow>.
func recRetriedFlowID(t *testing.T, s *Server, res response) string {
	t.Helper()
	u := redirectTarget(t, res)
	if withoutQuery(u) != s.PublicURL+"/self-service/recovery/flows" || u.Query().Get("id") == "" {
		t.Fatalf("redirected to %s, want %s/self-service/recovery/flows?id=<new flow>", u, s.PublicURL)
	}
	return u.Query().Get("id")
}

// recMessage finds a flow-level message by id.
func recMessage(f recFlow, id int64) (uiText, bool) {
	for _, m := range f.UI.Messages {
		if m.ID == id {
			return m, true
		}
	}
	return uiText{}, false
}

// recSettingsPassword sets a new password through the settings flow with a
// session token, using the SDK.
func recSettingsPassword(t *testing.T, s *Server, settingsFlowID, token, password string) {
	t.Helper()
	_, res, err := stSubmitPassword(t, s, settingsFlowID, token, password)
	requireOK(t, res, err, http.StatusOK)
	stRequireSuccess(t, stFlowOf(t, res))
}

// recRequireLogin asserts that email signs in with password and not with
// the one it had before.
func recRequireLogin(t *testing.T, s *Server, email, password, old string) {
	t.Helper()
	if res := s.loginNative(t, email, password); res.status != http.StatusOK {
		t.Errorf("login with the new password: status %d, want 200: %s", res.status, res.body)
	}
	if old == "" {
		return
	}
	if res := s.loginNative(t, email, old); res.status != http.StatusBadRequest {
		t.Errorf("login with the old password: status %d, want 400: %s", res.status, res.body)
	}
}

// recMessages lists the courier messages to recipient.
func recMessages(t *testing.T, s *Server, recipient string) []ory.Message {
	t.Helper()
	ms, res, err := s.Admin.CourierAPI.ListCourierMessages(context.Background()).Recipient(recipient).Execute()
	requireOK(t, res, err, http.StatusOK)
	return ms
}

var (
	recUUID      = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	recTimestamp = regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})`)
	recCSRFValue = regexp.MustCompile(`"value":"[A-Za-z0-9+/=]{40,}"`)
)

// recNormalize blanks what differs between two answers to the same
// question: ids, times, masked CSRF tokens and the given addresses.
func recNormalize(body []byte, addresses ...string) string {
	out := string(body)
	for _, a := range addresses {
		out = strings.ReplaceAll(out, a, "<address>")
	}
	out = recUUID.ReplaceAllString(out, "<id>")
	out = recTimestamp.ReplaceAllString(out, "<time>")
	return recCSRFValue.ReplaceAllString(out, `"value":"<csrf>"`)
}
