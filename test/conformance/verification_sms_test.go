package conformance

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sync"
	"testing"
	"time"
)

// smsSchema has an email for the password and a phone number verified by
// SMS, as Kratos's ory.sh/kratos extension declares them.
const smsSchema = `{
  "$id": "https://example.org/sms.schema.json",
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "properties": {
    "traits": {
      "type": "object",
      "properties": {
        "email": {
          "type": "string", "format": "email",
          "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}}
        },
        "phone": {
          "type": "string", "format": "tel",
          "ory.sh/kratos": {"verification": {"via": "sms"}}
        }
      },
      "required": ["email", "phone"],
      "additionalProperties": false
    }
  }
}`

// smsGateway stands in for an SMS provider's HTTP API.
type smsGateway struct {
	mu       sync.Mutex
	requests []map[string]any
}

func (g *smsGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		http.Error(w, "not JSON", http.StatusBadRequest)
		return
	}
	g.mu.Lock()
	g.requests = append(g.requests, m)
	g.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (g *smsGateway) waitFor(t *testing.T, to string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(mailWait)
	for time.Now().Before(deadline) {
		g.mu.Lock()
		for _, m := range g.requests {
			if m["to"] == to {
				g.mu.Unlock()
				return m
			}
		}
		g.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no SMS to %s within %s", to, mailWait)
	return nil
}

// TestVerificationSMS_AfterRegistrationOverHTTP: a phone number whose
// schema says verification.via sms gets its code as an SMS through the
// courier's HTTP channel (courier.channels, id sms), with a Jsonnet body,
// and the code verifies the number.
func TestVerificationSMS_AfterRegistrationOverHTTP(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		gateway := &smsGateway{}
		srv := httptest.NewServer(gateway)
		t.Cleanup(srv.Close)
		body := `function(ctx) { to: ctx.recipient, code: ctx.template_data.verification_code, kind: ctx.template_type }`
		s := verificationServer(t, store, startMailSink(t), map[string]any{
			"selfservice.flows.registration.after.password.hooks": []any{
				map[string]any{"hook": "session"}, map[string]any{"hook": "show_verification_ui"},
			},
			"identity.default_schema_id": "sms",
			"identity.schemas": []any{map[string]any{
				"id": "sms", "url": "base64://" + base64.StdEncoding.EncodeToString([]byte(smsSchema)),
			}},
			"courier.channels": []any{map[string]any{
				"id": "sms", "type": "http",
				"request_config": map[string]any{
					"url": srv.URL + "/send", "method": "POST",
					"body": "base64://" + base64.StdEncoding.EncodeToString([]byte(body)),
				},
			}},
		})

		email, phone := uniqueEmail("sms"), "+15550100123"
		f := s.nativeFlow(t, "registration")
		res := sendRequest(t, plain(s), http.MethodPost, s.submitURL("registration", f.ID), map[string]any{
			"method": "password", "password": "a-long-enough-passphrase",
			"traits": map[string]any{"email": email, "phone": phone},
		}, nil)
		if res.status != http.StatusOK {
			t.Fatalf("registration: %d %s", res.status, res.body)
		}
		var reg struct {
			Identity struct {
				ID string `json:"id"`
			} `json:"identity"`
			ContinueWith []struct {
				Action string `json:"action"`
				Flow   struct {
					ID string `json:"id"`
				} `json:"flow"`
			} `json:"continue_with"`
		}
		if err := json.Unmarshal(res.body, &reg); err != nil {
			t.Fatal(err)
		}

		sms := gateway.waitFor(t, phone)
		code, _ := sms["code"].(string)
		if !regexp.MustCompile(`^\d{6}$`).MatchString(code) || sms["kind"] != "verification_code_valid" {
			t.Fatalf("SMS = %v, want a six-digit verification code", sms)
		}

		// The SMS went out through the HTTP channel, not as an email.
		msgs := adminCourierMessages(t, s, phone)
		if len(msgs) != 1 || msgs[0]["type"] != "sms" {
			t.Errorf("courier messages to %s: %v, want one sms", phone, msgs)
		}

		// The verification flow that registration started takes the code.
		flowID := ""
		for _, c := range reg.ContinueWith {
			if c.Action == "show_verification_ui" {
				flowID = c.Flow.ID
			}
		}
		if flowID == "" {
			t.Fatalf("no show_verification_ui in %s", res.body)
		}
		res = sendRequest(t, plain(s), http.MethodPost, s.submitURL("verification", flowID), map[string]any{"method": "code", "code": code}, nil)
		if res.status != http.StatusOK {
			t.Fatalf("submitting the SMS code: %d %s", res.status, res.body)
		}
		i, _, err := s.Admin.IdentityAPI.GetIdentity(t.Context(), reg.Identity.ID).Execute()
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, a := range i.VerifiableAddresses {
			if a.Value == phone {
				found = true
				if !a.Verified || a.Via != "sms" || a.Status != "completed" {
					t.Errorf("phone address after the code: %+v, want verified via sms", a)
				}
			}
		}
		if !found {
			t.Errorf("no verifiable address %s in %+v", phone, i.VerifiableAddresses)
		}
	})
}

// adminCourierMessages lists the courier messages to recipient as JSON.
func adminCourierMessages(t *testing.T, s *Server, recipient string) []map[string]any {
	t.Helper()
	res := sendRequest(t, plain(s), http.MethodGet, s.AdminURL+"/admin/courier/messages?recipient="+url.QueryEscape(recipient), nil, nil)
	var out []map[string]any
	if res.status != http.StatusOK || json.Unmarshal(res.body, &out) != nil {
		t.Fatalf("listing courier messages: %d %s", res.status, res.body)
	}
	return out
}
