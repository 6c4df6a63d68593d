package conformance

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestSelfserviceFlow_ReturnToMustBeAllowed(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, nil)
		for _, kind := range []string{"login", "registration"} {
			for _, bad := range []string{
				"https://evil.example.org/app",
				"http://127.0.0.1:9/elsewhere", // right host, path outside /app
				"https://127.0.0.1:9/app",      // wrong scheme
				"http://127.0.0.1:10/app",      // wrong port
			} {
				q := "?return_to=" + url.QueryEscape(bad)
				for _, endpoint := range []string{"/browser", "/api"} {
					var res response
					if endpoint == "/browser" {
						res = newBrowser(t, s).do(t, http.MethodGet, s.PublicURL+"/self-service/"+kind+endpoint+q, nil, jsonAccept)
					} else {
						res = sendRequest(t, plain(s), http.MethodGet, s.PublicURL+"/self-service/"+kind+endpoint+q, nil, nil)
					}
					e := requireError(t, res.status, res.body, http.StatusBadRequest)
					if e.Error.ID != "self_service_flow_return_to_forbidden" {
						t.Errorf("%s%s return_to=%s: error.id = %q, want self_service_flow_return_to_forbidden", kind, endpoint, bad, e.Error.ID)
					}
				}
			}
			// An allowed one is kept on the flow.
			good := appURL + "/sub/page?tab=2"
			b := newBrowser(t, s)
			f, _ := b.browserFlow(t, kind, url.Values{"return_to": {good}})
			if f.ReturnTo != good {
				t.Errorf("%s: return_to = %q, want %q", kind, f.ReturnTo, good)
			}
		}
	})
}

// expiredError is the answer for a submission to an expired flow. Kratos
// writes use_flow_id and expired_at next to "error" (the SDK model
// SelfServiceFlowExpiredError reads them there); details may repeat them.
type expiredError struct {
	apiError
	UseFlowID string     `json:"use_flow_id"`
	ExpiredAt *time.Time `json:"expired_at"`
}

func (e expiredError) newFlowID() string {
	if id, _ := e.Error.Details["use_flow_id"].(string); id != "" {
		return id
	}
	return e.UseFlowID
}

func TestSelfserviceFlow_ExpiredFlowOffersANewOne(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, map[string]any{
			"selfservice.flows.login.lifespan":        "1s",
			"selfservice.flows.registration.lifespan": "1s",
		})
		s.createIdentity(t, withPassword(identityBody("expiry@example.org"), testPassword))
		expiredMessage := map[string]int64{"login": 4010001, "registration": 4040001}
		bodies := map[string]map[string]any{
			"login":        {"method": "password", "identifier": "expiry@example.org", "password": testPassword},
			"registration": {"method": "password", "password": testPassword, "traits": map[string]any{"email": "expiry-new@example.org"}},
		}

		type pending struct {
			kind   string
			native flowView
			ajax   flowView
			form   flowView
			b      *browser
		}
		var all []pending
		for _, kind := range []string{"login", "registration"} {
			p := pending{kind: kind, native: s.nativeFlow(t, kind), b: newBrowser(t, s)}
			p.ajax, _ = p.b.browserFlow(t, kind, nil)
			p.form, _ = p.b.browserFlow(t, kind, nil)
			all = append(all, p)
		}
		time.Sleep(1500 * time.Millisecond)

		for _, p := range all {
			t.Run(p.kind, func(t *testing.T) {
				// Native: 410 naming a fresh API flow.
				res := sendRequest(t, plain(s), http.MethodPost, s.submitURL(p.kind, p.native.ID), bodies[p.kind], nil)
				newID := requireExpired(t, res, p.native.ID)
				if newID != "" {
					got := sendRequest(t, plain(s), http.MethodGet, s.PublicURL+"/self-service/"+p.kind+"/flows?id="+newID, nil, nil)
					if got.status != http.StatusOK {
						t.Errorf("GET the new flow %s: %d %s", newID, got.status, got.body)
					} else {
						f := decodeFlow(t, p.kind, got.body)
						if f.Type != "api" {
							t.Errorf("the replacement of an API flow is of type %q, want api", f.Type)
						}
						requireFlowMessage(t, f, expiredMessage[p.kind])
					}
				}

				// AJAX: the same 410.
				body := map[string]any{"csrf_token": p.ajax.csrf(t)}
				for k, v := range bodies[p.kind] {
					body[k] = v
				}
				res = p.b.do(t, http.MethodPost, s.submitURL(p.kind, p.ajax.ID), body, nil)
				requireExpired(t, res, p.ajax.ID)

				// Form: back to the UI with a new browser flow.
				form := url.Values{"csrf_token": {p.form.csrf(t)}, "method": {"password"}, "password": {testPassword}}
				if p.kind == "login" {
					form.Set("identifier", "expiry@example.org")
				} else {
					form.Set("traits.email", "expiry-form@example.org")
				}
				res = p.b.do(t, http.MethodPost, s.submitURL(p.kind, p.form.ID), form, nil)
				loc := redirectTarget(t, res)
				ui := map[string]string{"login": loginUI, "registration": registerUI}[p.kind]
				if withoutQuery(loc) != ui || loc.Query().Get("flow") == "" || loc.Query().Get("flow") == p.form.ID {
					t.Errorf("Location = %s, want %s?flow=<a new flow>", loc, ui)
				} else {
					got := p.b.do(t, http.MethodGet, s.PublicURL+"/self-service/"+p.kind+"/flows?id="+loc.Query().Get("flow"), nil, jsonAccept)
					if got.status != http.StatusOK {
						t.Errorf("GET the new browser flow: %d %s", got.status, got.body)
					} else {
						requireFlowMessage(t, decodeFlow(t, p.kind, got.body), expiredMessage[p.kind])
					}
				}

				// Fetching the expired flow answers 410 too.
				got := sendRequest(t, plain(s), http.MethodGet, s.PublicURL+"/self-service/"+p.kind+"/flows?id="+p.native.ID, nil, nil)
				if e := requireError(t, got.status, got.body, http.StatusGone); e.Error.ID != "self_service_flow_expired" {
					t.Errorf("GET expired flow: error.id = %q, want self_service_flow_expired", e.Error.ID)
				}
			})
		}
		s.requireCount(t, 1, "after submissions to expired flows")
	})
}

// requireExpired checks a 410 self_service_flow_expired answer and returns
// the id of the new flow it names.
func requireExpired(t *testing.T, res response, oldID string) string {
	t.Helper()
	requireError(t, res.status, res.body, http.StatusGone)
	var e expiredError
	if err := json.Unmarshal(res.body, &e); err != nil {
		t.Fatal(err)
	}
	if e.Error.ID != "self_service_flow_expired" {
		t.Errorf("error.id = %q, want self_service_flow_expired", e.Error.ID)
	}
	if e.UseFlowID == "" || e.ExpiredAt == nil {
		t.Errorf("no top-level use_flow_id / expired_at (where Kratos and the SDK's SelfServiceFlowExpiredError put them): %s", res.body)
	}
	id := e.newFlowID()
	if _, err := uuid.Parse(id); err != nil || id == oldID {
		t.Errorf("use_flow_id = %q, want the id of a new flow: %s", id, res.body)
		return ""
	}
	return id
}

func TestSelfserviceFlow_UnknownOrMissingFlowID(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, nil)
		for _, kind := range []string{"login", "registration"} {
			body := map[string]any{"method": "password", "identifier": "x@example.org", "password": testPassword,
				"traits": map[string]any{"email": "x@example.org"}}
			res := sendRequest(t, plain(s), http.MethodPost, s.submitURL(kind, uuid.NewString()), body, nil)
			requireError(t, res.status, res.body, http.StatusNotFound)

			res = sendRequest(t, plain(s), http.MethodPost, s.PublicURL+"/self-service/"+kind, body, nil)
			requireError(t, res.status, res.body, http.StatusBadRequest)

			// A malformed body is a client error, never a crash.
			f := s.nativeFlow(t, kind)
			res = sendRequest(t, plain(s), http.MethodPost, s.submitURL(kind, f.ID), `{"method": "password",`, nil)
			requireError(t, res.status, res.body, 0)

			res = sendRequest(t, plain(s), http.MethodGet, s.PublicURL+"/self-service/"+kind+"/flows?id="+uuid.NewString(), nil, nil)
			requireError(t, res.status, res.body, http.StatusNotFound)
		}
		// An unknown method is reported in the flow, not as a crash.
		f := s.nativeFlow(t, "login")
		_, res, err := s.Public.FrontendAPI.GetLoginFlow(context.Background()).Id(f.ID).Execute()
		requireOK(t, res, err, http.StatusOK)
		out := sendRequest(t, plain(s), http.MethodPost, s.submitURL("login", f.ID), map[string]any{"method": "carrier-pigeon"}, nil)
		if out.status != http.StatusBadRequest {
			t.Errorf("unknown method: status %d, want 400: %s", out.status, out.body)
		}
		s.requireCount(t, 0, "after bad submissions")
	})
}

func TestSelfserviceFlow_CompletedFlowCannotBeReplayed(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, nil)
		f := s.nativeFlow(t, "registration")
		first := sendRequest(t, plain(s), http.MethodPost, s.submitURL("registration", f.ID), map[string]any{
			"method": "password", "password": testPassword, "traits": map[string]any{"email": "replay@example.org"},
		}, nil)
		if first.status != http.StatusOK {
			t.Fatalf("registration: %d %s", first.status, first.body)
		}
		again := sendRequest(t, plain(s), http.MethodPost, s.submitURL("registration", f.ID), map[string]any{
			"method": "password", "password": testPassword, "traits": map[string]any{"email": "replay-2@example.org"},
		}, nil)
		if again.status == http.StatusOK || again.status >= 500 {
			t.Errorf("second submission of a completed registration flow: %d %s, want a 4xx", again.status, again.body)
		}
		s.requireCount(t, 1, "after replaying a registration flow")

		lf := s.nativeFlow(t, "login")
		body := map[string]any{"method": "password", "identifier": "replay@example.org", "password": testPassword}
		if res := sendRequest(t, plain(s), http.MethodPost, s.submitURL("login", lf.ID), body, nil); res.status != http.StatusOK {
			t.Fatalf("login: %d %s", res.status, res.body)
		}
		res := sendRequest(t, plain(s), http.MethodPost, s.submitURL("login", lf.ID), body, nil)
		if res.status == http.StatusOK || res.status >= 500 {
			t.Errorf("second submission of a completed login flow: %d %s, want a 4xx", res.status, res.body)
		}
	})
}
