package conformance

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/google/uuid"
)

func TestSelfserviceCSRF_BrowserJSONSubmitNeedsCookieAndToken(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, nil)
		s.createIdentity(t, withPassword(identityBody("csrf-login@example.org"), testPassword))

		bodies := map[string]func(token string) map[string]any{
			"registration": func(token string) map[string]any {
				return map[string]any{"csrf_token": token, "method": "password", "password": testPassword,
					"traits": map[string]any{"email": "csrf-register@example.org"}}
			},
			"login": func(token string) map[string]any {
				return map[string]any{"csrf_token": token, "method": "password",
					"identifier": "csrf-login@example.org", "password": testPassword}
			},
		}
		for _, kind := range []string{"registration", "login"} {
			t.Run(kind, func(t *testing.T) {
				b := newBrowser(t, s)
				f, _ := b.browserFlow(t, kind, nil)
				other := newBrowser(t, s)
				otherFlow, _ := other.browserFlow(t, kind, nil)
				stored := s.countIdentities(t)

				for _, tc := range []struct {
					name   string
					client *http.Client
					token  string
				}{
					{"no token", b.http, ""},
					{"wrong token", b.http, "bm90LWEtdG9rZW4tYXQtYWxsLW5vdC1hLXRva2VuLWF0LWFsbC1ub3QtYS10b2tlbg=="},
					{"token of another browser", b.http, otherFlow.csrf(t)},
					{"no cookie", plain(s), f.csrf(t)},
				} {
					res := sendRequest(t, tc.client, http.MethodPost, s.submitURL(kind, f.ID), bodies[kind](tc.token), nil)
					e := requireError(t, res.status, res.body, http.StatusForbidden)
					if e.Error.ID != "security_csrf_violation" {
						t.Errorf("%s: error.id = %q, want security_csrf_violation", tc.name, e.Error.ID)
					}
					if reason, _ := e.Error.Details["reject_reason"].(string); reason == "" {
						t.Errorf("%s: details.reject_reason is empty: %s", tc.name, res.body)
					}
					if setCookie(res, "ory_kratos_session") != nil {
						t.Errorf("%s: a rejected submission set a session cookie", tc.name)
					}
				}
				s.requireCount(t, stored, "after rejected "+kind+" submissions")

				// The flow itself is still good with the right token.
				res := b.do(t, http.MethodPost, s.submitURL(kind, f.ID), bodies[kind](f.csrf(t)), nil)
				if res.status != http.StatusOK {
					t.Fatalf("the proper submission after rejected ones: %d %s", res.status, res.body)
				}
			})
		}
	})
}

func TestSelfserviceCSRF_FormPostGoesToErrorUI(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, nil)
		ctx := context.Background()
		b := newBrowser(t, s)
		f, _ := b.browserFlow(t, "registration", nil)
		res := b.do(t, http.MethodPost, s.submitURL("registration", f.ID), url.Values{
			"method": {"password"}, "password": {testPassword}, "traits.email": {"csrf-form@example.org"},
		}, nil)
		loc := redirectTarget(t, res)
		errID := loc.Query().Get("id")
		if withoutQuery(loc) != errorUI {
			t.Errorf("Location = %s, want the error UI %s?id=<uuid>", loc, errorUI)
		}
		if _, err := uuid.Parse(errID); err != nil {
			t.Fatalf("error id %q in %s is not a UUID", errID, loc)
		}
		s.requireCount(t, 0, "after a form post without a CSRF token")

		flowErr, res2, err := s.Public.FrontendAPI.GetFlowError(ctx).Id(errID).Execute()
		requireOK(t, res2, err, http.StatusOK)
		if flowErr.Id != errID {
			t.Errorf("flow error id = %q, want %q", flowErr.Id, errID)
		}
		if e, _ := flowErr.Error["id"].(string); e != "security_csrf_violation" {
			t.Errorf("stored error = %s, want id security_csrf_violation", asJSON(flowErr.Error))
		}
		if code, _ := flowErr.Error["code"].(float64); code != http.StatusForbidden {
			t.Errorf("stored error code = %v, want 403", flowErr.Error["code"])
		}
		if flowErr.CreatedAt == nil {
			t.Errorf("flow error has no created_at: %s", asJSON(flowErr))
		}

		// The canned error for UI development.
		stub, res3, err := s.Public.FrontendAPI.GetFlowError(ctx).Id("stub:500").Execute()
		requireOK(t, res3, err, http.StatusOK)
		if code, _ := stub.Error["code"].(float64); code != http.StatusInternalServerError {
			t.Errorf("stub:500 error = %s, want code 500", asJSON(stub.Error))
		}
		_, res4, err := s.Public.FrontendAPI.GetFlowError(ctx).Id(uuid.NewString()).Execute()
		status, body := sdkFailure(t, res4, err)
		requireError(t, status, body, http.StatusNotFound)
	})
}

func TestSelfserviceCSRF_NativeFlowsRefuseBrowserHeaders(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, nil)
		s.createIdentity(t, withPassword(identityBody("native-headers@example.org"), testPassword))
		bodies := map[string]map[string]any{
			"registration": {"method": "password", "password": testPassword, "traits": map[string]any{"email": "native-headers-new@example.org"}},
			"login":        {"method": "password", "identifier": "native-headers@example.org", "password": testPassword},
		}
		for _, kind := range []string{"registration", "login"} {
			for name, h := range map[string]http.Header{
				"cookie": {"Cookie": {"some_session=abc"}},
				"origin": {"Origin": {"http://127.0.0.1:9"}},
			} {
				f := s.nativeFlow(t, kind)
				res := sendRequest(t, plain(s), http.MethodPost, s.submitURL(kind, f.ID), bodies[kind], h)
				if res.status != http.StatusBadRequest {
					t.Errorf("%s with a %s header: status %d, want 400 with the flow: %s", kind, name, res.status, res.body)
					continue
				}
				requireFlowMessage(t, decodeFlow(t, kind, res.body), 4000001)
			}
		}
		s.requireCount(t, 1, "after native submissions with browser headers")

		// Cloudflare's own cookies are not the browser's doing.
		f := s.nativeFlow(t, "login")
		res := sendRequest(t, plain(s), http.MethodPost, s.submitURL("login", f.ID), bodies["login"],
			http.Header{"Cookie": {"__cf_bm=abc; cf_clearance=def"}})
		if res.status != http.StatusOK {
			t.Errorf("native login with only Cloudflare cookies: status %d, want 200: %s", res.status, res.body)
		}
	})
}
