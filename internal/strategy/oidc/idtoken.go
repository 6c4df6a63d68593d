package oidc

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"strings"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

var (
	// ErrIDTokenUnsupported means the provider does not take id_tokens
	// obtained natively; Kratos answers 502 "does not support id_token
	// verification".
	ErrIDTokenUnsupported = errors.New("the provider does not support id_token verification")
	// ErrIDTokenInvalid is wrapped by every reason a submitted id_token is
	// refused: signature, issuer, audience, expiry, nonce, missing subject.
	// Kratos answers 403.
	ErrIDTokenInvalid = errors.New("the id_token could not be verified")
	// ErrIDTokenNonce is wrapped, with ErrIDTokenInvalid, by the nonce
	// refusals, which Kratos v26 answers with their own reasons.
	ErrIDTokenNonce = errors.New("the id_token's nonce does not match the one submitted")
)

// idTokenPresets are the presets that accept native id_token sign-in:
// those whose keys discovery gives.
var idTokenPresets = []string{"google", "apple", "generic"}

// SupportsIDToken reports whether p accepts native id_token sign-in
// (VerifyIDToken).
func (p *Provider) SupportsIDToken() bool {
	return p.oidc != nil && slices.Contains(idTokenPresets, p.cfg.Provider)
}

// VerifyIDToken checks an id_token an app obtained from the provider
// itself (a native SDK, FedCM) and answers its claims as Exchange does.
// The token must be signed by the provider's discovered keys, issued by
// its issuer, unexpired, and for client_id or one of
// additional_id_token_audiences. A token with a nonce needs nonce to
// equal it; one without is taken as Kratos takes it (Google always, Apple
// when the token says nonce_supported, generic only when no nonce was
// submitted). Errors never include the token.
func (p *Provider) VerifyIDToken(ctx context.Context, rawIDToken, nonce string) (*Claims, error) {
	if !p.SupportsIDToken() {
		return nil, fmt.Errorf("oidc provider %s: %w", p.cfg.ID, ErrIDTokenUnsupported)
	}
	// go-oidc checks one client id; the audience list is checked below.
	verifier := p.oidc.Verifier(&gooidc.Config{SkipClientIDCheck: true})
	idt, err := verifier.Verify(gooidc.ClientContext(ctx, p.hc), rawIDToken)
	if err != nil {
		return nil, idTokenError(p.cfg.ID, verificationReason(err))
	}
	accepted := append([]string{p.cfg.ClientID}, p.cfg.AdditionalIDTokenAudiences...)
	if !slices.ContainsFunc(idt.Audience, func(aud string) bool { return aud != "" && slices.Contains(accepted, aud) }) {
		return nil, idTokenError(p.cfg.ID, errors.New("the id_token is for another audience"))
	}
	raw := map[string]any{}
	if err := idt.Claims(&raw); err != nil {
		return nil, idTokenError(p.cfg.ID, errors.New("the id_token's claims are not a JSON object"))
	}
	claims, err := p.claimsOf(ctx, nil, raw, idt.Issuer)
	if err != nil {
		return nil, idTokenError(p.cfg.ID, err)
	}
	if err := claims.check(); err != nil {
		return nil, idTokenError(p.cfg.ID, err)
	}
	if err := p.checkNonce(idt.Nonce, nonce, claims); err != nil {
		return nil, idTokenError(p.cfg.ID, err)
	}
	return claims, nil
}

// checkNonce applies Kratos's rule to the nonce of a native id_token:
// present, it must equal the submitted one; absent, Google's SDKs may
// leave it out, Apple's when the token says nonce_supported (Kratos reads
// the claim so), and a generic provider only if the app submitted none.
func (p *Provider) checkNonce(inToken, submitted string, claims *Claims) error {
	if inToken != "" {
		if submitted == "" {
			return fmt.Errorf("%w: the id_token has a nonce and none was submitted", ErrIDTokenNonce)
		}
		if subtle.ConstantTimeCompare([]byte(inToken), []byte(submitted)) != 1 {
			return fmt.Errorf("%w: the submitted nonce is not the id_token's", ErrIDTokenNonce)
		}
		return nil
	}
	switch p.cfg.Provider {
	case "google":
		return nil
	case "apple":
		if claims.NonceSupported {
			return nil
		}
	default:
		if submitted == "" {
			return nil
		}
	}
	return fmt.Errorf("%w: the id_token has no nonce but the provider requires one", ErrIDTokenNonce)
}

func idTokenError(providerID string, reason error) error {
	return fmt.Errorf("oidc provider %s: %w: %w", providerID, ErrIDTokenInvalid, reason)
}

// verificationReason names why go-oidc refused a token in words of its
// own, so that nothing of the token (a parser may quote a malformed one)
// reaches an error message.
func verificationReason(err error) error {
	var expired *gooidc.TokenExpiredError
	switch {
	case errors.As(err, &expired):
		return errors.New("the id_token has expired")
	case strings.Contains(err.Error(), "issued by a different provider"):
		// go-oidc's issuer error has no type of its own.
		return errors.New("the id_token was issued by another provider")
	default:
		return errors.New("the id_token is malformed or not signed by the provider")
	}
}

// discoveredIssuer is the issuer named by the provider's discovery
// document: the iss of what its userinfo endpoint answers.
func (p *Provider) discoveredIssuer() (string, error) {
	var meta struct {
		Issuer string `json:"issuer"`
	}
	if p.oidc == nil {
		return "", errors.New("the provider has no discovery document")
	}
	if err := p.oidc.Claims(&meta); err != nil || meta.Issuer == "" {
		return "", errors.New("the discovery document names no issuer")
	}
	return meta.Issuer, nil
}

// userinfo reads the claims the provider's userinfo endpoint answers for
// tok. subject, when not empty, is the id_token's, which they must name.
func (p *Provider) userinfo(ctx context.Context, tok *oauth2.Token, subject string) (map[string]any, error) {
	info, err := p.oidc.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		return nil, fmt.Errorf("fetching userinfo: %w", err)
	}
	if subject != "" && info.Subject != subject {
		return nil, errors.New("userinfo names another subject than the id_token")
	}
	raw := map[string]any{}
	if err := info.Claims(&raw); err != nil {
		return nil, fmt.Errorf("reading userinfo: %w", err)
	}
	return raw, nil
}

// claimsOf turns the raw claims of an OpenID Connect provider into
// Claims, iss set to issuer, the subject taken from subject_source. tok
// is nil for a native id_token, which has no access token to call APIs
// with.
func (p *Provider) claimsOf(ctx context.Context, tok *oauth2.Token, raw map[string]any, issuer string) (*Claims, error) {
	raw["iss"] = issuer
	claims := claimsFrom(raw)
	claims.Issuer = issuer
	switch p.cfg.SubjectSource {
	case "oid":
		if p.cfg.Provider == "microsoft" {
			claims.Subject = claims.Object
		}
	case "me":
		if p.meURL != "" {
			if tok == nil {
				return nil, errors.New("subject_source me needs an access token")
			}
			me, err := p.getJSON(ctx, tok, p.meURL)
			if err != nil {
				return nil, err
			}
			id, _ := lookup(me, "id")
			s, _ := id.(string)
			claims.Subject = s
		}
	}
	return claims, nil
}
