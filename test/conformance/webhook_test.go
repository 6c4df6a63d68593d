package conformance

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// hookCall is one request the test's web hook receiver got.
type hookCall struct {
	header http.Header
	body   map[string]any
}

// hookReceiver is an HTTP endpoint in the test process that web hooks
// call; answer writes each call's response.
func hookReceiver(t *testing.T, answer func(w http.ResponseWriter, c hookCall)) (string, chan hookCall) {
	t.Helper()
	calls := make(chan hookCall, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		c := hookCall{header: r.Header.Clone()}
		if err := json.Unmarshal(raw, &c.body); err != nil {
			t.Errorf("the hook's body is not JSON: %v: %s", err, raw)
		}
		calls <- c
		if answer != nil {
			answer(w, c)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, calls
}

// hookBody is the Jsonnet body of the tests' hooks: what the receiver
// checks, picked from ctx.
var hookBody = "base64://" + base64.StdEncoding.EncodeToString([]byte(`function(ctx) {
  identity: ctx.identity,
  flow_id: ctx.flow.id,
  has_session: std.objectHas(ctx, "session"),
  session_identity: if std.objectHas(ctx, "session") then ctx.session.identity.id else null,
  method: ctx.request_method,
}`))

func webHook(url string, extra map[string]any) map[string]any {
	cfg := map[string]any{"url": url, "method": "POST", "body": hookBody}
	for k, v := range extra {
		cfg[k] = v
	}
	return map[string]any{"hook": "web_hook", "config": cfg}
}

func receive(t *testing.T, calls chan hookCall) hookCall {
	t.Helper()
	select {
	case c := <-calls:
		return c
	default:
		t.Fatal("the web hook was not called before the flow answered")
		return hookCall{}
	}
}

func TestWebHook_RegistrationAfterHookReceivesTheIdentity(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		url, calls := hookReceiver(t, func(w http.ResponseWriter, _ hookCall) { w.WriteHeader(http.StatusNoContent) })
		s := selfserviceServer(t, store, map[string]any{
			"selfservice.flows.registration.after.password.hooks": []any{webHook(url, nil), map[string]any{"hook": "session"}},
		})
		email := uniqueEmail("webhook-reg")
		out := s.registerNative(t, email)
		c := receive(t, calls)
		id, _ := c.body["identity"].(map[string]any)
		traits, _ := id["traits"].(map[string]any)
		if id["id"] != out.Identity.Id || traits["email"] != email || id["schema_id"] != "default" {
			t.Errorf("the hook's identity = %v, want %s with email %s", id, out.Identity.Id, email)
		}
		for _, hidden := range []string{"credentials", "metadata_admin"} {
			if _, ok := id[hidden]; ok {
				t.Errorf("the hook sees %s: %v", hidden, id)
			}
		}
		if c.body["has_session"] != false || c.body["method"] != "POST" || c.body["flow_id"] == "" {
			t.Errorf("ctx: %v (registration hooks get the identity only)", c.body)
		}
		if c.header.Get("Content-Type") != "application/json" {
			t.Errorf("Content-Type = %q", c.header.Get("Content-Type"))
		}
	})
}

func TestWebHook_LoginAfterHookWithAPIKey(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		url, calls := hookReceiver(t, nil)
		s := selfserviceServer(t, store, map[string]any{
			"selfservice.flows.login.after.password.hooks": []any{webHook(url, map[string]any{
				"auth": map[string]any{"type": "api_key", "config": map[string]any{"name": "X-Hook-Key", "value": "s3cret-key", "in": "header"}},
			})},
		})
		email := uniqueEmail("webhook-login")
		created := s.createIdentity(t, withPassword(identityBody(email), testPassword))
		res := s.loginNative(t, email, testPassword)
		if res.status != http.StatusOK {
			t.Fatalf("login: %d %s", res.status, res.body)
		}
		c := receive(t, calls)
		if c.header.Get("X-Hook-Key") != "s3cret-key" {
			t.Errorf("the api key header is missing: %v", c.header)
		}
		id, _ := c.body["identity"].(map[string]any)
		if id["id"] != created.Id || c.body["has_session"] != true || c.body["session_identity"] != created.Id {
			t.Errorf("login hooks get the identity and the session: %v", c.body)
		}
	})
}

func TestWebHook_IgnoredResponseDoesNotHoldTheAnswer(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		release := make(chan struct{})
		url, calls := hookReceiver(t, func(w http.ResponseWriter, _ hookCall) { <-release })
		defer close(release)
		s := selfserviceServer(t, store, map[string]any{
			"selfservice.flows.login.after.hooks": []any{webHook(url, map[string]any{"response": map[string]any{"ignore": true}})},
		})
		email := uniqueEmail("webhook-ignore")
		s.createIdentity(t, withPassword(identityBody(email), testPassword))
		// The receiver holds every call until the test ends: the login
		// answers meanwhile.
		if res := s.loginNative(t, email, testPassword); res.status != http.StatusOK {
			t.Fatalf("login: %d %s", res.status, res.body)
		}
		<-calls // the call was made all the same
	})
}

func TestWebHook_FailingHookAnswers502AndKeepsTheIdentity(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		url, calls := hookReceiver(t, func(w http.ResponseWriter, _ hookCall) { w.WriteHeader(http.StatusForbidden) })
		s := selfserviceServer(t, store, map[string]any{
			"selfservice.flows.registration.after.password.hooks": []any{webHook(url, nil), map[string]any{"hook": "session"}},
		})
		email := uniqueEmail("webhook-fail")
		f := s.nativeFlow(t, "registration")
		res := sendRequest(t, plain(s), http.MethodPost, s.submitURL("registration", f.ID), map[string]any{
			"method": "password", "password": testPassword, "traits": map[string]any{"email": email},
		}, nil)
		var e struct {
			Error struct {
				Code   int    `json:"code"`
				Reason string `json:"reason"`
			} `json:"error"`
		}
		_ = json.Unmarshal(res.body, &e)
		if res.status != http.StatusBadGateway || e.Error.Code != http.StatusBadGateway || e.Error.Reason != "webhook failed with status code 403" {
			t.Errorf("answer: %d %s", res.status, res.body)
		}
		if strings.Contains(string(res.body), "session_token") {
			t.Errorf("a failed hook hands out no session: %s", res.body)
		}
		<-calls
		s.requireCount(t, 1, "a post-persist hook failed")
		// The flow stays completed.
		again := sendRequest(t, plain(s), http.MethodPost, s.submitURL("registration", f.ID), map[string]any{
			"method": "password", "password": testPassword, "traits": map[string]any{"email": email},
		}, nil)
		if again.status == http.StatusOK || again.status == http.StatusBadGateway {
			t.Errorf("the completed flow answered a second submission with %d: %s", again.status, again.body)
		}
	})
}

func TestWebHook_RegistrationParseHookChangesTraits(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		changed := uniqueEmail("webhook-changed")
		url, calls := hookReceiver(t, func(w http.ResponseWriter, _ hookCall) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"identity": map[string]any{
				"traits": map[string]any{"email": changed}, "metadata_public": map[string]any{"crm_id": 42},
			}})
		})
		s := selfserviceServer(t, store, map[string]any{
			"selfservice.flows.registration.after.password.hooks": []any{webHook(url, map[string]any{"response": map[string]any{"parse": true}}), map[string]any{"hook": "session"}},
		})
		email := uniqueEmail("webhook-parse")
		out := s.registerNative(t, email)
		c := receive(t, calls)
		id, _ := c.body["identity"].(map[string]any)
		if traits, _ := id["traits"].(map[string]any); traits["email"] != email {
			t.Errorf("a pre-persist hook sees the identity as it will be: %v", id)
		}
		if got := traitsOf(t, out.Identity)["email"]; got != changed {
			t.Errorf("the answer's email = %v, want the hook's %s", got, changed)
		}
		stored := s.getIdentity(t, out.Identity.Id)
		if got := traitsOf(t, stored)["email"]; got != changed || asJSON(stored.MetadataPublic) != `{"crm_id":42}` {
			t.Errorf("stored: email %v, metadata_public %s", got, asJSON(stored.MetadataPublic))
		}
		// The changed address is the identifier the password signs in with.
		if res := s.loginNative(t, changed, testPassword); res.status != http.StatusOK {
			t.Errorf("login with the changed email: %d %s", res.status, res.body)
		}
	})
}

func TestWebHook_InterruptPutsMessagesOnTheTraitAndCreatesNothing(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		url, _ := hookReceiver(t, func(w http.ResponseWriter, _ hookCall) {
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"messages":[{"instance_ptr":"#/traits/email","messages":[{"id":4000101,"text":"This address is on the block list.","type":"error","context":{"reason":"blocked"}}]}]}`))
		})
		s := selfserviceServer(t, store, map[string]any{
			"selfservice.flows.registration.after.password.hooks": []any{webHook(url, map[string]any{"can_interrupt": true}), map[string]any{"hook": "session"}},
		})
		email := uniqueEmail("webhook-interrupt")
		f := s.nativeFlow(t, "registration")
		res := sendRequest(t, plain(s), http.MethodPost, s.submitURL("registration", f.ID), map[string]any{
			"method": "password", "password": testPassword, "traits": map[string]any{"email": email},
		}, nil)
		if res.status != http.StatusBadRequest {
			t.Fatalf("an interrupted registration: %d %s, want 400 with the flow", res.status, res.body)
		}
		flow := decodeFlow(t, "registration", res.body)
		m := requireNodeMessage(t, flow, "traits.email", 4000101)
		if m.Text != "This address is on the block list." || m.Type != "error" || m.Context["reason"] != "blocked" {
			t.Errorf("message = %+v", m)
		}
		if v := flow.node(t, "traits.email").value(); v != email {
			t.Errorf("the submitted email is kept: %v", v)
		}
		s.requireCount(t, 0, "an interrupted registration")
	})
}

// An interrupting hook after login stops the sign-in with its message on
// the form, before any session is issued.
func TestWebHook_LoginInterruptShowsTheMessage(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		url, calls := hookReceiver(t, func(w http.ResponseWriter, _ hookCall) {
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"messages":[{"instance_ptr":"#/","messages":[{"id":4000102,"text":"Sign-ins are paused.","type":"error"}]}]}`))
		})
		s := selfserviceServer(t, store, map[string]any{
			"selfservice.flows.login.after.password.hooks": []any{webHook(url, map[string]any{"response": map[string]any{"parse": true}})},
		})
		email := uniqueEmail("webhook-login-stop")
		created := s.createIdentity(t, withPassword(identityBody(email), testPassword))
		res := s.loginNative(t, email, testPassword)
		if res.status != http.StatusBadRequest {
			t.Fatalf("an interrupted login: %d %s, want 400 with the flow", res.status, res.body)
		}
		requireFlowMessage(t, decodeFlow(t, "login", res.body), 4000102)
		c := receive(t, calls)
		if id, _ := c.body["identity"].(map[string]any); id["id"] != created.Id {
			t.Errorf("the hook's identity: %v", c.body["identity"])
		}
		if strings.Contains(string(res.body), "session_token") {
			t.Errorf("an interrupted login issues no session: %s", res.body)
		}
		sessions, hres, err := s.Admin.IdentityAPI.ListIdentitySessions(context.Background(), created.Id).Execute()
		if err != nil || hres.StatusCode != http.StatusOK || len(sessions) != 0 {
			t.Errorf("sessions after an interrupted login: %d (%v)", len(sessions), err)
		}
	})
}

// An interrupting hook after a settings change stops it with a message on
// the trait; the traits stay as they were.
func TestWebHook_SettingsInterruptKeepsTheTraits(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		url, calls := hookReceiver(t, func(w http.ResponseWriter, _ hookCall) {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"messages":[{"instance_ptr":"#/traits/email","messages":[{"id":4000103,"text":"Not this domain.","type":"error"}]}]}`))
		})
		s := stServer(t, store, map[string]any{
			"selfservice.flows.settings.after.profile.hooks": []any{webHook(url, map[string]any{"can_interrupt": true})},
		})
		u := stRegister(t, s, "webhook-settings")
		f := s.nativeFlowWithToken(t, u.Token)
		res := sendRequest(t, plain(s), http.MethodPost, s.PublicURL+"/self-service/settings?flow="+f, map[string]any{
			"method": "profile", "traits": map[string]any{"email": uniqueEmail("webhook-settings-new")},
		}, tokenHeader(u.Token))
		if res.status != http.StatusBadRequest {
			t.Fatalf("an interrupted settings change: %d %s, want 400", res.status, res.body)
		}
		requireNodeMessage(t, stDecodeFlow(t, res.body).flowView, "traits.email", 4000103)
		c := receive(t, calls)
		if c.body["has_session"] != true {
			t.Errorf("settings hooks see the session: %v", c.body)
		}
		if got := traitsOf(t, s.getIdentity(t, u.IdentityID))["email"]; got != u.Email {
			t.Errorf("email after an interrupted change = %v, want %s", got, u.Email)
		}
	})
}

// nativeFlowWithToken opens a native settings flow for a session token and
// answers its id.
func (s *Server) nativeFlowWithToken(t *testing.T, token string) string {
	t.Helper()
	res := sendRequest(t, plain(s), http.MethodGet, s.PublicURL+"/self-service/settings/api", nil, tokenHeader(token))
	if res.status != http.StatusOK {
		t.Fatalf("settings flow: %d %s", res.status, res.body)
	}
	return stDecodeFlow(t, res.body).ID
}

// A verification after-hook is called once the address is verified, with
// the identity.
func TestWebHook_VerificationAfterHook(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		url, calls := hookReceiver(t, nil)
		sink := startMailSink(t)
		s := verificationServer(t, store, sink, map[string]any{
			"selfservice.flows.verification.after.hooks": []any{webHook(url, nil)},
		})
		email := uniqueEmail("webhook-verify")
		id := s.newVerifiable(t, email)
		f := s.nativeVerification(t)
		s.sdkSendCode(t, f.ID, email)
		code := sink.WaitFor(t, email, "", mailWait).Code(t)
		if len(calls) != 0 {
			t.Fatal("the hook ran before the address was verified")
		}
		if done := s.sdkSubmitCode(t, f.ID, code); done.State != "passed_challenge" {
			t.Fatalf("state %v", done.State)
		}
		c := receive(t, calls)
		ident, _ := c.body["identity"].(map[string]any)
		if ident["id"] != id || c.body["flow_id"] != f.ID || c.body["has_session"] != false {
			t.Errorf("ctx: %v", c.body)
		}
		addrs, _ := ident["verifiable_addresses"].([]any)
		if len(addrs) != 1 || addrs[0].(map[string]any)["verified"] != true {
			t.Errorf("the hook sees the address verified: %v", ident["verifiable_addresses"])
		}
	})
}

// A parse hook after a settings change alters the identity with it.
func TestWebHook_SettingsParseHookChangesMetadata(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		url, _ := hookReceiver(t, func(w http.ResponseWriter, _ hookCall) {
			_, _ = w.Write([]byte(`{"identity":{"metadata_public":{"plan":"pro"}}}`))
		})
		s := stServer(t, store, map[string]any{
			"selfservice.flows.settings.after.profile.hooks": []any{webHook(url, map[string]any{"response": map[string]any{"parse": true}})},
		})
		u := stRegister(t, s, "webhook-settings-parse")
		newEmail := uniqueEmail("webhook-settings-parse-new")
		res := sendRequest(t, plain(s), http.MethodPost, s.PublicURL+"/self-service/settings?flow="+s.nativeFlowWithToken(t, u.Token), map[string]any{
			"method": "profile", "traits": map[string]any{"email": newEmail},
		}, tokenHeader(u.Token))
		if res.status != http.StatusOK {
			t.Fatalf("settings: %d %s", res.status, res.body)
		}
		stored := s.getIdentity(t, u.IdentityID)
		if got := traitsOf(t, stored)["email"]; got != newEmail || asJSON(stored.MetadataPublic) != `{"plan":"pro"}` {
			t.Errorf("stored: email %v, metadata_public %s", got, asJSON(stored.MetadataPublic))
		}
	})
}

// A recovery after-hook is called once the code is spent, with the owner
// and the session recovery signed in.
func TestWebHook_RecoveryAfterHook(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		url, calls := hookReceiver(t, nil)
		sink := startMailSink(t)
		s := recServer(t, store, sink, map[string]any{
			"selfservice.flows.recovery.after.hooks": []any{webHook(url, nil)},
		})
		email, id := recUser(t, s, "webhook-recovery")
		f := recNative(t, s)
		recSDKEmail(t, s, f.ID, email)
		res, body, _ := recSDKCode(t, s, f.ID, recMailCode(t, sink, email))
		recLocationChange(t, res.StatusCode, body)
		c := receive(t, calls)
		ident, _ := c.body["identity"].(map[string]any)
		if ident["id"] != id || c.body["has_session"] != true || c.body["session_identity"] != id || c.body["flow_id"] != f.ID {
			t.Errorf("ctx: %v", c.body)
		}
	})
}
