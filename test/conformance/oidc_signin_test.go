package conformance

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	ory "github.com/ory/client-go"

	"github.com/lanyard-id/lanyard/test/oidcop"
)

// jwtClaims decodes a JWT's payload without checking it.
func jwtClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("%d-part token, want a JWT", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	return m
}

// requireProviderButton asserts the submit node of provider in a login or
// registration flow.
func requireProviderButton(t *testing.T, f flowView, provider, label string, labelID int64) {
	t.Helper()
	n, ok := findNode(f, "provider", provider, "submit")
	if !ok {
		t.Fatalf("no submit provider=%s in %s", provider, asJSON(f.UI.Nodes))
	}
	if n.Group != "oidc" {
		t.Errorf("provider %s group = %q, want oidc", provider, n.Group)
	}
	if n.Meta.Label == nil || n.Meta.Label.ID != labelID {
		t.Fatalf("provider %s label = %s, want id %d", provider, asJSON(n.Meta.Label), labelID)
	}
	if labelID == 1040003 {
		return // "Continue" names no provider
	}
	if got := n.Meta.Label.Context; got["provider"] != label || got["provider_id"] != provider {
		t.Errorf("provider %s label context = %v, want provider %q, provider_id %q", provider, got, label, provider)
	}
}

func TestOIDCBrowserSignUpAndSignIn(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		alice, bob, carol := oidcUser("alice"), oidcUser("bob"), oidcUser("carol")
		e := oidcServer(t, store, oidcOptions{users: []oidcop.User{alice, bob, carol}})
		ctx := context.Background()
		var aliceID string

		t.Run("sign-up", func(t *testing.T) {
			e.op.SetUser(alice.Subject)
			b := newBrowser(t, e.Server)
			_, res, err := b.sdk.FrontendAPI.CreateBrowserRegistrationFlow(ctx).Execute()
			requireOK(t, res, err, http.StatusOK)
			f := e.rawFlowOf(t, "registration", res)
			requireProviderButton(t, f, "op", "Test OP", 1040002)
			requireProviderButton(t, f, "op2", "op2", 1040002)

			_, res, err = b.sdk.FrontendAPI.UpdateRegistrationFlow(ctx).Flow(f.ID).UpdateRegistrationFlowBody(
				ory.UpdateRegistrationFlowWithOidcMethodAsUpdateRegistrationFlowBody(&ory.UpdateRegistrationFlowWithOidcMethod{
					Method: "oidc", Provider: "op", CsrfToken: ory.PtrString(f.csrf(t)),
				})).Execute()
			status, body := sdkFailure(t, res, err)
			authURL := requireLocationChange(t, response{status: status, body: body}, "registration submit")

			au, err := url.Parse(authURL)
			if err != nil || !strings.HasPrefix(authURL, e.op.Endpoints().Authorization) {
				t.Fatalf("redirect_browser_to = %s, want the authorize endpoint %s", authURL, e.op.Endpoints().Authorization)
			}
			q := au.Query()
			for _, k := range []string{"state", "nonce", "code_challenge"} {
				if q.Get(k) == "" {
					t.Errorf("authorize URL has no %s: %s", k, authURL)
				}
			}
			if q.Get("code_challenge_method") != "S256" || q.Get("client_id") != "c1" || q.Get("response_type") != "code" ||
				q.Get("redirect_uri") != e.PublicURL+oidcCallbackPath+"op" {
				t.Errorf("authorize URL %s: want S256, client c1, response_type code, redirect_uri %s", authURL, e.PublicURL+oidcCallbackPath+"op")
			}

			hops := e.follow(t, b, authURL)
			if _, loc := lastHop(t, hops); loc == nil || loc.String() != defaultReturn {
				t.Fatalf("sign-up did not end at %s:%s", defaultReturn, describeHops(hops))
			}
			if b.cookie("ory_kratos_session") == nil {
				t.Fatal("no session cookie after the callback")
			}
			sess := e.sessionOf(t, b)
			if sess.Identity.Traits["email"] != alice.Email {
				t.Errorf("traits = %v, want email %s from the mapper", sess.Identity.Traits, alice.Email)
			}
			if len(sess.AMR) != 1 || sess.AMR[0].Method != "oidc" || sess.AMR[0].AAL != "aal1" || sess.AMR[0].Provider != "op" {
				t.Errorf("authentication_methods = %s, want one {oidc, aal1, provider op}", asJSON(sess.AMR))
			}
			aliceID = sess.Identity.ID

			cred, _ := e.oidcCredentialOf(t, aliceID)
			if !reflect.DeepEqual(cred.Identifiers, []string{"op:" + alice.Subject}) {
				t.Errorf("oidc identifiers = %v, want [op:%s]", cred.Identifiers, alice.Subject)
			}
			if len(cred.Config.Providers) != 1 {
				t.Fatalf("oidc config = %s, want one provider", asJSON(cred.Config))
			}
			p := cred.Config.Providers[0]
			if p.Subject != alice.Subject || p.Provider != "op" || p.InitialIDToken == "" || p.InitialAccessToken == "" {
				t.Fatalf("oidc provider entry = %s, want subject %s, provider op, the initial id_token and access token", asJSON(p), alice.Subject)
			}
			claims := jwtClaims(t, p.InitialIDToken)
			if claims["sub"] != alice.Subject || claims["nonce"] != q.Get("nonce") {
				t.Errorf("initial_id_token claims sub=%v nonce=%v, want %s and the authorize nonce %s", claims["sub"], claims["nonce"], alice.Subject, q.Get("nonce"))
			}

			// PKCE: the token request proves the verifier behind the challenge.
			tokens := requestsAt(e.op, "token")
			if len(tokens) != 1 {
				t.Fatalf("%d token requests at the provider, want 1", len(tokens))
			}
			sum := sha256.Sum256([]byte(tokens[0].CodeVerifier))
			if tokens[0].CodeVerifier == "" || base64.RawURLEncoding.EncodeToString(sum[:]) != q.Get("code_challenge") {
				t.Errorf("token request code_verifier %q does not match the challenge %s", tokens[0].CodeVerifier, q.Get("code_challenge"))
			}
		})

		t.Run("a form submit answers 303 to the provider", func(t *testing.T) {
			b := newBrowser(t, e.Server)
			f, _ := b.browserFlow(t, "registration", nil)
			res := b.submitForm(t, "registration", f, url.Values{"method": {"oidc"}, "provider": {"op"}})
			if loc := redirectTarget(t, res); !strings.HasPrefix(loc.String(), e.op.Endpoints().Authorization) || loc.Query().Get("state") == "" {
				t.Errorf("Location = %s, want the authorize endpoint %s with a state", loc, e.op.Endpoints().Authorization)
			}
		})

		t.Run("sign-in", func(t *testing.T) {
			e.op.SetUser(alice.Subject)
			b := newBrowser(t, e.Server)
			f, _ := b.browserFlow(t, "login", nil)
			requireProviderButton(t, f, "op", "Test OP", 1010002)
			e.signInBrowser(t, b, "login", "op")
			sess := e.sessionOf(t, b)
			if sess.Identity.ID != aliceID {
				t.Errorf("signed in as %s, want %s", sess.Identity.ID, aliceID)
			}
			if len(sess.AMR) == 0 || sess.AMR[0].Provider != "op" || sess.AMR[0].Method != "oidc" {
				t.Errorf("authentication_methods = %s, want oidc through op", asJSON(sess.AMR))
			}
			e.requireCount(t, 1, "sign-in")
		})

		t.Run("login with an unknown subject signs up", func(t *testing.T) {
			e.op.SetUser(bob.Subject)
			b := newBrowser(t, e.Server)
			e.signInBrowser(t, b, "login", "op")
			sess := e.sessionOf(t, b)
			if sess.Identity.ID == aliceID || sess.Identity.Traits["email"] != bob.Email {
				t.Errorf("session identity %s traits %v, want a new identity for %s", sess.Identity.ID, sess.Identity.Traits, bob.Email)
			}
			e.requireCount(t, 2, "login of an unknown subject")
		})

		t.Run("registration with a known subject signs in", func(t *testing.T) {
			e.op.SetUser(alice.Subject)
			b := newBrowser(t, e.Server)
			e.signInBrowser(t, b, "registration", "op")
			if sess := e.sessionOf(t, b); sess.Identity.ID != aliceID {
				t.Errorf("signed in as %s, want the existing %s", sess.Identity.ID, aliceID)
			}
			e.requireCount(t, 2, "registration of a known subject")
		})

		t.Run("OAuth2-only provider reads userinfo", func(t *testing.T) {
			e.op.SetUser(carol.Subject)
			b := newBrowser(t, e.Server)
			e.signInBrowser(t, b, "registration", "plain")
			sess := e.sessionOf(t, b)
			if sess.Identity.Traits["email"] != carol.Email {
				t.Errorf("traits = %v, want email %s from userinfo", sess.Identity.Traits, carol.Email)
			}
			if len(sess.AMR) != 1 || sess.AMR[0].Provider != "plain" {
				t.Errorf("authentication_methods = %s, want oidc through plain", asJSON(sess.AMR))
			}
			cred, _ := e.oidcCredentialOf(t, sess.Identity.ID)
			if !reflect.DeepEqual(cred.Identifiers, []string{"plain:" + carol.Subject}) {
				t.Errorf("oidc identifiers = %v, want [plain:%s]", cred.Identifiers, carol.Subject)
			}
			tokens := requestsAt(e.op, "token")
			if len(tokens) == 0 || tokens[len(tokens)-1].ClientID != "c3" {
				t.Errorf("the last token request was not by the OAuth2-only client c3: %s", asJSON(tokens))
			}
			e.requireCount(t, 3, "OAuth2-only sign-up")
		})
	})
}

func TestOIDCRegistrationAsksForMissingTraits(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		dana := oidcUser("dana")
		e := oidcServer(t, store, oidcOptions{
			users: []oidcop.User{dana}, mapper: oidcMapperEmailName, schema: "oidc-nickname.schema.json",
		})
		b := newBrowser(t, e.Server)
		f, authURL := e.startAt(t, b, "registration", "op")
		hops := e.follow(t, b, authURL)
		_, loc := lastHop(t, hops)
		if loc == nil || withoutQuery(loc) != registerUI || loc.Query().Get("flow") != f.ID {
			t.Fatalf("want a 303 to %s?flow=%s:%s", registerUI, f.ID, describeHops(hops))
		}
		e.requireNoSession(t, b, "traits missing")
		e.requireCount(t, 0, "traits missing")

		got := b.flowByID(t, "registration", f.ID)
		if got.State != "choose_method" {
			t.Errorf("state = %v, want choose_method", got.State)
		}
		for name, want := range map[string]string{"traits.email": dana.Email, "traits.name": dana.Name} {
			n := got.node(t, name)
			if n.Group != "default" || n.value() != want {
				t.Errorf("node %s group %q value %v, want group default value %q", name, n.Group, n.value(), want)
			}
		}
		if n := got.node(t, "traits.nickname"); n.Group != "default" {
			t.Errorf("traits.nickname group %q, want default", n.Group)
		}
		requireNodeMessage(t, got, "traits.nickname", 4000002)
		requireProviderButton(t, got, "op", "Test OP", 1040003)

		res := b.do(t, http.MethodPost, e.submitURL("registration", f.ID), ory.UpdateRegistrationFlowWithOidcMethod{
			Method: "oidc", Provider: "op", CsrfToken: ory.PtrString(got.csrf(t)),
			Traits: map[string]any{"email": dana.Email, "name": dana.Name, "nickname": "dee"},
		}, nil)
		if res.status != http.StatusOK {
			t.Fatalf("completing the traits: status %d, want 200: %s", res.status, res.body)
		}
		done := decodeSuccess(t, res.body)
		if done.Identity == nil || done.Session == nil {
			t.Fatalf("completion answered no identity or session: %s", res.body)
		}
		if traits := traitsOf(t, done.Identity); traits["nickname"] != "dee" || traits["email"] != dana.Email {
			t.Errorf("traits = %v, want the completed ones", traits)
		}
		if n := len(requestsAt(e.op, "authorize")); n != 1 {
			t.Errorf("%d authorize requests at the provider, want 1 (no second trip)", n)
		}
		cred, _ := e.oidcCredentialOf(t, done.Identity.Id)
		if !reflect.DeepEqual(cred.Identifiers, []string{"op:" + dana.Subject}) {
			t.Errorf("oidc identifiers = %v, want [op:%s]", cred.Identifiers, dana.Subject)
		}
		if sess := e.sessionOf(t, b); sess.Identity.ID != done.Identity.Id {
			t.Errorf("browser session is of %s, want %s", sess.Identity.ID, done.Identity.Id)
		}
		e.requireCount(t, 1, "completed registration")
	})
}

// tamperedState changes one character in the middle of a state, where
// every bit of an encoding counts.
func tamperedState(state string) string {
	if state == "" {
		return "x"
	}
	b := []byte(state)
	i := len(b) / 2
	if b[i] == 'a' {
		b[i] = 'b'
	} else {
		b[i] = 'a'
	}
	return string(b)
}

func withQuery(u *url.URL, edit func(url.Values)) string {
	c := *u
	q := c.Query()
	edit(q)
	c.RawQuery = q.Encode()
	return c.String()
}

func TestOIDCCallbackTampering(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		erin := oidcUser("erin")
		e := oidcServer(t, store, oidcOptions{users: []oidcop.User{erin}})

		t.Run("altered state", func(t *testing.T) {
			b := newBrowser(t, e.Server)
			_, authURL := e.startAt(t, b, "registration", "op")
			cb := e.toCallback(t, b, authURL)
			hops := e.follow(t, b, withQuery(cb, func(q url.Values) { q.Set("state", tamperedState(q.Get("state"))) }))
			e.requireErrorUI(t, hops, "altered state")
			e.requireNoSession(t, b, "altered state")
			e.requireCount(t, 0, "altered state")
		})

		t.Run("the state of another flow", func(t *testing.T) {
			b, other := newBrowser(t, e.Server), newBrowser(t, e.Server)
			_, authURL := e.startAt(t, b, "registration", "op")
			cb := e.toCallback(t, b, authURL)
			_, otherURL := e.startAt(t, other, "login", "op")
			otherState := e.toCallback(t, other, otherURL).Query().Get("state")
			hops := e.follow(t, b, withQuery(cb, func(q url.Values) { q.Set("state", otherState) }))
			e.requireErrorUI(t, hops, "another flow's state")
			e.requireNoSession(t, b, "another flow's state")
			e.requireCount(t, 0, "another flow's state")
		})

		t.Run("provider error", func(t *testing.T) {
			b := newBrowser(t, e.Server)
			f, authURL := e.startAt(t, b, "registration", "op")
			cb := e.toCallback(t, b, authURL)
			hops := e.follow(t, b, withQuery(cb, func(q url.Values) {
				q.Del("code")
				q.Set("error", "access_denied")
				q.Set("error_description", "The user said no.")
			}))
			// The state is good, so Kratos shows the provider's refusal on the
			// flow (a 400 inside a strategy becomes message 4000001).
			if _, loc := lastHop(t, hops); loc == nil || withoutQuery(loc) != registerUI || loc.Query().Get("flow") != f.ID {
				t.Fatalf("error=access_denied: want a 303 to %s?flow=%s:%s", registerUI, f.ID, describeHops(hops))
			}
			requireFlowMessage(t, b.flowByID(t, "registration", f.ID), 4000001)
			e.requireNoSession(t, b, "error=access_denied")
			e.requireCount(t, 0, "error=access_denied")
		})

		t.Run("replayed callback", func(t *testing.T) {
			b := newBrowser(t, e.Server)
			hops := e.signInBrowser(t, b, "registration", "op")
			var cb string
			for _, h := range hops {
				if u, _ := url.Parse(h.url); e.isCallback(u) {
					cb = h.url
				}
			}
			if cb == "" {
				t.Fatalf("no callback in the chain:%s", describeHops(hops))
			}
			e.requireCount(t, 1, "sign-up")

			attacker := newBrowser(t, e.Server)
			replay := e.follow(t, attacker, cb)
			e.requireErrorUI(t, replay, "callback replayed by another browser")
			e.requireNoSession(t, attacker, "callback replayed by another browser")

			again := e.follow(t, b, cb)
			for _, h := range again {
				if h.res.status >= 500 {
					t.Errorf("callback replayed by the same browser:%s", describeHops(again))
				}
			}
			e.requireCount(t, 1, "replayed callbacks")
		})
	})
}
