package oidc

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/lanyard-id/lanyard/internal/config"
)

// fakeOP answers discovery, keys and token requests with whatever
// id_token claims a test sets, to reach provider behaviour (Microsoft's
// shared tenants, Apple) that the real test provider cannot show.
type fakeOP struct {
	URL string

	mu        sync.Mutex
	issuer    string         // the discovery document's issuer
	idClaims  map[string]any // signed into the id_token of every token answer
	tokenForm url.Values     // the last token request
	me        map[string]any
}

func startFakeOP(t *testing.T) *fakeOP {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeOP{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{path...}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		switch {
		case strings.HasSuffix(r.URL.Path, "/.well-known/openid-configuration"):
			_ = json.NewEncoder(w).Encode(map[string]any{
				"issuer": f.issuer, "authorization_endpoint": f.URL + "/authorize", "token_endpoint": f.URL + "/token",
				"jwks_uri": f.URL + "/keys", "userinfo_endpoint": f.URL + "/userinfo",
			})
		case r.URL.Path == "/keys":
			_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
		case r.URL.Path == "/me":
			_ = json.NewEncoder(w).Encode(f.me)
		default:
			http.NotFound(w, r)
		}
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		f.mu.Lock()
		defer f.mu.Unlock()
		f.tokenForm = r.PostForm
		idt, err := jwt.Signed(signer).Claims(f.idClaims).Serialize()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 3600, "id_token": idt})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

func (f *fakeOP) set(issuer string, claims map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.issuer = issuer
	claims["exp"] = time.Now().Add(time.Hour).Unix()
	claims["iat"] = time.Now().Unix()
	f.idClaims = claims
}

func TestMicrosoftSharedTenant(t *testing.T) {
	f := startFakeOP(t)
	original := presets["microsoft"]
	ms := original
	ms.issuer = f.URL + "/{tenant}/v2.0"
	presets["microsoft"] = ms
	t.Cleanup(func() { presets["microsoft"] = original })
	f.set(f.URL+"/{tenantid}/v2.0", map[string]any{})
	f.me = map[string]any{"id": "graph-id"}

	tenantIssuer := f.URL + "/tid-1/v2.0"
	for _, tc := range []struct {
		name, subjectSource, iss, tid, wantSub string
	}{
		{"userinfo", "userinfo", tenantIssuer, "tid-1", "pairwise"},
		{"oid", "oid", tenantIssuer, "tid-1", "object-id"},
		{"me", "me", tenantIssuer, "tid-1", "graph-id"},
		{"foreign issuer", "userinfo", f.URL + "/tid-2/v2.0", "tid-1", ""},
		{"no tenant", "userinfo", tenantIssuer, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newProvider(t, config.OIDCProvider{ID: "ms", Provider: "microsoft", ClientID: "ms-client", ClientSecret: "s",
				MicrosoftTenant: "common", SubjectSource: tc.subjectSource, PKCE: config.PKCEAuto, Scope: []string{"openid", "email"}})
			p.meURL = f.URL + "/me"
			claims := map[string]any{"iss": tc.iss, "aud": "ms-client", "sub": "pairwise", "oid": "object-id", "nonce": "n", "email": "a@b.c"}
			if tc.tid != "" {
				claims["tid"] = tc.tid
			}
			f.set(f.URL+"/{tenantid}/v2.0", claims)
			got, _, err := p.Exchange(context.Background(), "code", "", "n")
			if tc.wantSub == "" {
				if err == nil {
					t.Fatalf("accepted: %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Subject != tc.wantSub || got.Issuer != tenantIssuer || got.Object != "object-id" {
				t.Fatalf("claims = %+v", got)
			}
		})
	}
}

func TestAppleExchangeSignsTheClientSecret(t *testing.T) {
	f := startFakeOP(t)
	cfg, key := appleConfig(t, f.URL)
	f.set(f.URL, map[string]any{"iss": f.URL, "aud": cfg.ClientID, "sub": "apple-sub", "nonce": "n",
		"email": "a@privaterelay.appleid.com", "email_verified": "true", "nonce_supported": true})
	p := newProvider(t, cfg)
	claims, tokens, err := p.Exchange(context.Background(), "code", "", "n")
	if err != nil {
		t.Fatal(err)
	}
	if claims.Subject != "apple-sub" || !claims.EmailVerified || !claims.NonceSupported || tokens.IDToken == "" {
		t.Fatalf("claims = %+v", claims)
	}
	f.mu.Lock()
	secret := f.tokenForm.Get("client_secret")
	f.mu.Unlock()
	if secret == "" {
		t.Fatal("no client_secret form parameter")
	}
	tok, err := jwt.ParseSigned(secret, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	var c jwt.Claims
	if err := tok.Claims(&key.PublicKey, &c); err != nil || c.Subject != cfg.ClientID || c.Issuer != cfg.AppleTeamID {
		t.Fatalf("client secret claims %+v, err %v", c, err)
	}

	// An id_token for another audience is refused.
	f.set(f.URL, map[string]any{"iss": f.URL, "aud": "someone-else", "sub": "apple-sub", "nonce": "n"})
	if _, _, err := p.Exchange(context.Background(), "code", "", "n"); err == nil {
		t.Fatal("foreign audience accepted")
	}
}
