// Package oidc is the provider side of social sign-in: it talks to OpenID
// Connect and OAuth2 providers (authorization URL, code exchange, ID token
// verification, profile APIs) and maps their claims to identity traits
// with Jsonnet, as Kratos's oidc method does.
package oidc

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/lanyard-id/lanyard/internal/config"
)

// errNotSupported is returned by NewProvider for presets Kratos knows and
// Lanyard does not serve yet.
var errNotSupported = errors.New("not supported yet")

// discoveryError is a provider whose discovery document could not be
// read: it may be down for a while, so setting it up is worth retrying,
// unlike a configuration Lanyard cannot serve.
type discoveryError struct{ err error }

func (e discoveryError) Error() string { return e.err.Error() }
func (e discoveryError) Unwrap() error { return e.err }

// Provider is one configured social sign-in provider.
type Provider struct {
	cfg      config.OIDCProvider
	preset   preset
	oauth    oauth2.Config
	hc       *http.Client
	oidc     *gooidc.Provider // nil for OAuth2-only presets
	verifier *gooidc.IDTokenVerifier
	pkce     bool
	// sharedTenant: Microsoft's common, organizations or consumers
	// endpoints, whose tokens carry the user's own tenant as issuer.
	sharedTenant bool
	// API URLs, copied from the preset so tests can point them elsewhere.
	profileURL, emailsURL, meURL string
}

// NewProvider prepares cfg for use, running discovery for OpenID Connect
// presets. redirectURI is the callback registered with the provider; hc
// makes every request to it (nil: http.DefaultClient).
func NewProvider(ctx context.Context, cfg config.OIDCProvider, redirectURI string, hc *http.Client) (*Provider, error) {
	pr, ok := presets[cfg.Provider]
	if !ok {
		return nil, fmt.Errorf("oidc provider %s: provider %q is %w", cfg.ID, cfg.Provider, errNotSupported)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	p := &Provider{
		cfg: cfg, preset: pr, hc: hc,
		profileURL: pr.profileURL, emailsURL: pr.emailsURL, meURL: pr.meURL,
		oauth: oauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			RedirectURL:  redirectURI,
			Scopes:       slices.Clone(cfg.Scope),
			Endpoint:     oauth2.Endpoint{AuthURL: pr.authURL, TokenURL: pr.tokenURL},
		},
	}
	if cfg.Provider == "generic" && !slices.Contains(p.oauth.Scopes, gooidc.ScopeOpenID) {
		p.oauth.Scopes = append(p.oauth.Scopes, gooidc.ScopeOpenID)
	}
	if pr.signedClientSecret {
		// Checked now so a bad key fails at start-up, not at the first sign-in.
		if _, err := appleClientSecret(cfg); err != nil {
			return nil, fmt.Errorf("oidc provider %s: %w", cfg.ID, err)
		}
	}

	discoveredS256 := false
	if !pr.oauth2Only {
		issuer := issuerURL(cfg, pr)
		if issuer == "" {
			return nil, fmt.Errorf("oidc provider %s: issuer_url is required for provider %s", cfg.ID, cfg.Provider)
		}
		// Keys are fetched later, after the caller's context has ended.
		dctx := gooidc.ClientContext(context.WithoutCancel(ctx), hc)
		p.sharedTenant = pr.multiTenant && cfg.IssuerURL == "" && slices.Contains([]string{"common", "organizations", "consumers"}, cfg.MicrosoftTenant)
		if p.sharedTenant {
			// Their discovery documents name a templated issuer.
			dctx = gooidc.InsecureIssuerURLContext(dctx, strings.ReplaceAll(pr.issuer, "{tenant}", "{tenantid}"))
		}
		op, err := gooidc.NewProvider(dctx, issuer)
		if err != nil {
			return nil, discoveryError{fmt.Errorf("oidc provider %s: discovery at %s: %w", cfg.ID, issuer, err)}
		}
		p.oidc = op
		discovered := op.Endpoint()
		p.oauth.Endpoint.AuthURL, p.oauth.Endpoint.TokenURL = discovered.AuthURL, discovered.TokenURL
		var meta struct {
			CodeChallengeMethods []string `json:"code_challenge_methods_supported"`
			TokenAuthMethods     []string `json:"token_endpoint_auth_methods_supported"`
		}
		if err := op.Claims(&meta); err == nil {
			discoveredS256 = slices.Contains(meta.CodeChallengeMethods, "S256")
			// Guessing would send the secret twice to a provider that only takes one style.
			switch {
			case slices.Contains(meta.TokenAuthMethods, "client_secret_basic"):
				p.oauth.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
			case slices.Contains(meta.TokenAuthMethods, "client_secret_post"):
				p.oauth.Endpoint.AuthStyle = oauth2.AuthStyleInParams
			}
		}
		p.verifier = op.Verifier(&gooidc.Config{ClientID: cfg.ClientID, SkipIssuerCheck: p.sharedTenant})
	}
	if pr.signedClientSecret {
		// Apple takes the signed secret as a form parameter only.
		p.oauth.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	}
	if cfg.AuthURL != "" {
		p.oauth.Endpoint.AuthURL = cfg.AuthURL
	}
	if cfg.TokenURL != "" {
		p.oauth.Endpoint.TokenURL = cfg.TokenURL
	}
	if p.oauth.Endpoint.AuthURL == "" || p.oauth.Endpoint.TokenURL == "" {
		return nil, fmt.Errorf("oidc provider %s: auth_url and token_url are required", cfg.ID)
	}
	switch cfg.PKCE {
	case config.PKCEForce:
		p.pkce = true
	case config.PKCENever:
	default:
		p.pkce = discoveredS256
	}
	return p, nil
}

// issuerURL is where discovery starts: the configured issuer_url, else
// the preset's.
func issuerURL(cfg config.OIDCProvider, pr preset) string {
	if cfg.IssuerURL != "" {
		return cfg.IssuerURL
	}
	return strings.ReplaceAll(pr.issuer, "{tenant}", url.PathEscape(cfg.MicrosoftTenant))
}

// Config is the provider's configuration.
func (p *Provider) Config() config.OIDCProvider { return p.cfg }

// AuthOrigin is the scheme and host browsers are sent to for signing in,
// which a page's form-action policy must allow.
func (p *Provider) AuthOrigin() string {
	u, err := url.Parse(p.oauth.Endpoint.AuthURL)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// UsesPKCE reports whether sign-ins need a PKCE verifier
// (oauth2.GenerateVerifier), bound to the flow until the callback.
func (p *Provider) UsesPKCE() bool { return p.pkce }

// upstreamKeys are the upstream_parameters passed on to providers.
var upstreamKeys = []string{"login_hint", "hd", "prompt", "auth_type", "acr_values"}

// AuthCodeURL is where the browser goes to sign in at the provider. state
// and nonce bind the answer to the flow; pkceVerifier is used when
// UsesPKCE. upstream parameters other than upstreamKeys are dropped;
// refresh asks the provider to sign the user in again where Kratos does.
func (p *Provider) AuthCodeURL(state, nonce, pkceVerifier string, upstream map[string]string, refresh bool) string {
	var opts []oauth2.AuthCodeOption
	if p.oidc != nil && nonce != "" {
		opts = append(opts, gooidc.Nonce(nonce))
	}
	if p.pkce && pkceVerifier != "" {
		opts = append(opts, oauth2.S256ChallengeOption(pkceVerifier))
	}
	if p.preset.requestedClaims && len(p.cfg.RequestedClaims) > 0 {
		if b, err := json.Marshal(p.cfg.RequestedClaims); err == nil {
			opts = append(opts, oauth2.SetAuthURLParam("claims", string(b)))
		}
	}
	if p.preset.formPost && (slices.Contains(p.oauth.Scopes, "email") || slices.Contains(p.oauth.Scopes, "name")) {
		opts = append(opts, oauth2.SetAuthURLParam("response_mode", "form_post"))
	}
	for _, k := range upstreamKeys {
		if v, ok := upstream[k]; ok && v != "" {
			opts = append(opts, oauth2.SetAuthURLParam(k, v))
		}
	}
	if refresh && p.preset.refreshPrompt {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "login"))
	}
	return p.oauth.AuthCodeURL(state, opts...)
}

// Tokens are what the provider issued; the caller encrypts them at rest.
type Tokens struct {
	AccessToken, RefreshToken, IDToken string
}

// Exchange redeems the authorization code and reads the user's claims.
// An id_token is verified (issuer, audience, expiry, signature) and must
// carry nonce. Errors never include tokens or the code.
func (p *Provider) Exchange(ctx context.Context, code, pkceVerifier, nonce string) (*Claims, *Tokens, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, p.hc)
	conf := p.oauth
	if p.preset.signedClientSecret {
		secret, err := appleClientSecret(p.cfg)
		if err != nil {
			return nil, nil, err
		}
		conf.ClientSecret = secret
	}
	var opts []oauth2.AuthCodeOption
	if p.pkce {
		opts = append(opts, oauth2.VerifierOption(pkceVerifier))
	}
	tok, err := conf.Exchange(ctx, code, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("oidc provider %s: exchanging the code: %w", p.cfg.ID, redactedTokenError(err))
	}
	tokens := &Tokens{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken}
	if s, ok := tok.Extra("id_token").(string); ok {
		tokens.IDToken = s
	}

	var claims *Claims
	if p.preset.oauth2Only {
		claims, err = p.profileClaims(ctx, tok)
	} else {
		claims, err = p.oidcClaims(ctx, tok, tokens.IDToken, nonce)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("oidc provider %s: %w", p.cfg.ID, err)
	}
	if err := claims.check(); err != nil {
		return nil, nil, fmt.Errorf("oidc provider %s: %w", p.cfg.ID, err)
	}
	return claims, tokens, nil
}

// redactedTokenError keeps the provider's error code and drops its body,
// which may echo what was sent.
func redactedTokenError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.ErrorCode != "" {
			return fmt.Errorf("the provider answered %s", re.ErrorCode)
		}
		if re.Response != nil {
			return fmt.Errorf("the provider answered %s", re.Response.Status)
		}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s %s: %w", ue.Op, redactURL(ue.URL), ue.Err)
	}
	return errors.New("the token request failed")
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(url)"
	}
	u.RawQuery, u.User = "", nil
	return u.String()
}

// ErrNonceMismatch means the id_token was not issued for this flow.
var ErrNonceMismatch = errors.New("the id_token's nonce does not match the flow")

func (p *Provider) oidcClaims(ctx context.Context, tok *oauth2.Token, rawIDToken, nonce string) (*Claims, error) {
	vctx := gooidc.ClientContext(ctx, p.hc)
	if rawIDToken == "" {
		if p.cfg.ClaimsSource != config.ClaimsSourceUserinfo {
			return nil, errors.New("the token response has no id_token")
		}
		// An OAuth2-only server: state and PKCE bind the answer, there is
		// no nonce to check.
		raw, err := p.userinfo(vctx, tok, "")
		if err != nil {
			return nil, err
		}
		issuer, err := p.discoveredIssuer()
		if err != nil {
			return nil, err
		}
		return p.claimsOf(ctx, tok, raw, issuer)
	}
	idt, err := p.verifier.Verify(vctx, rawIDToken)
	if err != nil {
		return nil, fmt.Errorf("verifying the id_token: %w", err)
	}
	if p.sharedTenant {
		if err := p.checkTenantIssuer(idt); err != nil {
			return nil, err
		}
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 || nonce == "" {
		return nil, ErrNonceMismatch
	}
	raw := map[string]any{}
	if err := idt.Claims(&raw); err != nil {
		return nil, fmt.Errorf("reading the id_token: %w", err)
	}
	if p.cfg.ClaimsSource == config.ClaimsSourceUserinfo {
		if raw, err = p.userinfo(vctx, tok, idt.Subject); err != nil {
			return nil, err
		}
	}
	return p.claimsOf(ctx, tok, raw, idt.Issuer)
}

// checkTenantIssuer accepts, for Microsoft's shared tenants, only the
// issuer of the tenant the token names.
func (p *Provider) checkTenantIssuer(idt *gooidc.IDToken) error {
	var c struct {
		TenantID string `json:"tid"`
	}
	if err := idt.Claims(&c); err != nil || c.TenantID == "" {
		return errors.New("the id_token names no tenant")
	}
	if want := strings.ReplaceAll(p.preset.issuer, "{tenant}", url.PathEscape(c.TenantID)); idt.Issuer != want {
		return errors.New("the id_token's issuer is not its tenant's")
	}
	return nil
}

// profileClaims reads an OAuth2 preset's profile API, and its address
// list where it has one.
func (p *Provider) profileClaims(ctx context.Context, tok *oauth2.Token) (*Claims, error) {
	raw, err := p.getJSON(ctx, tok, p.profileURL)
	if err != nil {
		return nil, err
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return nil, errors.New("the profile API did not answer an object")
	}
	claims := claimsFromProfile(obj, p.preset.profile)
	claims.Issuer = p.preset.iss
	if p.emailsURL != "" && (len(p.preset.emailsScopes) == 0 || slices.ContainsFunc(p.oauth.Scopes, func(s string) bool {
		return slices.Contains(p.preset.emailsScopes, s)
	})) {
		list, err := p.getJSON(ctx, tok, p.emailsURL)
		if err != nil {
			return nil, err
		}
		var emails []struct {
			Email    string `json:"email"`
			Primary  bool   `json:"primary"`
			Verified bool   `json:"verified"`
		}
		if b, err := json.Marshal(list); err == nil && json.Unmarshal(b, &emails) == nil {
			for _, e := range emails {
				if e.Primary {
					claims.Email, claims.EmailVerified = e.Email, e.Verified
				}
			}
		}
	}
	return claims, nil
}

// maxAPIResponse bounds what a provider's API may answer.
const maxAPIResponse = 1 << 20

func (p *Provider) getJSON(ctx context.Context, tok *oauth2.Token, rawURL string) (any, error) {
	if p.preset.appSecretProof {
		mac := hmac.New(sha256.New, []byte(p.cfg.ClientSecret))
		mac.Write([]byte(tok.AccessToken))
		sep := "?"
		if strings.Contains(rawURL, "?") {
			sep = "&"
		}
		rawURL += sep + "appsecret_proof=" + hex.EncodeToString(mac.Sum(nil))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("profile request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	tok.SetAuthHeader(req)
	res, err := p.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", redactURL(rawURL), errors.Unwrap(err))
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: the provider answered %s", redactURL(rawURL), res.Status)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxAPIResponse+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", redactURL(rawURL), err)
	}
	if len(body) > maxAPIResponse {
		return nil, fmt.Errorf("GET %s: the answer is larger than 1 MiB", redactURL(rawURL))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("GET %s: the answer is not JSON", redactURL(rawURL))
	}
	return v, nil
}

// String keeps the client secret out of logs.
func (p *Provider) String() string { return "oidc.Provider" + p.cfg.String() }

// GoString does the same for %#v.
func (p *Provider) GoString() string { return p.String() }

// String keeps the tokens out of logs.
func (t Tokens) String() string {
	return fmt.Sprintf("{access:%t refresh:%t id:%t (tokens hidden)}", t.AccessToken != "", t.RefreshToken != "", t.IDToken != "")
}

// GoString does the same for %#v.
func (t Tokens) GoString() string { return "oidc.Tokens" + t.String() }
