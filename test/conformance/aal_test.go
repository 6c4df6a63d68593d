package conformance

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// Authenticator assurance levels: session.whoami.required_aal and
// selfservice.flows.settings.required_aal. No method can give an identity
// a second factor over HTTP yet (the admin API takes passwords and social
// sign-in only, as Kratos's), so the refusals of a session below its
// identity's level are tested next to the code: internal/session
// (TestWhoamiRequiredAAL) and internal/flow/settings
// (TestSettingsRequiredAAL).

// Without a second factor, highest_available asks for nothing more than
// aal1: whoami, the session list and settings all answer.
func TestAAL_WithoutSecondFactorEverythingAnswers(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		for _, required := range []string{"highest_available", "aal1"} {
			t.Run(required, func(t *testing.T) {
				s := stServer(t, store, map[string]any{
					"session.whoami.required_aal":             required,
					"selfservice.flows.settings.required_aal": required,
				})
				for _, key := range []string{"session.whoami.required_aal", "selfservice.flows.settings.required_aal"} {
					if strings.Contains(s.Stderr(), key) {
						t.Errorf("start-up warns about %s:\n%s", key, s.Stderr())
					}
				}
				u := stRegister(t, s, "aal-"+required)

				sess, res, err := s.Public.FrontendAPI.ToSession(context.Background()).XSessionToken(u.Token).Execute()
				if err != nil {
					t.Fatalf("whoami: %v (%v)", err, res)
				}
				if sess.GetAuthenticatorAssuranceLevel() != "aal1" || len(sess.AuthenticationMethods) != 1 ||
					sess.AuthenticationMethods[0].GetMethod() != "password" || sess.AuthenticationMethods[0].GetAal() != "aal1" {
					t.Errorf("session level %s, methods %s; want aal1 by password", sess.GetAuthenticatorAssuranceLevel(), asJSON(sess.AuthenticationMethods))
				}
				if r := sendRequest(t, plain(s), http.MethodGet, s.PublicURL+"/sessions", nil, tokenHeader(u.Token)); r.status != http.StatusOK {
					t.Errorf("GET /sessions: %d %s", r.status, r.body)
				}

				f := stNativeSettings(t, s, u.Token)
				if r := sendRequest(t, plain(s), http.MethodGet, s.PublicURL+"/self-service/settings/flows?id="+f.ID, nil, tokenHeader(u.Token)); r.status != http.StatusOK {
					t.Errorf("fetching the settings flow: %d %s", r.status, r.body)
				}
				submitted := stSubmitNative(t, s, f.ID, u.Token, map[string]any{"method": "profile", "traits": map[string]any{"email": u.Email}})
				if submitted.status != http.StatusOK {
					t.Errorf("submitting the settings flow: %d %s", submitted.status, submitted.body)
				}

				b := stBrowserLogin(t, s, u.Email, testPassword)
				if r := b.do(t, http.MethodGet, s.PublicURL+"/self-service/settings/browser", nil, http.Header{"Accept": {"application/json"}}); r.status != http.StatusOK {
					t.Errorf("browser settings flow: %d %s", r.status, r.body)
				}
				if r := b.do(t, http.MethodGet, s.PublicURL+"/sessions/whoami", nil, nil); r.status != http.StatusOK {
					t.Errorf("browser whoami: %d %s", r.status, r.body)
				}
			})
		}
	})
}

// The two keys take Kratos's values only; anything else stops start-up
// with an error naming the key.
func TestAAL_RequiredAALOutsideTheEnumFailsNamingTheKey(t *testing.T) {
	t.Parallel()
	for _, key := range []string{"session.whoami.required_aal", "selfservice.flows.settings.required_aal"} {
		t.Run(key, func(t *testing.T) {
			t.Parallel()
			out := startFailing(t, map[string]any{key: "aal2"})
			if !strings.Contains(out, key) || !strings.Contains(out, "highest_available") {
				t.Errorf("the error does not name %s and its values:\n%s", key, out)
			}
		})
	}
}
