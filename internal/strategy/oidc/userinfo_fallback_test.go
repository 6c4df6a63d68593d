package oidc

import (
	"context"
	"slices"
	"testing"

	"golang.org/x/oauth2"

	"github.com/lanyard-id/lanyard/internal/config"
)

// TestUserinfoWithoutIDToken signs in at an OAuth2-only server behind a
// generic provider: discovery and userinfo, no id_token in the token
// response.
func TestUserinfoWithoutIDToken(t *testing.T) {
	s := startOP(t)
	cfg := generic(s, config.PKCEAuto)
	cfg.ClientID, cfg.ClientSecret = "oauth2-client", "oauth2-secret"

	t.Run("claims_source userinfo reads the userinfo endpoint", func(t *testing.T) {
		cfg := cfg
		cfg.ClaimsSource = config.ClaimsSourceUserinfo
		p := newProvider(t, cfg)
		verifier := oauth2.GenerateVerifier()
		q := authorize(t, p.AuthCodeURL("state", "the-nonce", verifier, nil, false))
		claims, tokens, err := p.Exchange(context.Background(), q.Get("code"), verifier, "the-nonce")
		if err != nil {
			t.Fatalf("Exchange: %v", err)
		}
		if tokens.IDToken != "" || tokens.AccessToken == "" {
			t.Fatalf("tokens: id %t, access %t", tokens.IDToken != "", tokens.AccessToken != "")
		}
		if claims.Issuer != s.Issuer || claims.RawClaims["iss"] != s.Issuer || claims.Subject != alice.Subject ||
			claims.Email != alice.Email || !claims.EmailVerified || claims.Name != alice.Name || claims.Nonce != "" {
			t.Fatalf("claims = %+v", claims)
		}
		reqs := s.Requests()
		if a := reqs[0]; a.CodeChallengeMethod != "S256" || !slices.Contains(a.Scopes, "openid") {
			t.Fatalf("authorize request = %+v", a)
		}
	})
	t.Run("claims_source id_token still needs the id_token", func(t *testing.T) {
		p := newProvider(t, cfg)
		verifier := oauth2.GenerateVerifier()
		q := authorize(t, p.AuthCodeURL("state", "n", verifier, nil, false))
		if _, _, err := p.Exchange(context.Background(), q.Get("code"), verifier, "n"); err == nil {
			t.Fatal("a token response without id_token was accepted")
		}
	})
	t.Run("an id_token is still checked when there is one", func(t *testing.T) {
		cfg := generic(s, config.PKCENever)
		cfg.ClaimsSource = config.ClaimsSourceUserinfo
		p := newProvider(t, cfg)
		q := authorize(t, p.AuthCodeURL("state", "the-nonce", "", nil, false))
		if _, _, err := p.Exchange(context.Background(), q.Get("code"), "", "another-nonce"); err == nil {
			t.Fatal("a wrong nonce was accepted")
		}
	})
}
