package conformance

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ory "github.com/ory/client-go"
)

// Helpers of the one-time-code tests (code_login_test.go,
// code_registration_test.go, code_mfa_test.go, identifier_first_test.go):
// a server with the code method on, delivering mail to a sink and SMS to a
// gateway; SDK submissions answered raw; checks of nodes and messages.

// codeSMSBody is the Jsonnet body of the SMS channel: the gateway keeps
// the recipient, the template type, the rendered text and the template data.
const codeSMSBody = `function(ctx) { to: ctx.recipient, kind: ctx.template_type, body: ctx.body, data: ctx.template_data }`

// The message template types of codes that sign in and sign up.
const (
	loginCodeMessage        = "login_code_valid"
	registrationCodeMessage = "registration_code_valid"
)

// codeDeps are what a code server delivers to: the SMTP sink for email and
// an HTTP gateway standing in for an SMS provider.
type codeDeps struct {
	sink   *mailSink
	sms    *smsGateway
	smsURL string
}

func newCodeDeps(t *testing.T) codeDeps {
	t.Helper()
	gateway := &smsGateway{}
	srv := httptest.NewServer(gateway)
	t.Cleanup(srv.Close)
	return codeDeps{sink: startMailSink(t), sms: gateway, smsURL: srv.URL + "/sms"}
}

// codeEnv is a running code server with what it delivers to.
type codeEnv struct {
	*Server
	sink *mailSink
	sms  *smsGateway
}

// codeServer starts a server with passwordless codes on (codeSpec); set
// adds or overrides keys, a nil value deletes one.
func codeServer(t *testing.T, store string, set map[string]any) *codeEnv {
	t.Helper()
	d := newCodeDeps(t)
	return &codeEnv{Server: startServer(t, codeSpec(store, d, set)), sink: d.sink, sms: d.sms}
}

// codeSpec is verificationSpec with the code schema (an email that is a
// password and a code identifier, an optional phone that is a code
// identifier by SMS), the SMS channel, passwordless codes, no rate limits
// and room for wrong guesses (tests about the guard set their own limits).
func codeSpec(store string, d codeDeps, set map[string]any) serverSpec {
	cfg := map[string]any{
		"identity.default_schema_id": "code",
		"identity.schemas": []any{map[string]any{
			"id": "code", "url": "file://" + filepath.Join(repoRoot, "test", "conformance", "testdata", "code.schema.json"),
		}},
		"courier.worker.pull_wait": "100ms",
		"courier.channels": []any{map[string]any{
			"id": "sms", "type": "http",
			"request_config": map[string]any{
				"url": d.smsURL, "method": "POST",
				"body": "base64://" + base64.StdEncoding.EncodeToString([]byte(codeSMSBody)),
			},
		}},
		"selfservice.methods.code.passwordless_enabled": true,
		"protection.rate_limits.enabled":                false,
		"protection.attempts.free_failures":             100,
	}
	for k, v := range set {
		cfg[k] = v
	}
	return verificationSpec(store, d.sink, cfg)
}

// codeEnvs starts one server (SQLite) or two sharing one PostgreSQL
// database (raceServers), all delivering to the same sink and gateway.
func codeEnvs(t *testing.T, store string, set map[string]any) []*codeEnv {
	t.Helper()
	d := newCodeDeps(t)
	var out []*codeEnv
	for _, s := range raceServers(t, store, codeSpec(store, d, set)) {
		out = append(out, &codeEnv{Server: s, sink: d.sink, sms: d.sms})
	}
	return out
}

var phoneSeq atomic.Int64

// uniquePhone gives each call its own E.164 number.
func uniquePhone() string {
	return fmt.Sprintf("+1555010%04d", phoneSeq.Add(1)%10000)
}

// codeUser creates an identity of the code schema through the admin API:
// the email, the phone unless "", and a password unless "".
func (e *codeEnv) codeUser(t *testing.T, email, phone, password string) string {
	t.Helper()
	traits := map[string]any{"email": email}
	if phone != "" {
		traits["phone"] = phone
	}
	body := ory.CreateIdentityBody{SchemaId: "code", Traits: traits}
	if password != "" {
		body = withPassword(body, password)
	}
	return e.createIdentity(t, body).Id
}

// codeLoginBody is a code method login submission; empty fields are left
// out.
func codeLoginBody(identifier, code, resend string) ory.UpdateLoginFlowWithCodeMethod {
	b := ory.UpdateLoginFlowWithCodeMethod{Method: "code"}
	if identifier != "" {
		b.Identifier = ory.PtrString(identifier)
	}
	if code != "" {
		b.Code = ory.PtrString(code)
	}
	if resend != "" {
		b.Resend = ory.PtrString(resend)
	}
	return b
}

// codeLogin submits a code method body to a native login flow through the
// SDK, with the session token unless "", and answers status and body.
func (e *codeEnv) codeLogin(t *testing.T, flowID, token string, body ory.UpdateLoginFlowWithCodeMethod) (int, []byte) {
	t.Helper()
	return e.login(t, flowID, token, ory.UpdateLoginFlowWithCodeMethodAsUpdateLoginFlowBody(&body))
}

// login submits any body to a native login flow through the SDK.
func (e *codeEnv) login(t *testing.T, flowID, token string, body ory.UpdateLoginFlowBody) (int, []byte) {
	t.Helper()
	req := e.Public.FrontendAPI.UpdateLoginFlow(context.Background()).Flow(flowID).UpdateLoginFlowBody(body)
	if token != "" {
		req = req.XSessionToken(token)
	}
	_, res, err := req.Execute()
	return sdkAnswer(t, res, err)
}

// codeRegister submits a code method body to a native registration flow
// through the SDK.
func (e *codeEnv) codeRegister(t *testing.T, flowID string, body ory.UpdateRegistrationFlowWithCodeMethod) (int, []byte) {
	t.Helper()
	body.Method = "code"
	_, res, err := e.Public.FrontendAPI.UpdateRegistrationFlow(context.Background()).Flow(flowID).
		UpdateRegistrationFlowBody(ory.UpdateRegistrationFlowWithCodeMethodAsUpdateRegistrationFlowBody(&body)).Execute()
	return sdkAnswer(t, res, err)
}

// sdkAnswer is the status and raw body of an SDK call, whether it
// succeeded or not; a success the SDK cannot read fails the test.
func sdkAnswer(t *testing.T, res *http.Response, err error) (int, []byte) {
	t.Helper()
	if res == nil {
		t.Fatalf("transport error: %v", err)
	}
	var oerr *ory.GenericOpenAPIError
	if errors.As(err, &oerr) {
		if res.StatusCode < 300 {
			t.Fatalf("the SDK cannot read the %d answer (%v): %s", res.StatusCode, err, oerr.Body())
		}
		return res.StatusCode, oerr.Body()
	}
	if err != nil {
		t.Fatal(err)
	}
	// The SDK leaves the body readable again after decoding it.
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, body
}

// requireFlowAnswer asserts a 400 answer carrying the flow and decodes it.
func requireFlowAnswer(t *testing.T, kind string, status int, body []byte, what string) flowView {
	t.Helper()
	if status != http.StatusBadRequest {
		t.Fatalf("%s: status %d, want 400 with the %s flow: %s", what, status, kind, body)
	}
	return decodeFlow(t, kind, body)
}

// aal2Flow opens a native aal2 login flow for the session token (with
// ?via= unless ""); it must answer 200.
func (e *codeEnv) aal2Flow(t *testing.T, token, via string) flowView {
	t.Helper()
	req := e.Public.FrontendAPI.CreateNativeLoginFlow(context.Background()).Aal("aal2").XSessionToken(token)
	if via != "" {
		req = req.Via(via)
	}
	_, res, err := req.Execute()
	requireOK(t, res, err, http.StatusOK)
	return e.rawFlowOf(t, "login", res)
}

// flowByID reads a flow by id with the browser's cookies.
func (b *browser) flowByID(t *testing.T, kind, id string) flowView {
	t.Helper()
	res := b.do(t, http.MethodGet, b.s.PublicURL+"/self-service/"+kind+"/flows?id="+url.QueryEscape(id), nil, jsonAccept)
	if res.status != http.StatusOK {
		t.Fatalf("GET %s flow %s: status %d, want 200: %s", kind, id, res.status, res.body)
	}
	return decodeFlow(t, kind, res.body)
}

// requireBackToUI asserts a 303 to ui for flow id.
func requireBackToUI(t *testing.T, res response, ui, flowID string) {
	t.Helper()
	loc := redirectTarget(t, res)
	if withoutQuery(loc) != ui || loc.Query().Get("flow") != flowID {
		t.Fatalf("Location = %s, want %s?flow=%s", loc, ui, flowID)
	}
}

// submitForm posts form, with the CSRF token of f, to the browser flow f.
func (b *browser) submitForm(t *testing.T, kind string, f flowView, form url.Values) response {
	t.Helper()
	form.Set("csrf_token", f.csrf(t))
	return b.do(t, http.MethodPost, b.s.submitURL(kind, f.ID), form, nil)
}

// formBackToUI submits form to f (submitForm), asserts the 303 back to ui
// for the same flow and answers the flow as it is then.
func (b *browser) formBackToUI(t *testing.T, kind, ui string, f flowView, form url.Values) flowView {
	t.Helper()
	requireBackToUI(t, b.submitForm(t, kind, f, form), ui, f.ID)
	return b.flowByID(t, kind, f.ID)
}

// formSignsIn submits form to f (submitForm), asserts the 303 to the
// default return URL and a session whoami answers for the browser's
// cookies, and answers the session and the response.
func (b *browser) formSignsIn(t *testing.T, kind string, f flowView, form url.Values) (*ory.Session, response) {
	t.Helper()
	res := b.submitForm(t, kind, f, form)
	if loc := redirectTarget(t, res); loc.String() != defaultReturn {
		t.Errorf("Location = %s, want %s", loc, defaultReturn)
	}
	status, sess, who := b.s.whoami(t, b.http, nil)
	if status != http.StatusOK {
		t.Fatalf("whoami by cookie: %d %s", status, who.body)
	}
	return sess, res
}

// findNode answers the first node with the attribute name, value and input
// type ("" matches any value or type).
func findNode(f flowView, name, value, typ string) (uiNode, bool) {
	for _, n := range f.UI.Nodes {
		if n.name() != name || typ != "" && n.inputType() != typ || value != "" && fmt.Sprint(n.value()) != value {
			continue
		}
		return n, true
	}
	return uiNode{}, false
}

// requireNode asserts a node (findNode) in group with label id (0: any
// label) and answers it.
func requireNode(t *testing.T, f flowView, name, value, typ, group string, label int64) uiNode {
	t.Helper()
	n, ok := findNode(f, name, value, typ)
	if !ok {
		t.Errorf("no node name=%q value=%q type=%q in %s", name, value, typ, asJSON(f.UI.Nodes))
		return uiNode{}
	}
	if n.Group != group {
		t.Errorf("node %q %q: group %q, want %q: %s", name, value, n.Group, group, asJSON(n))
	}
	if label != 0 && (n.Meta.Label == nil || n.Meta.Label.ID != label) {
		t.Errorf("node %q %q: label %s, want id %d", name, value, asJSON(n.Meta.Label), label)
	}
	return n
}

// requireNoNode asserts that no node matches (findNode).
func requireNoNode(t *testing.T, f flowView, name, value, typ string) {
	t.Helper()
	if n, ok := findNode(f, name, value, typ); ok {
		t.Errorf("unexpected node %s", asJSON(n))
	}
}

// requireMessages asserts the flow's ui.messages ids, exactly.
func requireMessages(t *testing.T, f flowView, ids ...int64) {
	t.Helper()
	if got := messageIDs(f.UI.Messages); !slices.Equal(got, ids) {
		t.Errorf("ui.messages ids = %v, want %v: %s", got, ids, asJSON(f.UI.Messages))
	}
}

// anyMessage reports whether the flow or one of its nodes carries id.
func anyMessage(f flowView, id int64) bool {
	if hasMessage(f.UI.Messages, id) {
		return true
	}
	for _, n := range f.UI.Nodes {
		if hasMessage(n.Messages, id) {
			return true
		}
	}
	return false
}

// requireAnyMessage asserts anyMessage.
func requireAnyMessage(t *testing.T, f flowView, id int64) {
	t.Helper()
	if !anyMessage(f, id) {
		t.Errorf("no message %d on the flow or its nodes; ui.messages %s, nodes %s", id, asJSON(f.UI.Messages), asJSON(f.UI.Nodes))
	}
}

// requireState asserts the flow's state.
func requireState(t *testing.T, f flowView, want string) {
	t.Helper()
	if f.State != want {
		t.Errorf("state = %v, want %s", f.State, want)
	}
}

// requireLoginCodeSent asserts the passwordless login flow after a code
// went to identifier.
func requireLoginCodeSent(t *testing.T, f flowView, identifier string) {
	t.Helper()
	requireState(t, f, "sent_email")
	if f.Active != "code" {
		t.Errorf("active = %q, want code", f.Active)
	}
	requireMessages(t, f, 1010014)
	if n := requireNode(t, f, "identifier", "", "hidden", "default", 0); n.value() != identifier {
		t.Errorf("hidden identifier = %v, want %q", n.value(), identifier)
	}
	requireCodeInputs(t, f, 1070013)
}

// requireCodeInputs asserts what every flow shows once a code was sent:
// the hidden method, the code input with label, continue and resend.
func requireCodeInputs(t *testing.T, f flowView, label int64) {
	t.Helper()
	requireNode(t, f, "method", "code", "hidden", "code", 0)
	if n := requireNode(t, f, "code", "", "text", "code", label); n.Attributes["required"] != true {
		t.Errorf("code input is not required: %s", asJSON(n))
	}
	requireNode(t, f, "method", "code", "submit", "code", 1070009)
	requireNode(t, f, "resend", "code", "submit", "code", 1070008)
}

// nodeShapes lists a flow's nodes as group/node type/input type/name, with
// the value of buttons, leaving out the CSRF token: what must not tell a
// known address from an unknown one.
func nodeShapes(f flowView) []string {
	var out []string
	for _, n := range f.UI.Nodes {
		if n.name() == "csrf_token" {
			continue
		}
		s := n.Group + "/" + n.Type + "/" + n.inputType() + "/" + n.name()
		if n.inputType() == "submit" || n.inputType() == "button" {
			s += "=" + fmt.Sprint(n.value())
		}
		out = append(out, s)
	}
	return out
}

// otherCode is a six-digit code that differs from code in every digit.
func otherCode(code string) string {
	b := []byte(code)
	for i, c := range b {
		b[i] = '0' + (c-'0'+5)%10
	}
	return string(b)
}

// codeSent waits until recipient has n messages of templateType in the
// courier and the newest has reached recipient (the mail sink, or the SMS
// gateway for a phone number), and answers the code in it.
func (e *codeEnv) codeSent(t *testing.T, recipient, templateType string, n int) string {
	t.Helper()
	deadline := time.Now().Add(mailWait)
	var newest ory.Message
	for {
		var of []ory.Message
		for _, m := range e.courierMessages(t, recipient) {
			if m.TemplateType == templateType {
				of = append(of, m)
			}
		}
		if len(of) >= n {
			newest = of[0]
			for _, m := range of[1:] {
				if m.CreatedAt.After(newest.CreatedAt) {
					newest = m
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d %s messages to %s within %s, want %d: %s", len(of), templateType, recipient, mailWait, n, asJSON(of))
		}
		time.Sleep(50 * time.Millisecond)
	}
	code := sixDigits.FindString(newest.Body)
	if code == "" {
		t.Fatalf("no six-digit code in the %s message to %s: %q", templateType, recipient, newest.Body)
	}
	if strings.HasPrefix(recipient, "+") {
		if newest.Type != "sms" {
			t.Errorf("the message to %s is of type %q, want sms", recipient, newest.Type)
		}
		e.smsWith(t, recipient, code)
	} else {
		e.sink.WaitFor(t, recipient, code, mailWait)
	}
	return code
}

// smsWith waits for an SMS to recipient whose text holds part and answers
// what the gateway received.
func (e *codeEnv) smsWith(t *testing.T, recipient, part string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(mailWait)
	for {
		for _, m := range e.sms.received() {
			if body, _ := m["body"].(string); m["to"] == recipient && strings.Contains(body, part) {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no SMS to %s containing %q within %s; received %s", recipient, part, mailWait, asJSON(e.sms.received()))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// received is a copy of what the gateway got.
func (g *smsGateway) received() []map[string]any {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.requests)
}

// requireNothingDelivered sends a code to barrier (a known address) and
// waits for it; the courier sends in order, so anything queued for
// address before has been delivered by then, and none may have been.
func (e *codeEnv) requireNothingDelivered(t *testing.T, address, barrier string) {
	t.Helper()
	f := e.nativeFlow(t, "login")
	status, body := e.codeLogin(t, f.ID, "", codeLoginBody(barrier, "", ""))
	requireLoginCodeSent(t, requireFlowAnswer(t, "login", status, body, "the barrier's code"), barrier)
	e.codeSent(t, barrier, loginCodeMessage, 1)
	if n := e.sink.CountTo(address); n != 0 {
		t.Errorf("%d mails reached %s, want none", n, address)
	}
}

// requireNativeSession asserts a 200 native login or registration answer
// with a session token and answers it.
func requireNativeSession(t *testing.T, status int, body []byte, what string) nativeSuccess {
	t.Helper()
	if status != http.StatusOK {
		t.Fatalf("%s: status %d, want 200 with a session: %s", what, status, body)
	}
	ok := decodeSuccess(t, body)
	if !sessionTokenFormat.MatchString(ok.SessionToken) || ok.Session == nil {
		t.Fatalf("%s: no session token and session in %s", what, body)
	}
	return ok
}

// requireMethods asserts a session's authentication methods as method/aal.
func requireMethods(t *testing.T, s *ory.Session, want ...string) {
	t.Helper()
	if got := totpMethods(s); !slices.Equal(got, want) {
		t.Errorf("authentication_methods = %v, want %v", got, want)
	}
}

// requireAAL asserts a session's authenticator assurance level.
func requireAAL(t *testing.T, what string, s *ory.Session, want string) {
	t.Helper()
	if got := string(s.GetAuthenticatorAssuranceLevel()); got != want {
		t.Errorf("%s: aal %q, want %s", what, got, want)
	}
}

// requireVerified asserts that address is a verified, completed
// verifiable address of the identity.
func (e *codeEnv) requireVerified(t *testing.T, identityID, address string, want bool) {
	t.Helper()
	for _, a := range e.getIdentity(t, identityID).VerifiableAddresses {
		if a.Value != address {
			continue
		}
		if want && (!a.Verified || a.Status != "completed" || a.VerifiedAt == nil) {
			t.Errorf("address %s = %s, want verified (status completed, verified_at set)", address, asJSON(a))
		}
		if !want && a.Verified {
			t.Errorf("address %s = %s, want not verified yet", address, asJSON(a))
		}
		return
	}
	t.Errorf("identity %s has no verifiable address %s", identityID, address)
}

// requireVerifiedIn asserts that the identity as an answer shows it has
// address verified: the answer that signed it in must not show it older.
func requireVerifiedIn(t *testing.T, where string, i *ory.Identity, address string) {
	t.Helper()
	if i == nil {
		t.Errorf("%s: no identity", where)
		return
	}
	for _, a := range i.VerifiableAddresses {
		if a.Value == address && (!a.Verified || a.Status != "completed" || a.VerifiedAt == nil) {
			t.Errorf("%s: address %s = %s, want verified (status completed, verified_at set)", where, address, asJSON(a))
		}
	}
}

// sessionsOf counts the identity's sessions.
func (e *codeEnv) sessionsOf(t *testing.T, identityID string) int {
	t.Helper()
	sessions, res, err := e.Admin.IdentityAPI.ListIdentitySessions(context.Background(), identityID).Execute()
	requireOK(t, res, err, http.StatusOK)
	return len(sessions)
}

// identitiesWith lists the ids of identities whose email trait is email.
func (e *codeEnv) identitiesWith(t *testing.T, email string) []string {
	t.Helper()
	var ids []string
	for _, i := range e.listAllIdentities(t) {
		if traits, _ := i.Traits.(map[string]any); traits["email"] == email {
			ids = append(ids, i.Id)
		}
	}
	return ids
}

// askLoginCode opens a native login flow, asks for a code for identifier
// and answers the flow id and the code.
func (e *codeEnv) askLoginCode(t *testing.T, identifier string) (string, string) {
	t.Helper()
	f := e.nativeFlow(t, "login")
	status, body := e.codeLogin(t, f.ID, "", codeLoginBody(identifier, "", ""))
	requireFlowAnswer(t, "login", status, body, "asking for a code for "+identifier)
	return f.ID, e.codeSent(t, identifier, loginCodeMessage, 1)
}

// registerByCode signs email up with a registration code through the
// native flow (no session hook needed) and answers the identity id.
func (e *codeEnv) registerByCode(t *testing.T, email string) string {
	t.Helper()
	f := e.nativeFlow(t, "registration")
	traits := map[string]any{"email": email}
	status, body := e.codeRegister(t, f.ID, ory.UpdateRegistrationFlowWithCodeMethod{Traits: traits})
	requireFlowAnswer(t, "registration", status, body, "asking for a registration code")
	code := e.codeSent(t, email, registrationCodeMessage, 1)
	status, body = e.codeRegister(t, f.ID, ory.UpdateRegistrationFlowWithCodeMethod{Traits: traits, Code: ory.PtrString(code)})
	if status != http.StatusOK {
		t.Fatalf("registration with the code: status %d, want 200: %s", status, body)
	}
	ok := decodeSuccess(t, body)
	if ok.Identity == nil || ok.Identity.Id == "" {
		t.Fatalf("registration with the code answered no identity: %s", body)
	}
	return ok.Identity.Id
}

// requireNotLogged fails if the server's output shows secret as a word:
// codes never go into log lines.
func (e *codeEnv) requireNotLogged(t *testing.T, secret string) {
	t.Helper()
	if regexp.MustCompile(`\b` + regexp.QuoteMeta(secret) + `\b`).MatchString(e.Stderr()) {
		t.Errorf("the server logged the code %s:\n%s", secret, e.Stderr())
	}
}
