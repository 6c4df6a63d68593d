package conformance

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	ory "github.com/ory/client-go"
)

const (
	verificationUI = uiBase + "/ui/verification"
	// mailWait bounds how long a test waits for the courier to deliver.
	mailWait = 30 * time.Second
)

// verificationServer starts a server like selfserviceServer with the
// verification flow enabled. With a sink, the courier sends to it from the
// server process (serve --watch-courier); without one, messages stay queued
// and readable through the admin courier API. set overrides or adds keys
// (a nil value deletes one).
func verificationServer(t *testing.T, store string, sink *mailSink, set map[string]any) *Server {
	t.Helper()
	return startServer(t, verificationSpec(store, sink, set))
}

// verificationSpec is the serverSpec of verificationServer.
func verificationSpec(store string, sink *mailSink, set map[string]any) serverSpec {
	cfg := map[string]any{
		"selfservice.default_browser_return_url":                                  defaultReturn,
		"selfservice.allowed_return_urls":                                         []any{appURL},
		"selfservice.flows.login.ui_url":                                          loginUI,
		"selfservice.flows.registration.ui_url":                                   registerUI,
		"selfservice.flows.error.ui_url":                                          errorUI,
		"selfservice.flows.verification.ui_url":                                   verificationUI,
		"selfservice.flows.verification.enabled":                                  true,
		"selfservice.flows.registration.after.password.hooks":                     []any{map[string]any{"hook": "session"}},
		"selfservice.methods.password.config.haveibeenpwned_enabled":              false,
		"selfservice.methods.password.config.min_password_length":                 8,
		"selfservice.methods.password.config.identifier_similarity_check_enabled": true,
	}
	var args []string
	if sink != nil {
		cfg["courier.smtp.connection_uri"] = sink.URI()
		cfg["courier.smtp.from_address"] = "lanyard@example.org"
		args = []string{"--watch-courier"}
	}
	for k, v := range set {
		if v == nil {
			delete(cfg, k)
			continue
		}
		cfg[k] = v
	}
	return serverSpec{store: store, set: cfg, args: args}
}

// decodeVerification reads a verification flow body; the SDK must read it
// too.
func decodeVerification(t *testing.T, body []byte) flowView {
	t.Helper()
	f := decodeFlow(t, "verification", body)
	var m ory.VerificationFlow
	if err := json.Unmarshal(body, &m); err != nil {
		t.Errorf("the SDK cannot read the verification flow: %v: %s", err, body)
	}
	return f
}

// nativeVerification opens an API verification flow through the SDK.
func (s *Server) nativeVerification(t *testing.T) flowView {
	t.Helper()
	_, res, err := s.Public.FrontendAPI.CreateNativeVerificationFlow(context.Background()).Execute()
	requireOK(t, res, err, http.StatusOK)
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return decodeVerification(t, body)
}

// verificationFlowAs reads a flow by id with client (a browser's, for
// browser flows).
func (s *Server) verificationFlowAs(t *testing.T, client *http.Client, id string) flowView {
	t.Helper()
	res := sendRequest(t, client, http.MethodGet, s.PublicURL+"/self-service/verification/flows?id="+url.QueryEscape(id), nil, jsonAccept)
	if res.status != http.StatusOK {
		t.Fatalf("GET verification flow %s: status %d, want 200: %s", id, res.status, res.body)
	}
	return decodeVerification(t, res.body)
}

// sdkSendCode asks for a code to email on a native flow through the SDK
// and answers the flow.
func (s *Server) sdkSendCode(t *testing.T, flowID, email string) *ory.VerificationFlow {
	t.Helper()
	f, res, err := s.Public.FrontendAPI.UpdateVerificationFlow(context.Background()).Flow(flowID).
		UpdateVerificationFlowBody(ory.UpdateVerificationFlowWithCodeMethodAsUpdateVerificationFlowBody(
			&ory.UpdateVerificationFlowWithCodeMethod{Method: "code", Email: ory.PtrString(email)})).Execute()
	requireOK(t, res, err, http.StatusOK)
	return f
}

// sdkSubmitCode submits a code to a native flow through the SDK; wrong
// codes are answered with 200 and the flow as well (Kratos issue #2997).
func (s *Server) sdkSubmitCode(t *testing.T, flowID, code string) *ory.VerificationFlow {
	t.Helper()
	f, res, err := s.Public.FrontendAPI.UpdateVerificationFlow(context.Background()).Flow(flowID).
		UpdateVerificationFlowBody(ory.UpdateVerificationFlowWithCodeMethodAsUpdateVerificationFlowBody(
			&ory.UpdateVerificationFlowWithCodeMethod{Method: "code", Code: ory.PtrString(code)})).Execute()
	requireOK(t, res, err, http.StatusOK)
	return f
}

// sdkMessageIDs are the flow-level message ids of an SDK flow.
func sdkMessageIDs(f *ory.VerificationFlow) []int64 {
	var ids []int64
	for _, m := range f.Ui.Messages {
		ids = append(ids, m.Id)
	}
	return ids
}

func hasID(ids []int64, id int64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// verifiableAddress answers the identity's verifiable address value.
func (s *Server) verifiableAddress(t *testing.T, identityID, value string) ory.VerifiableIdentityAddress {
	t.Helper()
	i := s.getIdentity(t, identityID)
	for _, a := range i.VerifiableAddresses {
		if strings.EqualFold(a.Value, value) {
			return a
		}
	}
	t.Fatalf("identity %s has no verifiable address %s: %s", identityID, value, asJSON(i.VerifiableAddresses))
	return ory.VerifiableIdentityAddress{}
}

// requireVerified asserts the address is verified as Kratos records it.
func (s *Server) requireVerified(t *testing.T, identityID, value string) {
	t.Helper()
	a := s.verifiableAddress(t, identityID, value)
	if !a.Verified || a.Status != "completed" || a.VerifiedAt == nil || a.VerifiedAt.IsZero() {
		t.Errorf("address %s = verified %v, status %q, verified_at %v; want true, completed and a time", value, a.Verified, a.Status, a.VerifiedAt)
	}
}

// requireUnverified asserts the address is not verified.
func (s *Server) requireUnverified(t *testing.T, identityID, value string) {
	t.Helper()
	a := s.verifiableAddress(t, identityID, value)
	if a.Verified || a.Status == "completed" || (a.VerifiedAt != nil && !a.VerifiedAt.IsZero()) {
		t.Errorf("address %s = verified %v, status %q, verified_at %v; want it unverified", value, a.Verified, a.Status, a.VerifiedAt)
	}
}

// newVerifiable creates an identity (admin API) whose address awaits
// verification and answers its id.
func (s *Server) newVerifiable(t *testing.T, email string) string {
	t.Helper()
	return s.createIdentity(t, identityBody(email)).Id
}

// replacedError is Kratos's 410 self_service_flow_replaced (or expired)
// answer with the flow to continue with.
func requireReplaced(t *testing.T, res response) string {
	t.Helper()
	e := requireError(t, res.status, res.body, http.StatusGone)
	if e.Error.ID != "self_service_flow_replaced" {
		t.Errorf("error.id = %q, want self_service_flow_replaced: %s", e.Error.ID, res.body)
	}
	var top struct {
		UseFlowID string `json:"use_flow_id"`
	}
	_ = json.Unmarshal(res.body, &top)
	if top.UseFlowID == "" {
		t.Fatalf("no use_flow_id in %s", res.body)
	}
	return top.UseFlowID
}

// uiFlowID is the flow a redirect to the verification UI names.
func uiFlowID(t *testing.T, res response) string {
	t.Helper()
	loc := redirectTarget(t, res)
	if withoutQuery(loc) != verificationUI || loc.Query().Get("flow") == "" {
		t.Fatalf("Location = %s, want %s?flow=<id>", loc, verificationUI)
	}
	return loc.Query().Get("flow")
}

// courierMessages lists every message to recipient through the SDK.
func (s *Server) courierMessages(t *testing.T, recipient string) []ory.Message {
	t.Helper()
	ms, res, err := s.Admin.CourierAPI.ListCourierMessages(context.Background()).Recipient(recipient).PageSize(100).Execute()
	requireOK(t, res, err, http.StatusOK)
	return ms
}

// waitMessage polls the admin courier API until the only message to
// recipient satisfies ok, and answers it.
func (s *Server) waitMessage(t *testing.T, recipient string, what string, ok func(ory.Message) bool) ory.Message {
	t.Helper()
	deadline := time.Now().Add(mailWait)
	var last []ory.Message
	for time.Now().Before(deadline) {
		last = s.courierMessages(t, recipient)
		if len(last) == 1 {
			m, res, err := s.Admin.CourierAPI.GetCourierMessage(context.Background(), last[0].Id).Execute()
			requireOK(t, res, err, http.StatusOK)
			if ok(*m) {
				return *m
			}
			last = []ory.Message{*m}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no single message to %s %s within %s; have %s", recipient, what, mailWait, asJSON(last))
	return ory.Message{}
}
