package oidc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/test/oidcop"
)

// assertRefused checks that err refuses a token for the reason want
// (besides ErrIDTokenInvalid) and quotes nothing of it.
func assertRefused(t *testing.T, err error, want error, token string) {
	t.Helper()
	if !errors.Is(err, ErrIDTokenInvalid) {
		t.Fatalf("err = %v, want ErrIDTokenInvalid", err)
	}
	if want != nil && !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
	for _, part := range strings.Split(token, ".") {
		if len(part) > 8 && strings.Contains(err.Error(), part) {
			t.Fatalf("error quotes the token: %v", err)
		}
	}
}

func TestVerifyIDTokenGeneric(t *testing.T) {
	s := startOP(t)
	cfg := generic(s, config.PKCENever)
	cfg.AdditionalIDTokenAudiences = []string{"com.example.ios"}
	p := newProvider(t, cfg)
	if !p.SupportsIDToken() {
		t.Fatal("a generic provider does not support id_tokens")
	}
	ctx := context.Background()

	token := s.IDToken(t, "oidc-client", alice.Subject, "the-nonce")
	claims, err := p.VerifyIDToken(ctx, token, "the-nonce")
	if err != nil {
		t.Fatalf("VerifyIDToken: %v", err)
	}
	if claims.Issuer != s.Issuer || claims.Subject != alice.Subject || claims.Email != alice.Email || !claims.EmailVerified ||
		claims.HD != "example.com" || claims.RawClaims["iss"] != s.Issuer {
		t.Fatalf("claims = %+v", claims)
	}

	t.Run("additional audience", func(t *testing.T) {
		token := s.IDToken(t, "com.example.ios", alice.Subject, "n")
		if _, err := p.VerifyIDToken(ctx, token, "n"); err != nil {
			t.Fatalf("VerifyIDToken: %v", err)
		}
		token = s.IDToken(t, "oidc-client", alice.Subject, "n", "someone-else", "com.example.ios")
		if _, err := p.VerifyIDToken(ctx, token, "n"); err != nil {
			t.Fatalf("one accepted audience among others: %v", err)
		}
	})
	t.Run("foreign audience", func(t *testing.T) {
		token := s.IDToken(t, "someone-else", alice.Subject, "n")
		_, err := p.VerifyIDToken(ctx, token, "n")
		assertRefused(t, err, nil, token)
	})
	t.Run("nonce", func(t *testing.T) {
		for _, tc := range []struct {
			name, inToken, submitted string
			ok                       bool
		}{
			{"equal", "n-1", "n-1", true},
			{"different", "n-1", "n-2", false},
			{"not submitted", "n-1", "", false},
			{"none in the token, none submitted", "", "", true},
			{"none in the token, one submitted", "", "n-1", false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				token := s.IDToken(t, "oidc-client", alice.Subject, tc.inToken)
				_, err := p.VerifyIDToken(ctx, token, tc.submitted)
				if tc.ok {
					if err != nil {
						t.Fatalf("VerifyIDToken: %v", err)
					}
					return
				}
				assertRefused(t, err, ErrIDTokenNonce, token)
			})
		}
	})
	t.Run("another provider's token", func(t *testing.T) {
		other := oidcop.Start(t, oidcop.Options{Users: []oidcop.User{alice}})
		token := other.IDToken(t, "oidc-client", alice.Subject, "n")
		_, err := p.VerifyIDToken(ctx, token, "n")
		assertRefused(t, err, nil, token)
	})
	t.Run("tampered", func(t *testing.T) {
		parts := strings.Split(s.IDToken(t, "oidc-client", alice.Subject, "n"), ".")
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			t.Fatal(err)
		}
		var c map[string]any
		if err := json.Unmarshal(payload, &c); err != nil {
			t.Fatal(err)
		}
		c["sub"] = "mallory"
		forged, _ := json.Marshal(c)
		parts[1] = base64.RawURLEncoding.EncodeToString(forged)
		token := strings.Join(parts, ".")
		_, err = p.VerifyIDToken(ctx, token, "n")
		assertRefused(t, err, nil, token)
	})
	t.Run("garbage", func(t *testing.T) {
		for _, token := range []string{"", "not-a-token", "a.b.c", strings.Repeat("x", 5000)} {
			_, err := p.VerifyIDToken(ctx, token, "n")
			assertRefused(t, err, nil, token)
		}
	})
}

// fakeIDToken has f sign claims, as its token endpoint does.
func fakeIDToken(t *testing.T, f *fakeOP, claims map[string]any, exp time.Time) string {
	t.Helper()
	f.set(f.URL, claims)
	f.mu.Lock()
	f.idClaims["exp"] = exp.Unix()
	f.mu.Unlock()
	res, err := http.PostForm(f.URL+"/token", url.Values{"grant_type": {"authorization_code"}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		IDToken string `json:"id_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || body.IDToken == "" {
		t.Fatalf("token endpoint: %v", err)
	}
	return body.IDToken
}

func TestVerifyIDTokenExpiredForeignOrWithoutSubject(t *testing.T) {
	f := startFakeOP(t)
	f.set(f.URL, map[string]any{})
	p := newProvider(t, config.OIDCProvider{ID: "g", Provider: "google", ClientID: "g-client", ClientSecret: "s", IssuerURL: f.URL})
	claims := func() map[string]any { return map[string]any{"iss": f.URL, "aud": "g-client", "sub": "g-sub"} }
	if _, err := p.VerifyIDToken(context.Background(), fakeIDToken(t, f, claims(), time.Now().Add(time.Hour)), ""); err != nil {
		t.Fatalf("VerifyIDToken: %v", err)
	}
	token := fakeIDToken(t, f, claims(), time.Now().Add(-time.Hour))
	_, err := p.VerifyIDToken(context.Background(), token, "")
	assertRefused(t, err, nil, token)
	if !strings.Contains(err.Error(), "expired") {
		t.Fatalf("err = %v", err)
	}
	foreign := claims()
	foreign["iss"] = "https://accounts.example"
	token = fakeIDToken(t, f, foreign, time.Now().Add(time.Hour))
	_, err = p.VerifyIDToken(context.Background(), token, "")
	assertRefused(t, err, nil, token)
	if !strings.Contains(err.Error(), "another provider") {
		t.Fatalf("err = %v", err)
	}
	noSubject := claims()
	delete(noSubject, "sub")
	token = fakeIDToken(t, f, noSubject, time.Now().Add(time.Hour))
	_, err = p.VerifyIDToken(context.Background(), token, "")
	assertRefused(t, err, errMissingSubject, token)
}

func TestVerifyIDTokenNonceRules(t *testing.T) {
	f := startFakeOP(t)
	f.set(f.URL, map[string]any{})
	google := newProvider(t, config.OIDCProvider{ID: "google", Provider: "google", ClientID: "g-client", ClientSecret: "s", IssuerURL: f.URL})
	appleCfg, _ := appleConfig(t, f.URL)
	apple := newProvider(t, appleCfg)
	exp := time.Now().Add(time.Hour)

	for _, tc := range []struct {
		name      string
		p         *Provider
		claims    map[string]any
		submitted string
		ok        bool
	}{
		{"google, no nonce in the token", google, map[string]any{"aud": "g-client"}, "", true},
		{"google, no nonce in the token, one submitted", google, map[string]any{"aud": "g-client"}, "n", true},
		{"google, nonce equal", google, map[string]any{"aud": "g-client", "nonce": "n"}, "n", true},
		{"google, nonce not submitted", google, map[string]any{"aud": "g-client", "nonce": "n"}, "", false},
		{"google, nonce different", google, map[string]any{"aud": "g-client", "nonce": "n"}, "m", false},
		{"apple, no nonce, nonce_supported", apple, map[string]any{"aud": appleCfg.ClientID, "nonce_supported": true}, "", true},
		{"apple, no nonce, nonce_supported as a string", apple, map[string]any{"aud": appleCfg.ClientID, "nonce_supported": "true"}, "", true},
		{"apple, no nonce, nonce not supported", apple, map[string]any{"aud": appleCfg.ClientID, "nonce_supported": false}, "", false},
		{"apple, no nonce, no nonce_supported", apple, map[string]any{"aud": appleCfg.ClientID}, "n", false},
		{"apple, nonce equal", apple, map[string]any{"aud": appleCfg.ClientID, "nonce": "n", "nonce_supported": true}, "n", true},
		{"apple, nonce different", apple, map[string]any{"aud": appleCfg.ClientID, "nonce": "n", "nonce_supported": true}, "x", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.claims["iss"], tc.claims["sub"] = f.URL, "the-sub"
			token := fakeIDToken(t, f, tc.claims, exp)
			claims, err := tc.p.VerifyIDToken(context.Background(), token, tc.submitted)
			if tc.ok {
				if err != nil {
					t.Fatalf("VerifyIDToken: %v", err)
				}
				if claims.Subject != "the-sub" || claims.Issuer != f.URL {
					t.Fatalf("claims = %+v", claims)
				}
				return
			}
			assertRefused(t, err, ErrIDTokenNonce, token)
		})
	}
}

func TestVerifyIDTokenUnsupported(t *testing.T) {
	s := startOP(t)
	ep := s.Endpoints()
	gh := newProvider(t, config.OIDCProvider{ID: "gh", Provider: "github", ClientID: "c", ClientSecret: "s", AuthURL: ep.Authorization, TokenURL: ep.Token})
	gl := generic(s, config.PKCENever)
	gl.Provider = "gitlab"
	for _, p := range []*Provider{gh, newProvider(t, gl)} {
		if p.SupportsIDToken() {
			t.Errorf("%s supports id_tokens", p.cfg.Provider)
		}
		token := s.IDToken(t, "oidc-client", alice.Subject, "n")
		if _, err := p.VerifyIDToken(context.Background(), token, "n"); !errors.Is(err, ErrIDTokenUnsupported) || errors.Is(err, ErrIDTokenInvalid) {
			t.Errorf("%s: err = %v, want ErrIDTokenUnsupported", p.cfg.Provider, err)
		}
	}
}
