package oidcop

import (
	"slices"

	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// User is an account at the provider.
type User struct {
	Subject                     string
	Email                       string
	EmailVerified               bool
	Name, GivenName, FamilyName string
	// Extra claims are always released, whatever the scopes.
	Extra map[string]any
}

// fill releases the user's claims: email under the email scope, names under
// the profile scope, or everything when all is set (plain OAuth2 userinfo
// has no notion of OpenID scopes).
func (u User) fill(info *oidc.UserInfo, scopes []string, all bool) {
	info.Subject = u.Subject
	if all || slices.Contains(scopes, oidc.ScopeEmail) {
		info.Email = u.Email
		info.EmailVerified = oidc.Bool(u.EmailVerified)
		// email_verified=false must be visible, and the library's omitempty would drop it.
		if u.Email != "" && !u.EmailVerified {
			info.AppendClaims("email_verified", false)
		}
	}
	if all || slices.Contains(scopes, oidc.ScopeProfile) {
		info.Name = u.Name
		info.GivenName = u.GivenName
		info.FamilyName = u.FamilyName
	}
	for k, v := range u.Extra {
		info.AppendClaims(k, v)
	}
}
