package session

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// What session.whoami.required_aal and selfservice.flows.settings.required_aal
// may ask for.
const (
	// RequireAAL1 accepts any signed-in session.
	RequireAAL1 = "aal1"
	// RequireHighestAvailable asks for the second factor whenever the
	// identity has one. It is the default.
	RequireHighestAvailable = "highest_available"
)

// legacyAAL is the level of an authentication method recorded before
// entries carried their own (Kratos's older sessions); methods not listed
// prove nothing by themselves.
var legacyAAL = map[string]string{
	"password": AAL1, "oidc": AAL1, "code_recovery": AAL1, "v0.6_legacy_session": AAL1,
	"webauthn": AAL2, "totp": AAL2, "lookup_secret": AAL2,
}

// AALOf is the assurance level a list of completed authentication methods
// proves, by Kratos's rules: a first and a second factor make aal2, a
// first factor alone aal1; methods without a first factor still count as
// aal1, and no method at all is aal0.
func AALOf(methods []Method) string {
	var first, second bool
	for _, m := range methods {
		aal := m.AAL
		if aal == "" {
			aal = legacyAAL[m.Method]
		}
		switch aal {
		case AAL1:
			first = true
		case AAL2:
			second = true
		}
	}
	switch {
	case first && second:
		return AAL2
	case len(methods) > 0:
		return AAL1
	}
	return AAL0
}

// proven checks the level a method claims to have proved: a sign-in
// proves one factor or two, never none.
func proven(aal string) error {
	if aal != AAL1 && aal != AAL2 {
		return fmt.Errorf("session: an authentication method proves aal1 or aal2, not %q", aal)
	}
	return nil
}

// AddMethod records that session s has now also completed method at
// level aal, without making the sign-in any fresher: a second factor set
// up in settings counts at once, yet a privileged change still needs a
// recent sign-in. It runs inside the caller's transaction.
func (m *Manager) AddMethod(ctx context.Context, q *store.Q, s *Session, method, aal string) error {
	return m.appendMethod(ctx, q, s, Method{Method: method, AAL: aal}, false)
}

// AddMethodWith is AddMethod for an authentication method with more to
// record (the provider of a social account linked in settings).
func (m *Manager) AddMethodWith(ctx context.Context, q *store.Q, s *Session, am Method) error {
	return m.appendMethod(ctx, q, s, am, false)
}

// appendMethod adds one completed method to s and recomputes its level;
// fresh also moves authenticated_at to now (a sign-in on the session).
// The row is locked before its methods are read, so that two appends
// racing on one session both land, on SQLite and PostgreSQL alike.
func (m *Manager) appendMethod(ctx context.Context, q *store.Q, s *Session, am Method, fresh bool) error {
	if err := proven(am.AAL); err != nil {
		return err
	}
	now := store.Now()
	res, err := q.Exec(ctx, `UPDATE sessions SET updated_at = $2 WHERE id = $1`, s.ID, now)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrSessionNotFound
	}
	var raw string
	if err := q.QueryRow(ctx, `SELECT authentication_methods FROM sessions WHERE id = $1`, s.ID).Scan(&raw); err != nil {
		return err
	}
	var methods []Method
	if err := json.Unmarshal([]byte(raw), &methods); err != nil {
		return err
	}
	am.CompletedAt = now
	methods = append(methods, am)
	level := AALOf(methods)
	encoded, err := json.Marshal(methods)
	if err != nil {
		return err
	}
	expires := now.Add(m.cfg.Lifespan)
	if fresh {
		// A sign-in on the session starts it afresh, as Kratos does: issued
		// and authenticated now, and a whole lifespan to go.
		_, err = q.Exec(ctx, `UPDATE sessions SET authentication_methods = $2, aal = $3, issued_at = $4, authenticated_at = $4, expires_at = $5 WHERE id = $1`,
			s.ID, string(encoded), level, now, expires)
	} else {
		_, err = q.Exec(ctx, `UPDATE sessions SET authentication_methods = $2, aal = $3 WHERE id = $1`,
			s.ID, string(encoded), level)
	}
	if err != nil {
		return err
	}
	s.Methods, s.AAL, s.UpdatedAt = methods, level, now
	if fresh {
		s.IssuedAt, s.AuthenticatedAt, s.ExpiresAt = now, now, expires
	}
	return nil
}

// AvailableAAL is the highest level identity i can sign in at, under the
// server's factor rules.
func (m *Manager) AvailableAAL(i *identity.Identity) string {
	return m.cfg.Factors.AvailableAAL(i)
}

// SatisfiesAAL reports whether s meets required (RequireAAL1 or
// RequireHighestAvailable; empty means the default, highest available).
// A session that used a second factor always does; with
// highest_available, one below aal2 does only while its identity has no
// second factor. It reads only the identity s carries, so whoami stays
// one query.
func (m *Manager) SatisfiesAAL(s *Session, required string) bool {
	switch {
	case s.AAL >= AAL2:
		return true
	case s.AAL < AAL1:
		return false
	case required == RequireAAL1:
		return true
	}
	return s.Identity == nil || !m.cfg.Factors.HasSecondFactor(s.Identity)
}

// ErrAAL2Required is Kratos's session_aal2_required: the session must
// sign in with its second factor first. The login URL it points browsers
// at comes back to returnTo when that is set.
func ErrAAL2Required(publicURL, returnTo string) *wire.Error {
	q := url.Values{}
	q.Set("aal", AAL2)
	if returnTo != "" {
		q.Set("return_to", returnTo)
	}
	to := publicURL + "self-service/login/browser?" + q.Encode()
	return wire.Forbidden.WithID("session_aal2_required").
		WithReason("The identity has a second factor this session has not used; sign in with it to continue.").
		WithDetail("redirect_browser_to", to)
}
