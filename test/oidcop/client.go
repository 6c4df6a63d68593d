package oidcop

import (
	"net/url"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Client is an OAuth2 client registered at the provider.
type Client struct {
	ID, Secret   string
	RedirectURIs []string
	// OAuth2Only makes the client behave like a plain OAuth2 provider
	// (GitHub and the like): token responses carry no id_token and the
	// profile is only available from the userinfo endpoint.
	OAuth2Only bool
}

// opClient adapts Client to the library's op.Client.
type opClient struct {
	Client
	callback string // the provider's authorize callback, which the auto-login redirects to
}

var _ op.Client = (*opClient)(nil)

func (c *opClient) GetID() string                    { return c.ID }
func (c *opClient) RedirectURIs() []string           { return slices.Clone(c.Client.RedirectURIs) }
func (c *opClient) PostLogoutRedirectURIs() []string { return nil }
func (c *opClient) ApplicationType() op.ApplicationType {
	return op.ApplicationTypeWeb
}

// AuthMethod is basic for confidential clients; the token endpoint accepts
// client_secret_post too because the provider advertises it.
func (c *opClient) AuthMethod() oidc.AuthMethod {
	if c.Secret == "" {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}

func (c *opClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode, oidc.ResponseTypeIDToken, oidc.ResponseTypeIDTokenOnly}
}

func (c *opClient) GrantTypes() []oidc.GrantType { return []oidc.GrantType{oidc.GrantTypeCode} }

// LoginURL skips any login page: the auth request is already signed in as
// the current user, so the browser goes straight to the library's callback.
func (c *opClient) LoginURL(id string) string {
	return c.callback + "?id=" + url.QueryEscape(id)
}

func (c *opClient) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (c *opClient) IDTokenLifetime() time.Duration      { return time.Hour }
func (c *opClient) DevMode() bool                       { return false }
func (c *opClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *opClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// IsScopeAllowed accepts provider-specific scopes such as GitHub's user:email.
func (c *opClient) IsScopeAllowed(string) bool { return true }

// IDTokenUserinfoClaimsAssertion puts the profile claims into the id_token
// even when an access token is issued, as most social providers do.
func (c *opClient) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *opClient) ClockSkew() time.Duration             { return 0 }
