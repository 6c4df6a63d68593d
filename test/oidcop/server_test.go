package oidcop_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/lanyard-id/lanyard/test/oidcop"
)

const redirect = "http://127.0.0.1:1/self-service/methods/oidc/callback/test"

var (
	alice = oidcop.User{Subject: "alice-sub", Email: "alice@example.com", EmailVerified: true,
		Name: "Alice Liddell", GivenName: "Alice", FamilyName: "Liddell", Extra: map[string]any{"hd": "example.com"}}
	bob = oidcop.User{Subject: "bob-sub", Email: "bob@example.com", Name: "Bob"}
)

func start(t *testing.T) *oidcop.Server {
	return oidcop.Start(t, oidcop.Options{
		Clients: []oidcop.Client{
			{ID: "oidc-client", Secret: "oidc-secret", RedirectURIs: []string{redirect}},
			{ID: "github-like", Secret: "gh-secret", RedirectURIs: []string{redirect}, OAuth2Only: true},
		},
		Users: []oidcop.User{alice, bob},
	})
}

func config(ctx context.Context, t *testing.T, s *oidcop.Server, id, secret string, scopes ...string) (*oidc.Provider, *oauth2.Config) {
	t.Helper()
	p, err := oidc.NewProvider(ctx, s.Issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return p, &oauth2.Config{ClientID: id, ClientSecret: secret, Endpoint: p.Endpoint(), RedirectURL: redirect, Scopes: scopes}
}

// authorize follows the provider's redirects until they reach redirect and
// returns that callback's query.
func authorize(t *testing.T, authURL string) url.Values {
	t.Helper()
	client := &http.Client{CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), redirect) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := client.Get(authURL)
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	defer resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("authorize: status %d, no redirect: %s", resp.StatusCode, body)
	}
	if !strings.HasPrefix(loc.String(), redirect) {
		t.Fatalf("authorize redirected to %s", loc)
	}
	return loc.Query()
}

func TestAuthorizationCodeFlowWithIDTokenAndNonce(t *testing.T) {
	s := start(t)
	s.SetUser(alice.Subject)
	ctx := context.Background()
	p, conf := config(ctx, t, s, "oidc-client", "oidc-secret", oidc.ScopeOpenID, "email", "profile")

	state, nonce, verifier := rand.Text(), rand.Text(), oauth2.GenerateVerifier()
	q := authorize(t, conf.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("login_hint", "alice@example.com"), oauth2.SetAuthURLParam("prompt", "login")))
	if q.Get("state") != state {
		t.Fatalf("state = %q, want %q", q.Get("state"), state)
	}
	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		t.Fatal("no id_token in token response")
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: "oidc-client"}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("verify id_token: %v", err)
	}
	if idt.Nonce != nonce {
		t.Fatalf("nonce = %q, want %q", idt.Nonce, nonce)
	}
	if idt.Subject != alice.Subject {
		t.Fatalf("sub = %q", idt.Subject)
	}
	var claims struct {
		Email         string `json:"email"`
		EmailVerified bool   `json:"email_verified"`
		GivenName     string `json:"given_name"`
		HD            string `json:"hd"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims.Email != alice.Email || !claims.EmailVerified || claims.GivenName != "Alice" || claims.HD != "example.com" {
		t.Fatalf("claims = %+v", claims)
	}

	reqs := s.Requests()
	if len(reqs) != 2 || reqs[0].Endpoint != "authorize" || reqs[1].Endpoint != "token" {
		t.Fatalf("requests = %+v", reqs)
	}
	a := reqs[0]
	if a.State != state || a.Nonce != nonce || a.CodeChallengeMethod != "S256" || a.CodeChallenge != oauth2.S256ChallengeFromVerifier(verifier) ||
		a.LoginHint != "alice@example.com" || a.Prompt != "login" || a.ClientID != "oidc-client" {
		t.Fatalf("authorize request = %+v", a)
	}
	if reqs[1].CodeVerifier != verifier || reqs[1].Params.Has("client_secret") {
		t.Fatalf("token request = %+v", reqs[1])
	}
}

func TestSetUserChoosesWhoSignsIn(t *testing.T) {
	s := start(t)
	ctx := context.Background()
	p, conf := config(ctx, t, s, "oidc-client", "oidc-secret", oidc.ScopeOpenID, "email")
	for _, u := range []oidcop.User{bob, alice} {
		s.SetUser(u.Subject)
		q := authorize(t, conf.AuthCodeURL("state"))
		tok, err := conf.Exchange(ctx, q.Get("code"))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		idt, err := p.Verifier(&oidc.Config{ClientID: "oidc-client"}).Verify(ctx, tok.Extra("id_token").(string))
		if err != nil {
			t.Fatalf("verify: %v", err)
		}
		var claims map[string]any
		_ = idt.Claims(&claims)
		if idt.Subject != u.Subject || claims["email"] != u.Email || claims["email_verified"] != u.EmailVerified {
			t.Fatalf("signed in %q with claims %v, want %q", idt.Subject, claims, u.Subject)
		}
	}
}

func TestPKCEWrongVerifierRefused(t *testing.T) {
	s := start(t)
	ctx := context.Background()
	_, conf := config(ctx, t, s, "oidc-client", "oidc-secret", oidc.ScopeOpenID)
	for _, method := range []string{"S256", "plain"} {
		t.Run(method, func(t *testing.T) {
			verifier := oauth2.GenerateVerifier()
			challenge := oauth2.S256ChallengeOption(verifier)
			if method == "plain" {
				challenge = oauth2.SetAuthURLParam("code_challenge", verifier)
			}
			q := authorize(t, conf.AuthCodeURL("state", challenge))
			_, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier()))
			assertOAuthError(t, err, "invalid_grant")

			q = authorize(t, conf.AuthCodeURL("state", challenge))
			_, err = conf.Exchange(ctx, q.Get("code"))
			assertOAuthError(t, err, "invalid_request")

			q = authorize(t, conf.AuthCodeURL("state", challenge))
			if _, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier)); err != nil {
				t.Fatalf("right verifier refused: %v", err)
			}
		})
	}
}

func TestCodeIsSingleUse(t *testing.T) {
	s := start(t)
	ctx := context.Background()
	_, conf := config(ctx, t, s, "oidc-client", "oidc-secret", oidc.ScopeOpenID)
	q := authorize(t, conf.AuthCodeURL("state"))
	if _, err := conf.Exchange(ctx, q.Get("code")); err != nil {
		t.Fatalf("first exchange: %v", err)
	}
	_, err := conf.Exchange(ctx, q.Get("code"))
	assertOAuthError(t, err, "invalid_grant")
}

func TestCodeRedeemedOnceUnderConcurrency(t *testing.T) {
	s := start(t)
	ctx := context.Background()
	_, conf := config(ctx, t, s, "oidc-client", "oidc-secret", oidc.ScopeOpenID)
	conf.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	code := authorize(t, conf.AuthCodeURL("state")).Get("code")
	const n = 8
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := conf.Exchange(ctx, code)
			errs <- err
		}()
	}
	won := 0
	for range n {
		if err := <-errs; err == nil {
			won++
		} else {
			assertOAuthError(t, err, "invalid_grant")
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d concurrent exchanges of one code succeeded", won, n)
	}
}

func TestEndpointsMatchDiscovery(t *testing.T) {
	s := start(t)
	p, err := oidc.NewProvider(context.Background(), s.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	e := s.Endpoints()
	if e.Authorization != p.Endpoint().AuthURL || e.Token != p.Endpoint().TokenURL || e.Userinfo != p.UserInfoEndpoint() {
		t.Fatalf("endpoints %+v, discovery %+v %s", e, p.Endpoint(), p.UserInfoEndpoint())
	}
	var disc struct {
		JWKS string `json:"jwks_uri"`
	}
	if err := p.Claims(&disc); err != nil || disc.JWKS != e.JWKS {
		t.Fatalf("jwks_uri %q, want %q (%v)", disc.JWKS, e.JWKS, err)
	}
}

func TestRedirectURIMustMatch(t *testing.T) {
	s := start(t)
	ctx := context.Background()
	_, conf := config(ctx, t, s, "oidc-client", "oidc-secret", oidc.ScopeOpenID)
	conf.RedirectURL = redirect + "/other"
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(conf.AuthCodeURL("state"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Fatalf("unregistered redirect_uri: status %d, location %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	// The token endpoint checks the redirect_uri against the one authorized.
	conf.RedirectURL = redirect
	q := authorize(t, conf.AuthCodeURL("state"))
	_, err = conf.Exchange(ctx, q.Get("code"), oauth2.SetAuthURLParam("redirect_uri", redirect+"/other"))
	assertOAuthError(t, err, "invalid_grant")
}

func TestWrongClientSecretRefused(t *testing.T) {
	s := start(t)
	ctx := context.Background()
	_, conf := config(ctx, t, s, "oidc-client", "oidc-secret", oidc.ScopeOpenID)
	q := authorize(t, conf.AuthCodeURL("state"))
	conf.ClientSecret = "wrong"
	_, err := conf.Exchange(ctx, q.Get("code"))
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response.StatusCode < 400 || re.Response.StatusCode >= 500 {
		t.Fatalf("wrong secret: %v", err)
	}
}

func TestOAuth2OnlyClientUsesUserinfo(t *testing.T) {
	s := start(t)
	s.SetUser(bob.Subject)
	ctx := context.Background()
	p, conf := config(ctx, t, s, "github-like", "gh-secret", "user:email")
	q := authorize(t, conf.AuthCodeURL("state"))
	tok, err := conf.Exchange(ctx, q.Get("code"))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if tok.Extra("id_token") != nil {
		t.Fatalf("OAuth2-only client got an id_token")
	}
	if s.Requests()[0].Scopes[0] != "user:email" {
		t.Fatalf("scopes seen = %v", s.Requests()[0].Scopes)
	}

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.UserInfoEndpoint(), nil)
	tok.SetAuthHeader(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var claims map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&claims); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("userinfo: status %d, %v", resp.StatusCode, err)
	}
	if claims["sub"] != bob.Subject || claims["email"] != bob.Email || claims["email_verified"] != false || claims["name"] != bob.Name {
		t.Fatalf("userinfo claims = %v", claims)
	}

	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, p.UserInfoEndpoint(), nil)
	req.Header.Set("Authorization", "Bearer not-a-token")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("userinfo with a bad token: status %d", resp.StatusCode)
	}
}

func TestIDTokenVerifiesForAudience(t *testing.T) {
	s := start(t)
	ctx := context.Background()
	p, err := oidc.NewProvider(ctx, s.Issuer)
	if err != nil {
		t.Fatal(err)
	}

	raw := s.IDToken(t, "oidc-client", alice.Subject, "n-0S6_WzA2Mj")
	idt, err := p.Verifier(&oidc.Config{ClientID: "oidc-client"}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	var claims map[string]any
	_ = idt.Claims(&claims)
	if idt.Nonce != "n-0S6_WzA2Mj" || idt.Subject != alice.Subject || claims["email"] != alice.Email {
		t.Fatalf("id_token = %+v, claims %v", idt, claims)
	}

	raw = s.IDToken(t, "oidc-client", alice.Subject, "", "ios-app")
	if _, err := p.Verifier(&oidc.Config{ClientID: "ios-app"}).Verify(ctx, raw); err != nil {
		t.Fatalf("verify for ios-app: %v", err)
	}
	if _, err := p.Verifier(&oidc.Config{ClientID: "oidc-client"}).Verify(ctx, raw); err == nil {
		t.Fatal("token for ios-app verified for oidc-client")
	}

	other := start(t)
	if _, err := p.Verifier(&oidc.Config{ClientID: "oidc-client"}).Verify(ctx, other.IDToken(t, "oidc-client", alice.Subject, "")); err == nil {
		t.Fatal("token from another provider verified")
	}
}

func assertOAuthError(t *testing.T, err error, code string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("want OAuth2 error %q, got %v", code, err)
	}
	if re.ErrorCode != code || re.Response.StatusCode != http.StatusBadRequest {
		t.Fatalf("want %q with 400, got %q with %d (%s)", code, re.ErrorCode, re.Response.StatusCode, re.ErrorDescription)
	}
}
