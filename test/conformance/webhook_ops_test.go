package conformance

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	ory "github.com/ory/client-go"
)

// headersBody is a hook body that shows the request headers ctx carries.
var headersBody = "base64://" + base64.StdEncoding.EncodeToString([]byte(`function(ctx) {
  headers: ctx.request_headers,
  email: if std.objectHas(ctx, "identity") then ctx.identity.traits.email else null,
}`))

// clients.web_hook.header_allowlist replaces the default list, matched
// whatever the case of the names.
func TestWebHookOps_HeaderAllowlist(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		url, calls := hookReceiver(t, func(w http.ResponseWriter, _ hookCall) { w.WriteHeader(http.StatusNoContent) })
		s := selfserviceServer(t, store, map[string]any{
			"clients.web_hook.header_allowlist": []any{"x-tenant", "ACCEPT-LANGUAGE"},
			"selfservice.flows.login.after.hooks": []any{map[string]any{"hook": "web_hook", "config": map[string]any{
				"url": url, "method": "POST", "body": headersBody,
			}}},
		})
		email := uniqueEmail("webhook-headers")
		s.createIdentity(t, withPassword(identityBody(email), testPassword))
		f := s.nativeFlow(t, "login")
		res := sendRequest(t, plain(s), http.MethodPost, s.submitURL("login", f.ID), map[string]any{
			"method": "password", "identifier": email, "password": testPassword,
		}, http.Header{"X-Tenant": {"acme"}, "Accept-Language": {"de"}, "User-Agent": {"conformance"}, "X-Other": {"no"}})
		if res.status != http.StatusOK {
			t.Fatalf("login: %d %s", res.status, res.body)
		}
		c := receive(t, calls)
		headers, _ := c.body["headers"].(map[string]any)
		if asJSON(headers["X-Tenant"]) != `["acme"]` || asJSON(headers["Accept-Language"]) != `["de"]` || len(headers) != 2 {
			t.Errorf("request_headers = %s, want X-Tenant and Accept-Language only", asJSON(headers))
		}
	})
}

// Each call carries Ory-Webhook-Request-ID (new per attempt) and
// Ory-Webhook-Trigger-ID (the same across retries) unless
// emit_analytics_event is false.
func TestWebHookOps_AnalyticsHeaders(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		var n atomic.Int32
		url, calls := hookReceiver(t, func(w http.ResponseWriter, c hookCall) {
			if c.body["email"] != nil && n.Add(1) == 1 {
				w.WriteHeader(http.StatusServiceUnavailable) // retried
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
		s := selfserviceServer(t, store, map[string]any{
			"selfservice.flows.login.after.hooks": []any{map[string]any{"hook": "web_hook", "config": map[string]any{
				"url": url, "method": "POST", "body": headersBody,
			}}},
			"selfservice.flows.registration.after.password.hooks": []any{map[string]any{"hook": "web_hook", "config": map[string]any{
				"url": url, "method": "POST", "body": hookBody, "emit_analytics_event": false,
			}}, map[string]any{"hook": "session"}},
		})
		email := uniqueEmail("webhook-analytics")
		s.registerNative(t, email)
		reg := receive(t, calls)
		if reg.header.Get("Ory-Webhook-Request-ID") != "" || reg.header.Get("Ory-Webhook-Trigger-ID") != "" {
			t.Errorf("emit_analytics_event: false still sends the ids: %v", reg.header)
		}
		if res := s.loginNative(t, email, testPassword); res.status != http.StatusOK {
			t.Fatalf("login: %d %s", res.status, res.body)
		}
		first, retry := receive(t, calls), receive(t, calls)
		for _, c := range []hookCall{first, retry} {
			if !isUUID(c.header.Get("Ory-Webhook-Request-ID")) || !isUUID(c.header.Get("Ory-Webhook-Trigger-ID")) {
				t.Fatalf("the ids are not UUIDs: %v", c.header)
			}
		}
		if first.header.Get("Ory-Webhook-Trigger-ID") != retry.header.Get("Ory-Webhook-Trigger-ID") {
			t.Errorf("the trigger id changed on the retry: %v / %v", first.header, retry.header)
		}
		if first.header.Get("Ory-Webhook-Request-ID") == retry.header.Get("Ory-Webhook-Request-ID") {
			t.Errorf("the retry reused the request id: %v", first.header)
		}
		if res := s.loginNative(t, email, testPassword); res.status != http.StatusOK {
			t.Fatalf("second login: %d %s", res.status, res.body)
		}
		if again := receive(t, calls); again.header.Get("Ory-Webhook-Trigger-ID") == first.header.Get("Ory-Webhook-Trigger-ID") {
			t.Errorf("a new login reused the trigger id")
		}
	})
}

func isUUID(s string) bool {
	return len(s) == 36 && strings.Count(s, "-") == 4
}

// With clients.http.disallow_private_ip_ranges a hook to the test's
// loopback receiver is refused and answers as an unreachable one; a URL
// matching clients.http.private_ip_exception_urls is called.
func TestWebHookOps_PrivateIPRanges(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		url, calls := hookReceiver(t, func(w http.ResponseWriter, _ hookCall) { w.WriteHeader(http.StatusNoContent) })
		s := selfserviceServer(t, store, map[string]any{
			"clients.http.disallow_private_ip_ranges": true,
			"clients.http.private_ip_exception_urls":  []any{url + "/allowed/*"},
			"selfservice.flows.registration.after.password.hooks": []any{
				webHook(url+"/refused?api_key=s3cret", map[string]any{"response": map[string]any{"parse": true}}), map[string]any{"hook": "session"}},
			"selfservice.flows.login.after.hooks": []any{webHook(url+"/allowed/login?api_key=s3cret", nil)},
		})
		f := s.nativeFlow(t, "registration")
		res := sendRequest(t, plain(s), http.MethodPost, s.submitURL("registration", f.ID), map[string]any{
			"method": "password", "password": testPassword, "traits": map[string]any{"email": uniqueEmail("webhook-private")},
		}, nil)
		var e struct {
			Error struct {
				Code   int    `json:"code"`
				Reason string `json:"reason"`
			} `json:"error"`
		}
		_ = json.Unmarshal(res.body, &e)
		if res.status != http.StatusBadGateway || e.Error.Code != http.StatusBadGateway || e.Error.Reason != "webhook could not be called" {
			t.Errorf("a refused hook: %d %s, want the 502 of an unreachable one", res.status, res.body)
		}
		if strings.Contains(string(res.body), "s3cret") || strings.Contains(string(res.body), "127.0.0.1") {
			t.Errorf("the answer shows the hook's URL: %s", res.body)
		}
		if len(calls) != 0 {
			t.Fatal("the refused hook reached the receiver")
		}
		s.requireCount(t, 0, "a refused pre-persist hook")

		email := uniqueEmail("webhook-private-login")
		s.createIdentity(t, withPassword(identityBody(email), testPassword))
		if res := s.loginNative(t, email, testPassword); res.status != http.StatusOK {
			t.Fatalf("login with an excepted hook: %d %s", res.status, res.body)
		}
		receive(t, calls)
		if strings.Contains(s.Stderr(), "s3cret") {
			t.Errorf("the logs show the hook's API key")
		}
	})
}

// customerSchema is a second identity schema a hook may move an identity
// to: it needs a company.
const customerSchema = `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "properties": {
    "traits": {
      "type": "object",
      "properties": {
        "email": {"type": "string", "format": "email",
          "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}, "verification": {"via": "email"}, "recovery": {"via": "email"}}},
        "company": {"type": "string", "minLength": 1}
      },
      "required": ["email", "company"],
      "additionalProperties": false
    }
  }
}`

// A parse hook's 200 answer may set schema_id, state, external_id and the
// addresses' verification too; what no identity may hold is refused and
// nothing is written.
func TestWebHookOps_ParseAnswerSetsEveryField(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		taken := "crm-taken-" + store + uniqueEmail("x")
		url, _ := hookReceiver(t, func(w http.ResponseWriter, c hookCall) {
			id, _ := c.body["identity"].(map[string]any)
			if _, ok := id["credentials"]; ok {
				t.Errorf("the hook sees credentials: %v", id)
			}
			traits, _ := id["traits"].(map[string]any)
			email, _ := traits["email"].(string)
			var answer map[string]any
			switch {
			case strings.HasPrefix(email, "move"):
				answer = map[string]any{"schema_id": "customer", "state": "inactive", "external_id": "crm-" + email,
					"traits":               map[string]any{"email": email, "company": "Acme"},
					"verifiable_addresses": []any{map[string]any{"via": "email", "value": email, "verified": true, "status": "completed"}},
					"recovery_addresses":   []any{map[string]any{"via": "email", "value": email}},
				}
			case strings.HasPrefix(email, "unknown"):
				answer = map[string]any{"schema_id": "no-such-schema"}
			case strings.HasPrefix(email, "invalid"):
				answer = map[string]any{"schema_id": "customer"} // the traits lack a company
			case strings.HasPrefix(email, "state"):
				answer = map[string]any{"state": "blocked"}
			case strings.HasPrefix(email, "taken"):
				answer = map[string]any{"external_id": taken}
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"identity": answer})
		})
		s := selfserviceServer(t, store, map[string]any{
			"identity.schemas": []any{
				map[string]any{"id": "default", "url": "file://" + filepath.Join(repoRoot, "internal", "schema", "default.schema.json")},
				map[string]any{"id": "customer", "url": "base64://" + base64.StdEncoding.EncodeToString([]byte(customerSchema))},
			},
			"selfservice.flows.registration.after.password.hooks": []any{webHook(url, map[string]any{"response": map[string]any{"parse": true}})},
		})
		ext := taken
		s.createIdentity(t, ory.CreateIdentityBody{SchemaId: "default", Traits: map[string]any{"email": uniqueEmail("holder")}, ExternalId: &ext})

		submit := func(email string) response {
			f := s.nativeFlow(t, "registration")
			return sendRequest(t, plain(s), http.MethodPost, s.submitURL("registration", f.ID), map[string]any{
				"method": "password", "password": testPassword, "traits": map[string]any{"email": email},
			}, nil)
		}

		email := uniqueEmail("move")
		res := submit(email)
		if res.status != http.StatusOK {
			t.Fatalf("registration: %d %s", res.status, res.body)
		}
		out := decodeSuccess(t, res.body)
		stored := s.rawIdentity(t, out.Identity.Id, "")
		if stored["schema_id"] != "customer" || stored["state"] != "inactive" || stored["external_id"] != "crm-"+email {
			t.Errorf("stored: schema %v, state %v, external_id %v", stored["schema_id"], stored["state"], stored["external_id"])
		}
		if traits, _ := stored["traits"].(map[string]any); traits["company"] != "Acme" {
			t.Errorf("traits: %v", stored["traits"])
		}
		addrs, _ := stored["verifiable_addresses"].([]any)
		if len(addrs) != 1 || addrs[0].(map[string]any)["verified"] != true || addrs[0].(map[string]any)["status"] != "completed" {
			t.Errorf("the hook's verified address: %s", asJSON(stored["verifiable_addresses"]))
		}
		if rec, _ := stored["recovery_addresses"].([]any); len(rec) != 1 {
			t.Errorf("recovery addresses: %s", asJSON(stored["recovery_addresses"]))
		}
		s.requireCount(t, 2, "a moved identity")

		// A schema that does not exist, traits the new schema refuses and a
		// state no identity may have are 400s; nothing is written.
		for _, prefix := range []string{"unknown", "invalid", "state"} {
			res := submit(uniqueEmail(prefix))
			if res.status != http.StatusBadRequest {
				t.Errorf("%s: %d %s, want 400", prefix, res.status, res.body)
			}
		}
		invalid := submit(uniqueEmail("invalid"))
		if f := decodeFlow(t, "registration", invalid.body); len(f.UI.Messages)+countNodeMessages(f) == 0 {
			t.Errorf("traits the new schema refuses show no message: %s", invalid.body)
		}
		// An external_id another identity has is the duplicate answer.
		dup := submit(uniqueEmail("taken"))
		if dup.status != http.StatusBadRequest {
			t.Fatalf("a taken external_id: %d %s", dup.status, dup.body)
		}
		requireFlowMessage(t, decodeFlow(t, "registration", dup.body), 4000007)
		s.requireCount(t, 2, "refused hook answers")
	})
}

func countNodeMessages(f flowView) int {
	n := 0
	for _, node := range f.UI.Nodes {
		n += len(node.Messages)
	}
	return n
}

// In settings, a parse hook may set the external_id and state, written in
// the change's transaction.
func TestWebHookOps_SettingsParseSetsExternalID(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		url, _ := hookReceiver(t, func(w http.ResponseWriter, _ hookCall) {
			_, _ = w.Write([]byte(`{"identity":{"external_id":"crm-settings","state":"active"}}`))
		})
		s := stServer(t, store, map[string]any{
			"selfservice.flows.settings.after.profile.hooks": []any{webHook(url, map[string]any{"response": map[string]any{"parse": true}})},
		})
		u := stRegister(t, s, "webhook-settings-ext")
		res := sendRequest(t, plain(s), http.MethodPost, s.PublicURL+"/self-service/settings?flow="+s.nativeFlowWithToken(t, u.Token), map[string]any{
			"method": "profile", "traits": map[string]any{"email": u.Email},
		}, tokenHeader(u.Token))
		if res.status != http.StatusOK {
			t.Fatalf("settings: %d %s", res.status, res.body)
		}
		if got := s.rawIdentity(t, u.IdentityID, "")["external_id"]; got != "crm-settings" {
			t.Errorf("external_id = %v", got)
		}

		// Another identity the hook gives the same external_id: the flow
		// again, 400 with 4000007 as for a taken identifier, and nothing of
		// the change is written.
		other := stRegister(t, s, "webhook-settings-ext-other")
		newEmail := uniqueEmail("webhook-settings-ext-other-new")
		res = sendRequest(t, plain(s), http.MethodPost, s.PublicURL+"/self-service/settings?flow="+s.nativeFlowWithToken(t, other.Token), map[string]any{
			"method": "profile", "traits": map[string]any{"email": newEmail},
		}, tokenHeader(other.Token))
		if res.status != http.StatusBadRequest {
			t.Fatalf("a taken external_id in settings: %d %s, want 400 with the flow", res.status, res.body)
		}
		if f := decodeFlow(t, "settings", res.body); f.State != "show_form" {
			t.Errorf("a taken external_id in settings: state %q, want show_form", f.State)
		} else {
			requireFlowMessage(t, f, 4000007)
		}
		stored := s.rawIdentity(t, other.IdentityID, "")
		if stored["external_id"] != nil || stored["traits"].(map[string]any)["email"] != other.Email {
			t.Errorf("a refused change was written: %v", stored)
		}
	})
}

// The private-IP rule guards social sign-in too: a provider on the test's
// loopback address is not set up (so not offered) unless its URLs are
// exceptions.
func TestWebHookOps_PrivateIPRangesGuardSocialSignIn(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		refused := oidcServer(t, store, oidcOptions{set: map[string]any{"clients.http.disallow_private_ip_ranges": true}})
		if got := providerButtons(refused.nativeFlow(t, "login")); len(got) != 0 {
			t.Errorf("providers on loopback addresses are offered with the rule on: %v", got)
		}
		excepted := oidcServer(t, store, oidcOptions{set: map[string]any{
			"clients.http.disallow_private_ip_ranges": true,
			"clients.http.private_ip_exception_urls":  []any{"http://127.0.0.1:*/**"},
		}})
		if got := providerButtons(excepted.nativeFlow(t, "login")); !strings.Contains(strings.Join(got, ","), "op") {
			t.Errorf("excepted providers are not offered: %v", got)
		}
	})
}

// providerButtons lists the social sign-in buttons of a flow.
func providerButtons(f flowView) []string {
	var ids []string
	for _, n := range f.UI.Nodes {
		if n.Group == "oidc" && n.name() == "provider" {
			if v, ok := n.value().(string); ok {
				ids = append(ids, v)
			}
		}
	}
	return ids
}
