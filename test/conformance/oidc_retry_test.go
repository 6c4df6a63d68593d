package conformance

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lanyard-id/lanyard/test/oidcop"
	"github.com/lanyard-id/lanyard/test/testserver"
)

// oidcRetryWait bounds the wait for a provider that came back: the server
// retries every second here (LANYARD_TEST_OIDC_RETRY_INTERVAL), every 30 s
// by default.
const oidcRetryWait = 60 * time.Second

// TestOIDC_ProviderDownAtStartIsOfferedOnceUp: a provider whose discovery
// answers 503 while the server starts is not offered, and a submit naming
// it gets the answer an unknown provider gets; once its discovery answers,
// new flows offer it (without a restart or reload) and signing up through
// it works, callback included. The provider that was up all along is
// offered throughout.
func TestOIDC_ProviderDownAtStartIsOfferedOnceUp(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		port := testserver.FreePort(t)
		public := fmt.Sprintf("http://127.0.0.1:%d", port)
		callback := func(id string) []string { return []string{public + oidcCallbackPath + id} }
		alice := oidcUser("retry")

		var down atomic.Bool
		down.Store(true)
		var refused atomic.Int32
		outage := func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if down.Load() {
					refused.Add(1)
					http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
					return
				}
				next.ServeHTTP(w, r)
			})
		}
		late := oidcop.Start(t, oidcop.Options{
			Clients: []oidcop.Client{{ID: "late-client", Secret: "late-secret", RedirectURIs: callback("late")}},
			Users:   []oidcop.User{alice},
			Wrap:    outage,
		})
		steady := oidcop.Start(t, oidcop.Options{
			Clients: []oidcop.Client{{ID: "steady-client", Secret: "steady-secret", RedirectURIs: callback("steady")}},
			Users:   []oidcop.User{alice},
		})
		mapperURL := "base64://" + base64.StdEncoding.EncodeToString([]byte(oidcMapperEmail))
		provider := func(id string, op *oidcop.Server) map[string]any {
			return map[string]any{
				"id": id, "provider": "generic", "issuer_url": op.Issuer,
				"client_id": id + "-client", "client_secret": id + "-secret", "mapper_url": mapperURL,
				"scope": []any{"openid", "email"},
			}
		}
		spec := selfserviceSpec(store, map[string]any{
			"serve.public.port":                               port,
			"serve.public.base_url":                           public + "/",
			"selfservice.methods.oidc.enabled":                true,
			"selfservice.methods.oidc.config.providers":       []any{provider("late", late), provider("steady", steady)},
			"selfservice.flows.registration.after.oidc.hooks": []any{map[string]any{"hook": "session"}},
		})
		spec.env = map[string]string{"LANYARD_TEST_OIDC_RETRY_INTERVAL": "1s"}
		s := startServer(t, spec)
		s.PublicURL = public
		s.Public = newSDK(public, s.HTTP)
		e := &oidcEnv{Server: s, op: late, op2: steady}
		if refused.Load() == 0 {
			t.Fatal("the server started without asking the provider that is down for its discovery document")
		}

		// While it is down: no button, and naming it is naming no provider.
		for _, kind := range []string{"login", "registration"} {
			f := s.nativeFlow(t, kind)
			if got := oidcRetryButtons(f); !slices.Equal(got, []string{"steady"}) {
				t.Fatalf("%s flow while the provider is down offers %v, want only steady", kind, got)
			}
		}
		unknown := oidcRetrySubmit(t, s, "no-such-provider")
		missing := oidcRetrySubmit(t, s, "late")
		if missing.status != unknown.status || !slices.Equal(oidcRetryMessageIDs(t, missing), oidcRetryMessageIDs(t, unknown)) {
			t.Errorf("submit naming the provider that is down: %d %s; an unknown provider gets %d %s", missing.status, missing.body, unknown.status, unknown.body)
		}
		if missing.status >= 500 || missing.status < 400 {
			t.Errorf("submit naming the provider that is down: status %d, want a 4xx: %s", missing.status, missing.body)
		}
		// Attempts while it is still down fail and keep it out.
		asked := refused.Load()
		deadline := time.Now().Add(oidcRetryWait)
		for refused.Load() == asked {
			if time.Now().After(deadline) {
				t.Fatalf("no new attempt at the provider within %s", oidcRetryWait)
			}
			s.nativeFlow(t, "login")
			time.Sleep(200 * time.Millisecond)
		}
		if got := oidcRetryButtons(s.nativeFlow(t, "login")); !slices.Equal(got, []string{"steady"}) {
			t.Fatalf("after a failed attempt the login flow offers %v, want only steady", got)
		}

		down.Store(false)
		deadline = time.Now().Add(oidcRetryWait)
		for {
			got := oidcRetryButtons(s.nativeFlow(t, "login"))
			if slices.Equal(got, []string{"late", "steady"}) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s after the provider came back, new login flows offer %v, want late then steady", oidcRetryWait, got)
			}
			time.Sleep(200 * time.Millisecond)
		}
		if got := oidcRetryButtons(s.nativeFlow(t, "registration")); !slices.Equal(got, []string{"late", "steady"}) {
			t.Errorf("registration flow offers %v, want late then steady", got)
		}

		b := newBrowser(t, s)
		e.signInBrowser(t, b, "registration", "late")
		if got := e.sessionOf(t, b); got.Identity.Traits["email"] != alice.Email {
			t.Errorf("signed up as %v, want %s", got.Identity.Traits, alice.Email)
		}
	})
}

// oidcRetryButtons lists the provider buttons of a flow, in order.
func oidcRetryButtons(f flowView) []string {
	var ids []string
	for _, n := range f.UI.Nodes {
		if n.Group == "oidc" && n.name() == "provider" {
			ids = append(ids, fmt.Sprint(n.value()))
		}
	}
	return ids
}

// oidcRetrySubmit submits provider to a new native login flow.
func oidcRetrySubmit(t *testing.T, s *Server, provider string) response {
	t.Helper()
	f := s.nativeFlow(t, "login")
	return sendRequest(t, plain(s), http.MethodPost, s.submitURL("login", f.ID), map[string]any{"method": "oidc", "provider": provider}, nil)
}

// oidcRetryMessageIDs are the ids of a flow answer's messages, the flow's
// and its nodes'.
func oidcRetryMessageIDs(t *testing.T, res response) []int64 {
	t.Helper()
	f := decodeFlow(t, "login", res.body)
	var ids []int64
	for _, m := range f.UI.Messages {
		ids = append(ids, m.ID)
	}
	for _, n := range f.UI.Nodes {
		for _, m := range n.Messages {
			ids = append(ids, m.ID)
		}
	}
	return ids
}
