package conformance

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// beforeBody is the Jsonnet body of the before-hooks: they get no identity.
var beforeBody = "base64://" + base64.StdEncoding.EncodeToString([]byte(`function(ctx) {
  flow_id: ctx.flow.id,
  flow_type: ctx.flow.type,
  has_identity: std.objectHas(ctx, "identity"),
  has_session: std.objectHas(ctx, "session"),
  method: ctx.request_method,
}`))

func beforeHook(url string, extra map[string]any) map[string]any {
	h := webHook(url, extra)
	h["config"].(map[string]any)["body"] = beforeBody
	return h
}

// errorAnswer is the error shape of a creation a before-hook stopped.
type errorAnswer struct {
	Error struct {
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	} `json:"error"`
	UI any `json:"ui"`
}

func TestWebHookBefore_LoginHookReceivesTheNewFlow(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		url, calls := hookReceiver(t, func(w http.ResponseWriter, _ hookCall) { w.WriteHeader(http.StatusNoContent) })
		s := selfserviceServer(t, store, map[string]any{
			"selfservice.flows.login.before.hooks": []any{beforeHook(url, nil)},
		})
		f := s.nativeFlow(t, "login")
		c := receive(t, calls)
		if c.body["flow_id"] != f.ID || f.ID == "" {
			t.Errorf("the hook saw flow %v, the client got %q", c.body["flow_id"], f.ID)
		}
		if c.body["has_identity"] != false || c.body["has_session"] != false || c.body["flow_type"] != "api" || c.body["method"] != http.MethodGet {
			t.Errorf("ctx: %v (login before-hooks get neither identity nor session)", c.body)
		}
	})
}

func TestWebHookBefore_InterruptingRegistrationHookStopsTheCreation(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		url, calls := hookReceiver(t, func(w http.ResponseWriter, _ hookCall) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"messages":[{"instance_ptr":"#/","messages":[{"id":4000001,"text":"Sign-ups are closed today.","type":"error"}]}]}`))
		})
		s := selfserviceServer(t, store, map[string]any{
			"selfservice.flows.registration.before.hooks": []any{beforeHook(url, map[string]any{"can_interrupt": true})},
		})
		res := sendRequest(t, plain(s), http.MethodGet, s.PublicURL+"/self-service/registration/api", nil, nil)
		<-calls
		var e errorAnswer
		_ = json.Unmarshal(res.body, &e)
		if res.status != http.StatusBadRequest || e.Error.Code != http.StatusBadRequest || !strings.Contains(e.Error.Reason, "Sign-ups are closed today.") {
			t.Errorf("answer: %d %s", res.status, res.body)
		}
		if e.UI != nil {
			t.Errorf("a stopped creation answers no flow: %s", res.body)
		}
	})
}

func TestWebHookBefore_FailingHookAnswers502(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		url, calls := hookReceiver(t, func(w http.ResponseWriter, _ hookCall) { w.WriteHeader(http.StatusForbidden) })
		s := selfserviceServer(t, store, map[string]any{
			"selfservice.flows.login.before.hooks": []any{beforeHook(url, nil)},
		})
		res := sendRequest(t, plain(s), http.MethodGet, s.PublicURL+"/self-service/login/api", nil, nil)
		<-calls
		var e errorAnswer
		_ = json.Unmarshal(res.body, &e)
		if res.status != http.StatusBadGateway || e.Error.Code != http.StatusBadGateway || e.Error.Reason != "webhook failed with status code 403" {
			t.Errorf("answer: %d %s", res.status, res.body)
		}
		if e.UI != nil {
			t.Errorf("a failed creation answers no flow: %s", res.body)
		}
	})
}

func TestWebHookBefore_IgnoredResponseDoesNotHoldTheCreation(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		release := make(chan struct{})
		url, calls := hookReceiver(t, func(w http.ResponseWriter, _ hookCall) {
			<-release
			w.WriteHeader(http.StatusInternalServerError)
		})
		defer close(release)
		s := selfserviceServer(t, store, map[string]any{
			"selfservice.flows.registration.before.hooks": []any{beforeHook(url, map[string]any{"response": map[string]any{"ignore": true}})},
		})
		// The receiver holds every call until the test ends: the flow is
		// answered meanwhile.
		if f := s.nativeFlow(t, "registration"); f.ID == "" {
			t.Fatal("no flow")
		}
		<-calls // the call was made all the same
	})
}
