package oidc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"

	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/lanyard-id/lanyard/internal/flow"
	"github.com/lanyard-id/lanyard/internal/text"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// authKey is where a flow keeps the sign-in it sent to a provider, sealed,
// until the callback comes: which provider, the digest of the state's
// secret, the nonce, the PKCE verifier and the traits already entered.
const authKey = "oidc_auth"

type auth struct {
	Provider    string         `json:"provider"`
	StateDigest string         `json:"state_digest"`
	Nonce       string         `json:"nonce"`
	Verifier    string         `json:"verifier,omitempty"`
	Traits      map[string]any `json:"traits,omitempty"`
}

// Result is what a provider said about the user, once checked: who they
// are there (Claims.Subject), and the tokens it issued.
type Result struct {
	Provider string         `json:"provider"`
	Claims   *Claims        `json:"claims"`
	Tokens   Tokens         `json:"tokens"`
	Traits   map[string]any `json:"traits,omitempty"`
}

// callback is a provider's answer as the callback endpoint received it.
type callback struct {
	provider  string // from the path; "" on the generic callback
	secret    []byte // the state's secret part
	code      string
	errorCode string
}

// Errors of the callback. A state that does not match is tampering or a
// stale tab; one already used is a replay.
var (
	errState     = wire.BadRequest.WithReason("The sign-in at the provider does not belong to this flow. Start again.")
	errStateUsed = wire.BadRequest.WithReason("This sign-in at the provider was used already, or never began here. Start again.")
)

// stateSecretSize is the random part of a state: 256 bits.
const stateSecretSize = 32

// newState makes the state for flow id: the flow's id, so that the
// callback finds the flow on any instance, then a secret only the flow's
// digest can confirm.
func newState(id uuid.UUID) (state string, digest string) {
	secret := make([]byte, stateSecretSize)
	_, _ = rand.Read(secret)
	return base64.RawURLEncoding.EncodeToString(append(id[:], secret...)), digestOf(secret)
}

// parseState splits a state (or a FedCM nonce, made the same way) into
// the flow's id and the secret.
func parseState(s string) (uuid.UUID, []byte, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(raw) != 16+stateSecretSize {
		return uuid.Nil, nil, false
	}
	id, err := uuid.FromBytes(raw[:16])
	return id, raw[16:], err == nil
}

func digestOf(secret []byte) string {
	sum := sha256.Sum256(secret)
	return hex.EncodeToString(sum[:])
}

func sameDigest(secret []byte, digest string) bool {
	return subtle.ConstantTimeCompare([]byte(digestOf(secret)), []byte(digest)) == 1
}

func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// begin sends the browser to p's sign-in page with a state, nonce and
// PKCE challenge bound to the flow.
func (m *Method) begin(s *flow.Submission, p *Provider) (*flow.Outcome, error) {
	f := s.Flow
	state, digest := newState(f.ID)
	a := auth{Provider: p.cfg.ID, StateDigest: digest, Nonce: randomString()}
	if p.UsesPKCE() {
		a.Verifier = oauth2.GenerateVerifier()
	}
	if f.Kind == flow.Registration {
		a.Traits = s.Traits
	}
	sealed, err := m.seal(a)
	if err != nil {
		return nil, err
	}
	f.Internal[authKey] = sealed
	upstream := upstreamOf(s.Payload)
	if f.Kind == flow.Settings {
		delete(upstream, "auth_type") // not among settings' upstream parameters in Kratos
	}
	return &flow.Outcome{Location: p.AuthCodeURL(state, a.Nonce, a.Verifier, upstream, f.Refresh)}, nil
}

// upstreamOf reads upstream_parameters, JSON object or form fields alike.
func upstreamOf(p flow.Payload) map[string]string {
	raw, _ := p[fieldUpstream].(map[string]any)
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

// finishAuth checks the callback against the sign-in the flow sent and
// redeems its code. The sign-in is taken out of the flow first, in a
// transaction of its own, so that a replayed or racing callback finds
// nothing to redeem whatever the provider does with the code.
func (m *Method) finishAuth(ctx context.Context, s *flow.Submission, c *callback) (*Result, error) {
	f := s.Flow
	var a auth
	ok, err := m.open(f, authKey, &a)
	if err != nil {
		return nil, errStateUsed
	}
	if !ok {
		return nil, errStateUsed
	}
	if !sameDigest(c.secret, a.StateDigest) || (c.provider != "" && c.provider != a.Provider) {
		return nil, errState
	}
	if err := flow.Take(ctx, m.kit.Store, f, authKey); err != nil {
		if errors.Is(err, flow.ErrCompleted) {
			return nil, errStateUsed
		}
		return nil, err
	}
	p := m.provider(a.Provider)
	if p == nil {
		return nil, errState
	}
	if c.errorCode != "" {
		return nil, flow.FormMessage(text.ValidationGeneric(label(p) + " did not sign you in (" + c.errorCode + "). Please try again."))
	}
	if c.code == "" {
		return nil, flow.FormMessage(text.ValidationGeneric(label(p) + " answered without an authorization code. Please try again."))
	}
	claims, tokens, err := p.Exchange(ctx, c.code, a.Verifier, a.Nonce)
	if err != nil {
		slog.Warn("a sign-in at a provider could not be completed", "provider", p.cfg.ID, "error", err)
		return nil, flow.FormMessage(text.ValidationGeneric("The sign-in at " + label(p) + " could not be completed. Please try again."))
	}
	return &Result{Provider: p.cfg.ID, Claims: claims, Tokens: *tokens, Traits: a.Traits}, nil
}

// errorCodeOf keeps an OAuth2 error code only when it looks like one, so
// that nothing else a redirect carries reaches the form.
func errorCodeOf(s string) string {
	if len(s) > 64 {
		return "error"
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return "error"
		}
	}
	return strings.ToLower(s)
}
