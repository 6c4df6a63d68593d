package flow

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/lanyard-id/lanyard/internal/wire"
)

// CSRF protects browser flows with the double-submit pattern Kratos uses: a
// random token in an HttpOnly cookie, and the same token, masked with a
// fresh one-time pad on every render, in the flow's csrf_token node.
type CSRF struct {
	cookieName string
	secure     bool
	sameSite   http.SameSite
	domain     string
	path       string
}

const csrfTokenLen = 32

// NewCSRF names the cookie after the public base URL, as Kratos does, so
// that two deployments on one domain do not share tokens.
func NewCSRF(publicBaseURL string, secure bool, domain, path string, sameSite http.SameSite) *CSRF {
	sum := sha256.Sum256([]byte(publicBaseURL))
	if path == "" {
		path = "/"
	}
	if !secure && sameSite == http.SameSiteNoneMode {
		sameSite = http.SameSiteLaxMode // browsers drop SameSite=None cookies that are not Secure
	}
	return &CSRF{cookieName: "csrf_token_" + hex.EncodeToString(sum[:]), secure: secure, sameSite: sameSite, domain: domain, path: path}
}

// CookieName is the name of the CSRF cookie.
func (c *CSRF) CookieName() string { return c.cookieName }

// cookieToken reads the raw token from the request's cookie.
func (c *CSRF) cookieToken(r *http.Request) []byte {
	ck, err := r.Cookie(c.cookieName)
	if err != nil {
		return nil
	}
	raw, err := base64.StdEncoding.DecodeString(ck.Value)
	if err != nil || len(raw) != csrfTokenLen {
		return nil
	}
	return raw
}

// Token answers the request's CSRF token, or nil when it has none.
func (c *CSRF) Token(r *http.Request) []byte { return c.cookieToken(r) }

// Ensure returns the request's CSRF token, creating one and setting the
// cookie when the request has none.
func (c *CSRF) Ensure(w http.ResponseWriter, r *http.Request) []byte {
	if t := c.cookieToken(r); t != nil {
		return t
	}
	t := make([]byte, csrfTokenLen)
	_, _ = rand.Read(t)
	c.set(w, t)
	return t
}

// Rotate replaces the token, as when a session is issued for a new identity.
func (c *CSRF) Rotate(w http.ResponseWriter) []byte {
	t := make([]byte, csrfTokenLen)
	_, _ = rand.Read(t)
	c.set(w, t)
	return t
}

func (c *CSRF) set(w http.ResponseWriter, t []byte) {
	http.SetCookie(w, &http.Cookie{
		Name: c.cookieName, Value: base64.StdEncoding.EncodeToString(t),
		Path: c.path, Domain: c.domain, MaxAge: 365 * 24 * 3600,
		HttpOnly: true, Secure: c.secure, SameSite: c.sameSite,
	})
}

// Mask renders token for a form: base64(pad || token XOR pad).
func Mask(token []byte) string {
	out := make([]byte, 2*len(token))
	_, _ = rand.Read(out[:len(token)])
	for i := range token {
		out[len(token)+i] = token[i] ^ out[i]
	}
	return base64.StdEncoding.EncodeToString(out)
}

func unmask(s string) []byte {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil
	}
	switch len(raw) {
	case 2 * csrfTokenLen:
		t := make([]byte, csrfTokenLen)
		for i := range t {
			t[i] = raw[csrfTokenLen+i] ^ raw[i]
		}
		return t
	case csrfTokenLen:
		return raw
	}
	return nil
}

// TokenHash is what a flow stores to bind itself to the browser's token.
func TokenHash(token []byte) string {
	sum := sha256.Sum256(token)
	return hex.EncodeToString(sum[:])
}

// MatchesFlow reports whether the request's CSRF cookie is the one the
// flow was created with (checked when a browser fetches a flow).
func (c *CSRF) MatchesFlow(r *http.Request, flowTokenHash string) bool {
	t := c.cookieToken(r)
	if t == nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(TokenHash(t)), []byte(flowTokenHash)) == 1
}

// Verify checks a browser submission: the submitted token (form field or
// X-CSRF-Token header) must match the cookie. The error says why not.
func (c *CSRF) Verify(r *http.Request, submitted string) error {
	if submitted == "" {
		submitted = r.Header.Get("X-CSRF-Token")
	}
	reason := ""
	cookie := c.cookieToken(r)
	switch {
	case r.Header.Get("Cookie") == "":
		reason = "The HTTP Cookie Header was not set."
	case cookie == nil:
		reason = "The HTTP Cookie Header was set but did not include the anti-CSRF cookie."
	case submitted == "":
		reason = "The anti-CSRF token was not sent in the request body or the X-CSRF-Token header."
	default:
		t := unmask(submitted)
		if t != nil && subtle.ConstantTimeCompare(t, cookie) == 1 {
			return nil
		}
		reason = "The HTTP Cookie Header was set and the anti-CSRF token was sent, but they do not match."
	}
	return ErrCSRF(r, reason)
}

// ErrCSRF is Kratos's security_csrf_violation error.
func ErrCSRF(r *http.Request, reason string) *wire.Error {
	hint := "Make sure the browser sends the cookies Lanyard set and submit the csrf_token of the flow."
	if strings.EqualFold(r.Header.Get("Sec-Fetch-Mode"), "cors") {
		hint = "This looks like an AJAX request: send it with credentials included (fetch's credentials: 'include', axios's withCredentials) and add the flow's csrf_token to the body."
	}
	return wire.Forbidden.WithID("security_csrf_violation").
		WithReason("The request was refused to protect you from cross-site request forgery (CSRF). Start the flow again; clearing this site's cookies may help.").
		WithDetail("reject_reason", reason).
		WithDetail("hint", hint)
}
