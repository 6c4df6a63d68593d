package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/test/oidcop"
)

const redirect = "http://127.0.0.1:1/self-service/methods/oidc/callback/test"

var alice = oidcop.User{Subject: "alice-sub", Email: "Alice@Example.com", EmailVerified: true,
	Name: "Alice Liddell", GivenName: "Alice", FamilyName: "Liddell", Extra: map[string]any{"hd": "example.com"}}

func startOP(t *testing.T) *oidcop.Server {
	return oidcop.Start(t, oidcop.Options{
		Clients: []oidcop.Client{
			{ID: "oidc-client", Secret: "oidc-secret", RedirectURIs: []string{redirect}},
			{ID: "oauth2-client", Secret: "oauth2-secret", RedirectURIs: []string{redirect}, OAuth2Only: true},
		},
		Users: []oidcop.User{alice},
	})
}

func generic(s *oidcop.Server, pkce string) config.OIDCProvider {
	return config.OIDCProvider{
		ID: "test", Provider: "generic", ClientID: "oidc-client", ClientSecret: "oidc-secret", IssuerURL: s.Issuer,
		Scope: []string{"email", "profile"}, PKCE: pkce, ClaimsSource: config.ClaimsSourceIDToken, SubjectSource: "userinfo",
	}
}

func newProvider(t *testing.T, cfg config.OIDCProvider) *Provider {
	t.Helper()
	p, err := NewProvider(context.Background(), cfg, redirect, nil)
	if err != nil {
		t.Fatalf("NewProvider: %v", err)
	}
	return p
}

// authorize follows the provider's redirects to the callback and returns
// its query.
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
	if err != nil || !strings.HasPrefix(loc.String(), redirect) {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("authorize: status %d, location %v: %s", resp.StatusCode, loc, body)
	}
	return loc.Query()
}

func TestGenericProviderWithDiscoveryAndPKCE(t *testing.T) {
	for _, mode := range []string{config.PKCEAuto, config.PKCEForce} {
		t.Run(mode, func(t *testing.T) {
			s := startOP(t)
			p := newProvider(t, generic(s, mode))
			if !p.UsesPKCE() {
				t.Fatal("PKCE not used, though discovery lists S256")
			}
			state, nonce, verifier := rand.Text(), rand.Text(), oauth2.GenerateVerifier()
			q := authorize(t, p.AuthCodeURL(state, nonce, verifier, nil, false))
			if q.Get("state") != state {
				t.Fatalf("state = %q, want %q", q.Get("state"), state)
			}
			claims, tokens, err := p.Exchange(context.Background(), q.Get("code"), verifier, nonce)
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			if claims.Issuer != s.Issuer || claims.Subject != alice.Subject || claims.Email != alice.Email || !claims.EmailVerified ||
				claims.GivenName != "Alice" || claims.HD != "example.com" || claims.Nonce != nonce || claims.RawClaims["hd"] != "example.com" {
				t.Fatalf("claims = %+v", claims)
			}
			if tokens.AccessToken == "" || tokens.IDToken == "" {
				t.Fatalf("tokens missing: access %t, id %t", tokens.AccessToken != "", tokens.IDToken != "")
			}
			reqs := s.Requests()
			a, tok := reqs[0], reqs[len(reqs)-1]
			if a.CodeChallengeMethod != "S256" || a.CodeChallenge != oauth2.S256ChallengeFromVerifier(verifier) || a.Nonce != nonce ||
				!slices.Contains(a.Scopes, "openid") || a.RedirectURI != redirect {
				t.Fatalf("authorize request = %+v", a)
			}
			if tok.Endpoint != "token" || tok.CodeVerifier != verifier {
				t.Fatalf("token request = %+v", tok)
			}
		})
	}
}

func TestPKCEModesFollowDiscovery(t *testing.T) {
	// A provider whose discovery does not list S256.
	var issuer string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": issuer, "authorization_endpoint": issuer + "/auth", "token_endpoint": issuer + "/token",
			"jwks_uri": issuer + "/keys",
		})
	}))
	t.Cleanup(srv.Close)
	issuer = srv.URL
	for mode, want := range map[string]bool{config.PKCEAuto: false, config.PKCEForce: true, config.PKCENever: false} {
		cfg := config.OIDCProvider{ID: "x", Provider: "generic", ClientID: "c", IssuerURL: issuer, PKCE: mode}
		p := newProvider(t, cfg)
		if p.UsesPKCE() != want {
			t.Errorf("pkce %s: UsesPKCE = %t, want %t", mode, p.UsesPKCE(), want)
		}
		u, _ := url.Parse(p.AuthCodeURL("st", "no", oauth2.GenerateVerifier(), nil, false))
		if u.Query().Has("code_challenge") != want {
			t.Errorf("pkce %s: code_challenge in %s", mode, u)
		}
	}
	s := startOP(t)
	if p := newProvider(t, generic(s, config.PKCENever)); p.UsesPKCE() {
		t.Error("pkce never: UsesPKCE")
	}
}

func TestWrongNonceOrVerifierRefused(t *testing.T) {
	s := startOP(t)
	p := newProvider(t, generic(s, config.PKCEAuto))
	ctx := context.Background()
	for _, nonce := range []string{"another-nonce", ""} {
		verifier := oauth2.GenerateVerifier()
		q := authorize(t, p.AuthCodeURL("state", "the-nonce", verifier, nil, false))
		if _, _, err := p.Exchange(ctx, q.Get("code"), verifier, nonce); !errors.Is(err, ErrNonceMismatch) {
			t.Fatalf("nonce %q: err = %v, want ErrNonceMismatch", nonce, err)
		}
	}
	verifier := oauth2.GenerateVerifier()
	code := authorize(t, p.AuthCodeURL("state", "n", verifier, nil, false)).Get("code")
	_, _, err := p.Exchange(ctx, code, oauth2.GenerateVerifier(), "n")
	if err == nil {
		t.Fatal("a wrong PKCE verifier was accepted")
	}
	if strings.Contains(err.Error(), code) || strings.Contains(err.Error(), "oidc-secret") {
		t.Fatalf("error leaks the code or secret: %v", err)
	}
}

func TestClaimsFromUserinfo(t *testing.T) {
	s := startOP(t)
	cfg := generic(s, config.PKCENever)
	cfg.ClaimsSource = config.ClaimsSourceUserinfo
	p := newProvider(t, cfg)
	q := authorize(t, p.AuthCodeURL("state", "n", "", nil, false))
	claims, _, err := p.Exchange(context.Background(), q.Get("code"), "", "n")
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if claims.Subject != alice.Subject || claims.Issuer != s.Issuer || claims.Email != alice.Email || claims.Nonce != "" {
		t.Fatalf("claims = %+v", claims)
	}
}

// withPreset adds a preset for the test only.
func withPreset(t *testing.T, name string, pr preset) {
	presets[name] = pr
	t.Cleanup(func() { delete(presets, name) })
}

func TestOAuth2OnlyProviderWithUserinfo(t *testing.T) {
	s := startOP(t)
	ep := s.Endpoints()
	withPreset(t, "test-oauth2", preset{
		oauth2Only: true, iss: "https://oauth2.example", profileURL: ep.Userinfo,
		profile: map[string]string{"sub": "sub", "email": "email", "email_verified": "email_verified", "name": "name"},
	})
	p := newProvider(t, config.OIDCProvider{
		ID: "test", Provider: "test-oauth2", ClientID: "oauth2-client", ClientSecret: "oauth2-secret",
		AuthURL: ep.Authorization, TokenURL: ep.Token, Scope: []string{"email"}, PKCE: config.PKCEAuto,
	})
	if p.UsesPKCE() {
		t.Fatal("auto PKCE without discovery")
	}
	u, _ := url.Parse(p.AuthCodeURL("state", "nonce", "", nil, false))
	if u.Query().Has("nonce") {
		t.Fatal("an OAuth2-only provider was sent a nonce")
	}
	q := authorize(t, u.String())
	claims, tokens, err := p.Exchange(context.Background(), q.Get("code"), "", "")
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if claims.Issuer != "https://oauth2.example" || claims.Subject != alice.Subject || claims.Email != alice.Email ||
		!claims.EmailVerified || claims.Name != alice.Name {
		t.Fatalf("claims = %+v", claims)
	}
	if tokens.IDToken != "" || tokens.AccessToken == "" {
		t.Fatalf("tokens: id %t, access %t", tokens.IDToken != "", tokens.AccessToken != "")
	}
}

func TestGitHubClaimsFromUserAndEmails(t *testing.T) {
	s := startOP(t)
	ep := s.Endpoints()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/user":
			_, _ = io.WriteString(w, `{"id": 12345678901, "login": "octocat", "name": "The Octocat", "avatar_url": "https://a/x.png", "html_url": "https://github.com/octocat", "blog": "https://octo.example"}`)
		case "/user/emails":
			_, _ = io.WriteString(w, `[{"email": "old@example.com", "primary": false, "verified": true}, {"email": "Octo@Example.com", "primary": true, "verified": true}]`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(api.Close)

	for _, tc := range []struct {
		scope     []string
		wantEmail string
	}{{[]string{"user:email"}, "Octo@Example.com"}, {[]string{"read:user"}, ""}} {
		p := newProvider(t, config.OIDCProvider{
			ID: "gh", Provider: "github", ClientID: "oauth2-client", ClientSecret: "oauth2-secret",
			AuthURL: ep.Authorization, TokenURL: ep.Token, Scope: tc.scope, PKCE: config.PKCEAuto,
		})
		p.profileURL, p.emailsURL = api.URL+"/user", api.URL+"/user/emails"
		q := authorize(t, p.AuthCodeURL("state", "", "", nil, false))
		claims, _, err := p.Exchange(context.Background(), q.Get("code"), "", "")
		if err != nil {
			t.Fatalf("Exchange: %v", err)
		}
		if claims.Issuer != "https://github.com/login/oauth/access_token" || claims.Subject != "12345678901" ||
			claims.Nickname != "octocat" || claims.Name != "The Octocat" || claims.Picture != "https://a/x.png" ||
			claims.Website != "https://octo.example" || claims.Email != tc.wantEmail || claims.EmailVerified != (tc.wantEmail != "") {
			t.Fatalf("scope %v: claims = %+v", tc.scope, claims)
		}
	}
}

func TestMissingSubjectIsAnError(t *testing.T) {
	s := startOP(t)
	ep := s.Endpoints()
	withPreset(t, "test-nosub", preset{oauth2Only: true, iss: "https://x", profileURL: ep.Userinfo, profile: map[string]string{"email": "email"}})
	p := newProvider(t, config.OIDCProvider{ID: "t", Provider: "test-nosub", ClientID: "oauth2-client", ClientSecret: "oauth2-secret",
		AuthURL: ep.Authorization, TokenURL: ep.Token, Scope: []string{"email"}})
	q := authorize(t, p.AuthCodeURL("state", "", "", nil, false))
	if _, _, err := p.Exchange(context.Background(), q.Get("code"), "", ""); !errors.Is(err, errMissingSubject) {
		t.Fatalf("err = %v, want errMissingSubject", err)
	}
}

func TestUpstreamParametersAreFiltered(t *testing.T) {
	s := startOP(t)
	p := newProvider(t, generic(s, config.PKCENever))
	u, err := url.Parse(p.AuthCodeURL("state", "n", "", map[string]string{
		"login_hint": "alice@example.com", "hd": "example.com", "prompt": "select_account", "auth_type": "reauthenticate",
		"acr_values": "mfa", "redirect_uri": "https://evil.example/", "client_id": "other", "scope": "admin", "foo": "bar",
	}, false))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for k, want := range map[string]string{
		"login_hint": "alice@example.com", "hd": "example.com", "prompt": "select_account", "auth_type": "reauthenticate",
		"acr_values": "mfa", "redirect_uri": redirect, "client_id": "oidc-client", "state": "state", "foo": "",
	} {
		if got := q.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if !slices.Contains(strings.Fields(q.Get("scope")), "openid") || strings.Contains(q.Get("scope"), "admin") {
		t.Errorf("scope = %q", q.Get("scope"))
	}
}

func TestRefreshPromptAndRequestedClaims(t *testing.T) {
	s := startOP(t)
	cfg := generic(s, config.PKCENever)
	cfg.RequestedClaims = map[string]any{"id_token": map[string]any{"email": nil}}
	p := newProvider(t, cfg)
	query := func(p *Provider, refresh bool) url.Values {
		u, _ := url.Parse(p.AuthCodeURL("state", "n", "", map[string]string{"prompt": "none"}, refresh))
		return u.Query()
	}
	if got := query(p, true).Get("prompt"); got != "login" {
		t.Errorf("refresh prompt = %q, want login", got)
	}
	if got := query(p, false).Get("prompt"); got != "none" {
		t.Errorf("prompt = %q, want the upstream none", got)
	}
	if got := query(p, false).Get("claims"); got != `{"id_token":{"email":null}}` {
		t.Errorf("claims = %q", got)
	}
	// Google's preset takes the upstream prompt as it is.
	gcfg := cfg
	gcfg.Provider = "google"
	g := newProvider(t, gcfg)
	if got := query(g, true); got.Get("prompt") != "none" || got.Has("claims") {
		t.Errorf("google refresh query = %v", got)
	}
	// A real refresh sign-in at the provider still works.
	q := authorize(t, p.AuthCodeURL("state", "n", "", nil, true))
	if _, _, err := p.Exchange(context.Background(), q.Get("code"), "", "n"); err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if reqs := s.Requests(); reqs[0].Prompt != "login" {
		t.Fatalf("authorize prompt = %q", reqs[0].Prompt)
	}
}

func TestUnsupportedPresets(t *testing.T) {
	for _, name := range config.OIDCPresets {
		_, supported := presets[name]
		_, err := NewProvider(context.Background(), config.OIDCProvider{ID: "x", Provider: name, ClientID: "c"}, redirect, nil)
		if !supported && !errors.Is(err, errNotSupported) {
			t.Errorf("%s: err = %v, want not supported", name, err)
		}
	}
}

func TestOAuth2PresetsHaveEndpoints(t *testing.T) {
	for name, pr := range presets {
		if !pr.oauth2Only {
			continue
		}
		p, err := NewProvider(context.Background(), config.OIDCProvider{ID: "x", Provider: name, ClientID: "c", ClientSecret: "s"}, redirect, nil)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if _, ok := pr.profile["sub"]; !ok || p.profileURL == "" {
			t.Errorf("%s: no subject in the profile table", name)
		}
	}
}

func appleConfig(t *testing.T, issuer string) (config.OIDCProvider, *ecdsa.PrivateKey) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return config.OIDCProvider{
		ID: "apple", Provider: "apple", ClientID: "com.example.app", IssuerURL: issuer, Scope: []string{"email", "name"},
		AppleTeamID: "TEAM123456", ApplePrivateKeyID: "KEY1234567",
		ApplePrivateKey: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		PKCE:            config.PKCENever,
	}, key
}

func TestAppleClientSecretIsASignedJWT(t *testing.T) {
	cfg, key := appleConfig(t, "")
	raw, err := appleClientSecret(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	if len(tok.Headers) != 1 || tok.Headers[0].KeyID != "KEY1234567" {
		t.Fatalf("headers = %+v", tok.Headers)
	}
	var c jwt.Claims
	if err := tok.Claims(&key.PublicKey, &c); err != nil {
		t.Fatalf("signature: %v", err)
	}
	if err := c.Validate(jwt.Expected{Issuer: "TEAM123456", Subject: "com.example.app", AnyAudience: jwt.Audience{"https://appleid.apple.com"}, Time: time.Now()}); err != nil {
		t.Fatalf("claims: %v", err)
	}
	if c.Expiry.Time().Sub(c.IssuedAt.Time()) > 6*30*24*time.Hour {
		t.Fatal("lives longer than Apple allows")
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err := tok.Claims(&other.PublicKey, &c); err == nil {
		t.Fatal("verified with another key")
	}

	cfg.ApplePrivateKey = "not a key"
	if _, err := NewProvider(context.Background(), cfg, redirect, nil); err == nil || strings.Contains(err.Error(), "not a key") {
		t.Fatalf("bad key: err = %v", err)
	}
}

func TestAppleAuthCodeURL(t *testing.T) {
	s := startOP(t)
	cfg, _ := appleConfig(t, s.Issuer)
	p := newProvider(t, cfg)
	u, _ := url.Parse(p.AuthCodeURL("state", "n", "", nil, true))
	q := u.Query()
	if q.Get("response_mode") != "form_post" || q.Get("prompt") != "login" || q.Get("nonce") != "n" {
		t.Fatalf("query = %v", q)
	}
}

func TestSecretsStayOutOfFormatting(t *testing.T) {
	s := startOP(t)
	p := newProvider(t, generic(s, config.PKCENever))
	tokens := &Tokens{AccessToken: "access-secret", RefreshToken: "refresh-secret", IDToken: "id-secret"}
	for _, out := range []string{
		fmt.Sprintf("%v %+v %#v %s", p, p, p, p),
		fmt.Sprintf("%v %+v %#v %s", tokens, tokens, *tokens, *tokens),
	} {
		for _, secret := range []string{"oidc-secret", "access-secret", "refresh-secret", "id-secret"} {
			if strings.Contains(out, secret) {
				t.Errorf("%q shows %s", out, secret)
			}
		}
	}
}
