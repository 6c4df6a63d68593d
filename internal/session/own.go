package session

import (
	"context"

	"github.com/google/uuid"
)

// ActiveOf answers up to limit active sessions of an identity, ordered by
// id, and whether it has more: the built-in UI's list of devices.
func (m *Manager) ActiveOf(ctx context.Context, identityID uuid.UUID, limit int) ([]*Session, bool, error) {
	active := true
	return m.list(ctx, listQuery{identityID: &identityID, active: &active, limit: limit})
}

// RevokeOwn ends session id of s's identity, as DELETE /sessions/{id}
// does. It answers ErrSessionNotFound for a session of another identity
// (left alone) and for s itself, which signing out ends; a session of
// the identity that has already ended is no error.
func (m *Manager) RevokeOwn(ctx context.Context, s *Session, id uuid.UUID) error {
	if id == s.ID {
		return ErrSessionNotFound
	}
	n, err := m.revokeWhere(ctx, "id = $3 AND identity_id = $4", id, s.IdentityID)
	if err != nil || n > 0 {
		return err
	}
	other, err := m.get(ctx, id)
	if err != nil {
		return err
	}
	if other.IdentityID != s.IdentityID {
		return ErrSessionNotFound
	}
	return nil
}

// RevokeOthersOf ends every other active session of s's identity, as
// DELETE /sessions does, and answers how many.
func (m *Manager) RevokeOthersOf(ctx context.Context, s *Session) (int, error) {
	return m.revokeWhere(ctx, "identity_id = $3 AND id <> $4", s.IdentityID, s.ID)
}

// SatisfiesWhoami reports whether s may list its identity's sessions:
// session.whoami.required_aal, which GET /sessions checks too.
func (m *Manager) SatisfiesWhoami(s *Session) bool {
	return m.SatisfiesAAL(s, m.cfg.WhoamiRequiredAAL)
}
