package conformance

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// leakGateway stands in for a mail service's HTTP API and keeps every
// request body.
type leakGateway struct {
	mu     sync.Mutex
	bodies []string
}

func (g *leakGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	g.mu.Lock()
	g.bodies = append(g.bodies, string(b))
	g.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// waitFor answers the bodies sent so far once there is one of each of the
// template types.
func (g *leakGateway) waitFor(t *testing.T, templateTypes ...string) []string {
	t.Helper()
	deadline := time.Now().Add(mailWait)
	for {
		g.mu.Lock()
		bodies := append([]string(nil), g.bodies...)
		g.mu.Unlock()
		seen := map[string]bool{}
		for _, b := range bodies {
			var ctx struct {
				TemplateType string `json:"template_type"`
			}
			if json.Unmarshal([]byte(b), &ctx) == nil {
				seen[ctx.TemplateType] = true
			}
		}
		missing := ""
		for _, typ := range templateTypes {
			if !seen[typ] {
				missing = typ
			}
		}
		if missing == "" {
			return bodies
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s request within %s; got %d: %v", missing, mailWait, len(bodies), bodies)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// requireNoLeak fails when text holds the password hash, any credential
// or the admin metadata.
func requireNoLeak(t *testing.T, where, text, hash, adminValue string) {
	t.Helper()
	lower := strings.ToLower(text)
	for _, bad := range []string{hash, "$2a$", "$argon2", adminValue} {
		if strings.Contains(text, bad) {
			t.Errorf("%s holds %q: %s", where, bad, text)
		}
	}
	for _, bad := range []string{"hashed_password", "credential", "metadata_admin", "metadataadmin"} {
		if strings.Contains(lower, bad) {
			t.Errorf("%s mentions %q: %s", where, bad, text)
		}
	}
}

var jsonName = regexp.MustCompile(`^[a-z]+(_[a-z]+)*$`)

// TestCourierLeak_NoSecretInMessages: an identity with a password and
// admin metadata asks for recovery and verification; neither the requests
// an HTTP mail channel receives (its Jsonnet body forwards the whole ctx)
// nor the admin courier API hold the password hash, a credential or the
// admin metadata, and the template data has Kratos's fields by their JSON
// names.
func TestCourierLeak_NoSecretInMessages(t *testing.T) {
	t.Parallel()
	for _, method := range []string{"code", "link"} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			forEachStore(t, func(t *testing.T, store string) {
				gateway := &leakGateway{}
				srv := httptest.NewServer(gateway)
				t.Cleanup(srv.Close)
				forward := "base64://" + base64.StdEncoding.EncodeToString([]byte(`function(ctx) ctx`))
				spec := verificationSpec(store, nil, map[string]any{
					"selfservice.flows.recovery.enabled": true,
					"selfservice.flows.recovery.ui_url":  recUI,
					"selfservice.flows.settings.ui_url":  stSettingsUI,
					"selfservice.flows.recovery.use":     method,
					"selfservice.flows.verification.use": method,
					"courier.delivery_strategy":          "http",
					"courier.http.request_config.url":    srv.URL + "/mail",
					"courier.http.request_config.method": "POST",
					"courier.http.request_config.body":   forward,
					"courier.worker.pull_wait":           "100ms",
				})
				spec.args = []string{"--watch-courier"}
				s := startServer(t, spec)

				const adminValue = "admin-only-5b7d2e"
				email := uniqueEmail("leak-" + method)
				body := withPassword(identityBody(email), testPassword)
				body.MetadataAdmin = map[string]any{"note": adminValue}
				body.MetadataPublic = map[string]any{"plan": "gold"}
				id := s.createIdentity(t, body).Id
				hash := passwordHash(t, s, id)

				rec := s.flowOf(t, "recovery")
				if res := sendRequest(t, plain(s), http.MethodPost, s.submitURL("recovery", rec), map[string]any{
					"method": method, "email": email, "transient_payload": map[string]any{"campaign": "spring"},
				}, nil); res.status != http.StatusOK {
					t.Fatalf("asking for recovery: %d %s", res.status, res.body)
				}
				ver := s.flowOf(t, "verification")
				if res := sendRequest(t, plain(s), http.MethodPost, s.submitURL("verification", ver), map[string]any{
					"method": method, "email": email,
				}, nil); res.status != http.StatusOK {
					t.Fatalf("asking for verification: %d %s", res.status, res.body)
				}

				recType, verType := "recovery_code_valid", "verification_code_valid"
				if method == "link" {
					recType, verType = "recovery_valid", "verification_valid"
				}
				bodies := gateway.waitFor(t, recType, verType)
				for _, b := range bodies {
					requireNoLeak(t, "a request to the mail service", b, hash, adminValue)
					var ctx struct {
						Recipient    string         `json:"recipient"`
						TemplateType string         `json:"template_type"`
						TemplateData map[string]any `json:"template_data"`
					}
					if err := json.Unmarshal([]byte(b), &ctx); err != nil {
						t.Fatalf("request body %q: %v", b, err)
					}
					requireJSONNames(t, ctx.TemplateType, ctx.TemplateData)
					ident, _ := ctx.TemplateData["identity"].(map[string]any)
					if ident["id"] != id || ident["traits"] == nil {
						t.Errorf("%s: template_data.identity = %v, want the identity's public view", ctx.TemplateType, ident)
					}
					if _, ok := ctx.TemplateData["request_url"].(string); !ok {
						t.Errorf("%s: template_data has no request_url: %v", ctx.TemplateType, ctx.TemplateData)
					}
					if tp, _ := ctx.TemplateData["transient_payload"].(map[string]any); ctx.TemplateType == recType && tp["campaign"] != "spring" {
						t.Errorf("%s: template_data.transient_payload = %v, want the submission's", ctx.TemplateType, ctx.TemplateData["transient_payload"])
					}
				}

				// The admin courier API (dev mode shows subjects and bodies).
				for _, m := range adminCourierMessages(t, s, email) {
					raw, _ := json.Marshal(m)
					requireNoLeak(t, "GET /admin/courier/messages", string(raw), hash, adminValue)
					if _, ok := m["template_data"]; ok {
						t.Errorf("the admin API shows template_data: %s", raw)
					}
					one := sendRequest(t, plain(s), http.MethodGet, s.AdminURL+"/admin/courier/messages/"+m["id"].(string), nil, nil)
					requireNoLeak(t, "GET /admin/courier/messages/{id}", string(one.body), hash, adminValue)
				}
			})
		})
	}
}

// passwordHash is the identity's stored hash, which no message may hold.
func passwordHash(t *testing.T, s *Server, id string) string {
	t.Helper()
	res := sendRequest(t, plain(s), http.MethodGet, s.AdminURL+"/admin/identities/"+id+"?include_credential=password", nil, nil)
	var got struct {
		Credentials map[string]struct {
			Config struct {
				HashedPassword string `json:"hashed_password"`
			} `json:"config"`
		} `json:"credentials"`
	}
	if err := json.Unmarshal(res.body, &got); err != nil || !strings.HasPrefix(got.Credentials["password"].Config.HashedPassword, "$2a$") {
		t.Fatalf("the identity's password hash: %v %s", err, res.body)
	}
	return got.Credentials["password"].Config.HashedPassword
}

// flowOf opens a native flow of kind and answers its id.
func (s *Server) flowOf(t *testing.T, kind string) string {
	t.Helper()
	res := sendRequest(t, plain(s), http.MethodGet, s.PublicURL+"/self-service/"+kind+"/api", nil, jsonAccept)
	var f struct {
		ID string `json:"id"`
	}
	if res.status != http.StatusOK || json.Unmarshal(res.body, &f) != nil || f.ID == "" {
		t.Fatalf("creating a %s flow: %d %s", kind, res.status, res.body)
	}
	return f.ID
}

// requireJSONNames checks that template data is keyed by JSON names, not
// Go field names, down to the identity's fields.
func requireJSONNames(t *testing.T, templateType string, data map[string]any) {
	t.Helper()
	var keys []string
	for k, v := range data {
		keys = append(keys, k)
		if !jsonName.MatchString(k) {
			t.Errorf("%s: template_data key %q is no JSON name", templateType, k)
		}
		if k == "identity" {
			for ik := range v.(map[string]any) {
				if !jsonName.MatchString(ik) {
					t.Errorf("%s: template_data.identity key %q is no JSON name", templateType, ik)
				}
			}
		}
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		t.Errorf("%s: empty template_data", templateType)
	}
}
