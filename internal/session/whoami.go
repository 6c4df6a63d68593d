package session

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/store"
)

// sessionRowQuery reads a session with its identity's state and revision;
// callers append the token column and its placeholder.
const sessionRowQuery = `SELECT s.id, s.identity_id, s.active, s.aal, s.authentication_methods, s.devices, s.issued_at, s.authenticated_at, s.expires_at, s.created_at, s.updated_at, i.state, i.revision
FROM sessions s JOIN identities i ON i.id = s.identity_id WHERE s.`

// whoamiJoinColumns are sessionRowQuery's columns with the identity's
// stored public view, in whoamiRow's order.
const whoamiJoinColumns = `s.id, s.identity_id, s.active, s.aal, s.authentication_methods, s.devices, s.issued_at, s.authenticated_at, s.expires_at, s.created_at, s.updated_at, i.state, i.revision,
i.schema_id, i.public_view, i.public_view_factors, i.public_view_revision`

// whoamiQuery reads whoamiJoinColumns of one token's session.
const whoamiQuery = `SELECT ` + whoamiJoinColumns + `
FROM sessions s JOIN identities i ON i.id = s.identity_id WHERE s.token_hash = $1`

// whoamiKeyedQuery reads the same columns from SQLite's session_whoami
// (migration 0012), which triggers keep as the join would answer it: one
// descent of one table instead of four, however many sessions there are.
const whoamiKeyedQuery = `SELECT ` + whoamiColumns + ` FROM session_whoami WHERE k = $1 AND token_hash = $2`

// whoamiColumns are session_whoami's columns in whoamiRow's order.
const whoamiColumns = `session_id, identity_id, active, aal, authentication_methods, devices, issued_at, authenticated_at, expires_at, created_at, updated_at, identity_state, identity_revision,
schema_id, public_view, public_view_factors, public_view_revision`

// whoamiKey is session_whoami's key for a token's SHA-256: its first 60
// bits, as sessions.whoami_key computes them from the digest's hex.
func whoamiKey(sum *[sha256.Size]byte) int64 {
	return int64(binary.BigEndian.Uint64(sum[:8]) >> 4)
}

func (m *Manager) prepareWhoami(s *store.Store) {
	m.whoamiRead = s.Prepare(whoamiQuery)
	if s.Dialect() == store.SQLite {
		m.whoamiKeyed = s.Prepare(whoamiKeyedQuery)
	} else {
		m.whoamiReads = newWhoamiReads(s, m.cfg.WhoamiCache)
	}
}

// sessionRow is a session as the database has it, with its identity's state
// and revision.
type sessionRow struct {
	id, identityID                            uuid.UUID
	active                                    bool
	aal, methods, devices, identityState      string
	issued, authed, expires, created, updated store.Time
	identityRevision                          int64
}

func (r *sessionRow) fields() []any {
	return []any{&r.id, &r.identityID, &r.active, &r.aal, &r.methods, &r.devices,
		&r.issued, &r.authed, &r.expires, &r.created, &r.updated, &r.identityState, &r.identityRevision}
}

func (r *sessionRow) scan(row *store.Row) error {
	return noSession(row.Scan(r.fields()...))
}

func noSession(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return ErrNoSession
	}
	return err
}

// valid reports whether the row is an active, unexpired session of an
// active identity.
func (r *sessionRow) valid(now time.Time) bool {
	return r.active && now.Before(r.expires.Time) && r.identityState == identity.StateActive
}

// Answer is whoami's response for one session.
type Answer struct {
	IdentityID string
	// AALSatisfied is false when whoami must answer session_aal2_required.
	AALSatisfied bool
	Body         []byte
}

// Whoami answers the session holding token as whoami renders it, or
// ErrNoSession. It costs one indexed query: the identity's public view
// comes with the session row, valid for the identity revision that row
// shows, so every instance answers every change at once; on SQLite the row
// may come from the WhoamiCache instead, which is as exact. An identity
// whose stored view is missing or older (changed since it was stored) is
// rendered from its rows, and its view stored again.
func (m *Manager) Whoami(ctx context.Context, token string) (*Answer, error) {
	sum := sha256.Sum256([]byte(token))
	r, err := m.whoamiRow(ctx, &sum)
	if err != nil {
		return nil, noSession(err)
	}
	row := &r.sessionRow
	if !row.valid(time.Now()) {
		return nil, ErrNoSession
	}
	view, factors := r.view.String, r.factors
	if !r.current() {
		s, err := m.fromRow(ctx, row)
		if err != nil {
			return nil, err
		}
		pv, err := identity.PublicViewOf(s.Identity)
		if err != nil {
			return nil, err
		}
		if s.Identity.Revision == row.identityRevision {
			if err := m.ids.StorePublicView(ctx, row.identityID, row.identityRevision, pv); err != nil {
				// The answer stands; the next whoami renders again.
				slog.WarnContext(ctx, "whoami: storing the identity's public view failed", "identity_id", row.identityID, "error", err)
			}
		}
		view, factors = string(pv.JSON), pv.Factors
	}
	return &Answer{
		IdentityID:   row.identityID.String(),
		AALSatisfied: m.satisfiesAALWith(row.aal, factors),
		Body:         m.renderWhoami(row, view, r.schemaID),
	}, nil
}

// whoamiRow reads what whoami answers of the token whose digest is sum: on
// PostgreSQL through whoamiReads, where concurrent reads share queries; on
// SQLite from the cache, from session_whoami, or from the join (a token
// whose key another took).
func (m *Manager) whoamiRow(ctx context.Context, sum *[sha256.Size]byte) (*whoamiRow, error) {
	if m.whoamiReads != nil {
		return m.whoamiReads.read(ctx, sum)
	}
	k := whoamiKey(sum)
	c := m.cfg.WhoamiCache
	if c != nil {
		if r, err := c.lookup(ctx, k, sum); r != nil || err != nil {
			return r, err
		}
	}
	digest := hex.EncodeToString(sum[:]) // only past the cache: a kept row needs none
	err := store.ErrNotFound
	switch {
	case c != nil:
		var r *whoamiRow
		if r, err = c.readAndKeep(ctx, k, sum, digest); err == nil {
			return r, nil
		}
	case m.whoamiKeyed != nil:
		r := &whoamiRow{}
		if err = m.whoamiKeyed.QueryRow(ctx, k, digest).Scan(r.fields()...); err == nil {
			return r, nil
		}
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	r := &whoamiRow{}
	if err := m.whoamiRead.QueryRow(ctx, digest).Scan(r.fields()...); err != nil {
		return nil, err
	}
	return r, nil
}

// satisfiesAALWith is SatisfiesAAL for a session of level aal whose
// identity has the second factors given (identity.PublicView.Factors).
func (m *Manager) satisfiesAALWith(aal string, factors int) bool {
	switch required := m.cfg.WhoamiRequiredAAL; {
	case aal >= AAL2:
		return true
	case aal < AAL1:
		return false
	case required == RequireAAL1:
		return true
	}
	return !m.cfg.Factors.HasSecondFactorIn(factors)
}

// renderWhoami writes the session as View would, around the identity's
// stored view: the members in View's order, the session's own JSON
// columns as they are stored (Lanyard writes them from Method and Device).
func (m *Manager) renderWhoami(r *sessionRow, identityView string, schemaID string) []byte {
	field := m.schemaURLField(schemaID)
	// Room for all of it, so the answer is one allocation: the fixed
	// members and times take under 384 bytes.
	b := make([]byte, 0, 384+len(identityView)+len(field)+len(r.methods)+len(r.devices))
	b = append(b, `{"id":"`...)
	b = append(b, r.id.String()...)
	b = append(b, `","active":`...)
	b = strconv.AppendBool(b, r.active)
	b = appendTime(append(b, `,"expires_at":`...), r.expires.Time)
	b = appendTime(append(b, `,"authenticated_at":`...), r.authed.Time)
	b = append(b, `,"authenticator_assurance_level":`...)
	b = strconv.AppendQuote(b, r.aal) // aal0..aal3: plain ASCII
	b = appendArray(append(b, `,"authentication_methods":`...), r.methods)
	b = appendTime(append(b, `,"issued_at":`...), r.issued.Time)
	b = append(b, `,"identity":`...)
	b = identity.WithSchemaURL(b, identityView, field)
	b = appendArray(append(b, `,"devices":`...), r.devices)
	return append(b, '}')
}

// appendTime writes t as encoding/json does.
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendArray writes a stored JSON array column, "[]" for an empty one.
func appendArray(b []byte, column string) []byte {
	if column == "" || column == "null" {
		return append(b, "[]"...)
	}
	return append(b, column...)
}

// schemaURLField is the encoded schema_url member of a schema's
// identities, made once per schema.
func (m *Manager) schemaURLField(schemaID string) []byte {
	if f, ok := m.schemaFields.Load(schemaID); ok {
		return f.([]byte)
	}
	f := identity.SchemaURLField(m.schemaURL(schemaID))
	m.schemaFields.Store(schemaID, f)
	return f
}
