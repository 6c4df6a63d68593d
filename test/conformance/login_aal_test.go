package conformance

import (
	"context"
	"net/http"
	"testing"
)

// A flow exists whatever methods are on: with the password method off,
// login and registration still start flows, as Kratos's do.
func TestSelfserviceFlow_ExistsWithEveryMethodOff(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, map[string]any{"selfservice.methods.password.enabled": false})
		for _, kind := range []string{"login", "registration"} {
			f := s.nativeFlow(t, kind)
			if f.ID == "" {
				t.Errorf("%s: the native flow has no id", kind)
			}
			if _, ok := f.find("password"); ok {
				t.Errorf("%s: the password method is off, but its node is there", kind)
			}
			res := sendRequest(t, plain(s), http.MethodGet, s.PublicURL+"/self-service/"+kind+"/browser", nil, nil)
			if res.status != http.StatusSeeOther {
				t.Errorf("GET /self-service/%s/browser: %d, want 303 to the UI: %s", kind, res.status, res.body)
			}
		}
	})
}

// Asking for the second factor needs a session that proved the first.
func TestLogin_SecondFactorNeedsAFirst(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, nil)
		ctx := context.Background()

		_, res, err := s.Public.FrontendAPI.CreateNativeLoginFlow(ctx).Aal("aal2").Execute()
		st, body := sdkFailure(t, res, err)
		e := requireError(t, st, body, http.StatusUnauthorized)
		if e.Error.ID != "session_aal1_required" {
			t.Errorf("aal2 without a session: error id %q, want session_aal1_required", e.Error.ID)
		}
		_, res, err = s.Public.FrontendAPI.CreateNativeLoginFlow(ctx).Aal("aal3").Execute()
		st, body = sdkFailure(t, res, err)
		requireError(t, st, body, http.StatusBadRequest)

		// With an aal1 session, an aal2 flow is a step-up: it asks for a
		// second factor only (this identity has none, so no method shows).
		reg := s.registerNative(t, uniqueEmail("aal-step-up"))
		f, res, err := s.Public.FrontendAPI.CreateNativeLoginFlow(ctx).Aal("aal2").XSessionToken(reg.SessionToken).Execute()
		requireOK(t, res, err, http.StatusOK)
		if f.GetRequestedAal() != "aal2" {
			t.Errorf("requested_aal = %q, want aal2", f.GetRequestedAal())
		}
		for _, n := range f.Ui.Nodes {
			if n.Group == "password" {
				t.Errorf("an aal2 flow shows the first factor's node %s", asJSON(n))
			}
		}
		found := false
		for _, m := range f.Ui.Messages {
			found = found || m.Id == 1010004
		}
		if !found {
			t.Errorf("aal2 flow messages %s, want 1010004", asJSON(f.Ui.Messages))
		}
		// An aal1 flow with the session is still "already signed in".
		_, res, err = s.Public.FrontendAPI.CreateNativeLoginFlow(ctx).XSessionToken(reg.SessionToken).Execute()
		st, body = sdkFailure(t, res, err)
		e = requireError(t, st, body, http.StatusBadRequest)
		if e.Error.ID != "session_already_available" {
			t.Errorf("aal1 with a session: error id %q, want session_already_available", e.Error.ID)
		}
	})
}
