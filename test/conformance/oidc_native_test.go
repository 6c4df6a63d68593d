package conformance

import (
	"context"
	"crypto/rand"
	"net/http"
	"regexp"
	"testing"

	"github.com/lanyard-id/lanyard/test/oidcop"
)

// nativeIDToken submits an id_token to a new API flow of kind.
func (e *oidcEnv) nativeIDToken(t *testing.T, kind, idToken, nonce string) response {
	t.Helper()
	f := e.nativeFlow(t, kind)
	return sendRequest(t, plain(e.Server), http.MethodPost, e.submitURL(kind, f.ID), map[string]any{
		"method": "oidc", "provider": "op", "id_token": idToken, "id_token_nonce": nonce,
	}, nil)
}

// requireNativeSession asserts a 200 with a session token that whoami
// accepts, and answers the session's identity id.
func (e *oidcEnv) requireNativeSession(t *testing.T, res response, what string) string {
	t.Helper()
	if res.status != http.StatusOK {
		t.Fatalf("%s: status %d, want 200: %s", what, res.status, res.body)
	}
	ok := decodeSuccess(t, res.body)
	if !sessionTokenFormat.MatchString(ok.SessionToken) || ok.Session == nil || ok.Session.Identity == nil {
		t.Fatalf("%s: want a session token and a session: %s", what, res.body)
	}
	if status := stWhoami(t, e.Server, ok.SessionToken); status != http.StatusOK {
		t.Errorf("%s: whoami with the token: %d", what, status)
	}
	return ok.Session.Identity.Id
}

func TestOIDCNativeIDToken(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		hana, ivan, jo := oidcUser("hana"), oidcUser("ivan"), oidcUser("jo")
		e := oidcServer(t, store, oidcOptions{users: []oidcop.User{hana, ivan, jo}})

		nonce := rand.Text()
		hanaID := e.requireNativeSession(t, e.nativeIDToken(t, "login", e.op.IDToken(t, "c1", hana.Subject, nonce), nonce), "unknown subject on login")
		e.requireCount(t, 1, "id_token sign-up")
		cred, _ := e.oidcCredentialOf(t, hanaID)
		if len(cred.Identifiers) != 1 || cred.Identifiers[0] != "op:"+hana.Subject {
			t.Errorf("oidc identifiers = %v, want [op:%s]", cred.Identifiers, hana.Subject)
		}

		nonce = rand.Text()
		if got := e.requireNativeSession(t, e.nativeIDToken(t, "login", e.op.IDToken(t, "c1", hana.Subject, nonce), nonce), "known subject"); got != hanaID {
			t.Errorf("known subject signed in as %s, want %s", got, hanaID)
		}
		nonce = rand.Text()
		if got := e.requireNativeSession(t, e.nativeIDToken(t, "registration", e.op.IDToken(t, "c1", ivan.Subject, nonce), nonce), "registration"); got == hanaID {
			t.Errorf("a new subject on registration signed in as %s", got)
		}
		e.requireCount(t, 2, "id_token sign-ins")

		nonce = rand.Text()
		for _, c := range []struct {
			what, token, nonce string
			want               int // 0: any 4xx
		}{
			{"wrong id_token_nonce", e.op.IDToken(t, "c1", jo.Subject, nonce), rand.Text(), http.StatusForbidden},
			{"foreign audience", e.op.IDToken(t, "c1", jo.Subject, nonce, "someone-else"), nonce, http.StatusForbidden},
			{"another issuer", e.op2.IDToken(t, "c1", jo.Subject, nonce), nonce, http.StatusForbidden},
			{"no id_token_nonce", e.op.IDToken(t, "c1", jo.Subject, nonce), "", 0},
			{"not a JWT", "not-a-token", nonce, 0},
		} {
			t.Run(c.what, func(t *testing.T) {
				res := e.nativeIDToken(t, "login", c.token, c.nonce)
				requireError(t, res.status, res.body, c.want)
				if ok := decodeSuccess(t, res.body); ok.SessionToken != "" {
					t.Error("answered a session token")
				}
			})
		}
		e.requireCount(t, 2, "refused id_tokens")
	})
}

var exchangeCodeFormat = regexp.MustCompile(`^[A-Za-z0-9]{64}$`)

func TestOIDCSessionTokenExchange(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		kai := oidcUser("kai")
		e := oidcServer(t, store, oidcOptions{users: []oidcop.User{kai}})
		ctx := context.Background()
		returnTo := appURL + "/native-done"

		flow, res, err := e.Public.FrontendAPI.CreateNativeLoginFlow(ctx).ReturnSessionTokenExchangeCode(true).ReturnTo(returnTo).Execute()
		requireOK(t, res, err, http.StatusOK)
		initCode := flow.GetSessionTokenExchangeCode()
		if !exchangeCodeFormat.MatchString(initCode) {
			t.Fatalf("session_token_exchange_code = %q, want 64 alphanumerics", initCode)
		}

		// Before the sign-in there is no session to exchange.
		_, res, err = e.Public.FrontendAPI.ExchangeSessionToken(ctx).InitCode(initCode).ReturnToCode(rand.Text()).Execute()
		if status, body := sdkFailure(t, res, err); status != http.StatusNotFound {
			t.Errorf("exchange before the sign-in: %d, want 404: %s", status, body)
		}

		app := plain(e.Server)
		submit := sendRequest(t, app, http.MethodPost, e.submitURL("login", flow.Id), map[string]any{
			"method": "oidc", "provider": "op",
		}, nil)
		authURL := requireLocationChange(t, submit, "native oidc submit")

		system := newBrowser(t, e.Server)
		hops := e.follow(t, system, authURL)
		_, loc := lastHop(t, hops)
		if loc == nil || withoutQuery(loc) != returnTo || loc.Query().Get("code") == "" {
			t.Fatalf("the system browser must end at %s?code=<code>:%s", returnTo, describeHops(hops))
		}
		returnCode := loc.Query().Get("code")

		wrong := []struct{ what, init, ret string }{
			{"wrong return_to code", initCode, rand.Text()},
			{"wrong init code", rand.Text() + rand.Text(), returnCode},
		}
		for _, w := range wrong {
			_, res, err = e.Public.FrontendAPI.ExchangeSessionToken(ctx).InitCode(w.init).ReturnToCode(w.ret).Execute()
			if status, body := sdkFailure(t, res, err); status != http.StatusNotFound {
				t.Errorf("%s: %d, want 404: %s", w.what, status, body)
			}
		}

		got, res, err := e.Public.FrontendAPI.ExchangeSessionToken(ctx).InitCode(initCode).ReturnToCode(returnCode).Execute()
		requireOK(t, res, err, http.StatusOK)
		token := got.GetSessionToken()
		if !sessionTokenFormat.MatchString(token) {
			t.Fatalf("exchanged session_token = %q", token)
		}
		if status := stWhoami(t, e.Server, token); status != http.StatusOK {
			t.Errorf("whoami with the exchanged token: %d", status)
		}
		if s := got.Session; s.Identity == nil || traitsOf(t, s.Identity)["email"] != kai.Email {
			t.Errorf("exchanged session = %s, want kai's identity", asJSON(got.Session))
		}

		_, res, err = e.Public.FrontendAPI.ExchangeSessionToken(ctx).InitCode(initCode).ReturnToCode(returnCode).Execute()
		if status, body := sdkFailure(t, res, err); status != http.StatusNotFound {
			t.Errorf("second exchange: %d, want 404: %s", status, body)
		}
		e.requireCount(t, 1, "exchange")
	})
}
