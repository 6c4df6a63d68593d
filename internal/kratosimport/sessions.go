package kratosimport

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/session"
	"github.com/lanyard-id/lanyard/internal/store"
)

// kratosSession is one Kratos session with its token in the clear.
type kratosSession struct {
	ID, IdentityID                       uuid.UUID
	Active                               bool
	AAL                                  string
	Methods                              []session.Method
	Devices                              []session.Device
	IssuedAt, AuthenticatedAt, ExpiresAt time.Time
	CreatedAt, UpdatedAt                 time.Time
	Token, LogoutToken                   string
}

// sessionPage reads up to n sessions with ids after after (from the start
// for uuid.Nil), in id order, with their devices.
func (s *Source) sessionPage(ctx context.Context, after uuid.UUID, n int) ([]*kratosSession, error) {
	query := `SELECT id, identity_id, active, aal, authentication_methods, issued_at, authenticated_at, expires_at, created_at, updated_at, token, logout_token FROM sessions`
	args := []any{n}
	if after != uuid.Nil {
		query += ` WHERE id > $2`
		args = append(args, after.String())
	}
	rows, err := s.db.QueryContext(ctx, query+` ORDER BY id LIMIT $1`, args...)
	if err != nil {
		return nil, fmt.Errorf("reading Kratos sessions: %w", err)
	}
	defer rows.Close()
	var (
		page []*kratosSession
		byID = map[uuid.UUID]*kratosSession{}
	)
	for rows.Next() {
		var (
			id, identityID                   kratosUUID
			active                           kratosBool
			aal, methods, token, logoutToken kratosText
			issued, authed, exp, c, u        kratosTime
		)
		if err := rows.Scan(&id, &identityID, &active, &aal, &methods, &issued, &authed, &exp, &c, &u, &token, &logoutToken); err != nil {
			return nil, fmt.Errorf("reading Kratos sessions: %w", err)
		}
		ks := &kratosSession{
			ID: id.UUID, IdentityID: identityID.UUID, Active: bool(active), AAL: string(aal),
			IssuedAt: issued.Time, AuthenticatedAt: authed.Time, ExpiresAt: exp.Time, CreatedAt: c.Time, UpdatedAt: u.Time,
			Token: string(token), LogoutToken: string(logoutToken), Devices: []session.Device{},
		}
		if methods != "" {
			if err := json.Unmarshal([]byte(methods), &ks.Methods); err != nil {
				return nil, fmt.Errorf("session %s: authentication_methods is not a JSON list: %w", ks.ID, err)
			}
		}
		for k := range ks.Methods {
			ks.Methods[k].CompletedAt = ks.Methods[k].CompletedAt.UTC().Truncate(time.Microsecond)
		}
		if ks.Methods == nil {
			ks.Methods = []session.Method{}
		}
		page = append(page, ks)
		byID[ks.ID] = ks
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading Kratos sessions: %w", err)
	}
	rows.Close()
	if len(page) == 0 {
		return nil, nil
	}
	ids := make([]uuid.UUID, len(page))
	for k, ks := range page {
		ids[k] = ks.ID
	}
	rows, err = s.db.QueryContext(ctx, `SELECT id, session_id, ip_address, user_agent, location FROM session_devices
WHERE session_id IN (`+placeholders(1, len(ids))+`) ORDER BY created_at, id`, idArgs(ids)...)
	if err != nil {
		return nil, fmt.Errorf("reading Kratos session devices: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id, sessionID     kratosUUID
			ip, agent, places kratosText
		)
		if err := rows.Scan(&id, &sessionID, &ip, &agent, &places); err != nil {
			return nil, fmt.Errorf("reading Kratos session devices: %w", err)
		}
		if ks := byID[sessionID.UUID]; ks != nil {
			ks.Devices = append(ks.Devices, session.Device{ID: id.UUID, IPAddress: textPtr(ip), UserAgent: textPtr(agent), Location: textPtr(places)})
		}
	}
	return page, rows.Err()
}

func textPtr(t kratosText) *string {
	if t == "" {
		return nil
	}
	v := string(t)
	return &v
}

// hashToken is how Lanyard stores session tokens (internal/session): the
// hex SHA-256 of the token, which is what whoami looks a token up by.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// importSession writes ks into Lanyard's sessions unless the same row is
// there already, and reports whether it wrote. A session that ended in
// Kratos (revoked, expired) is not carried over; one an earlier run
// carried over is revoked. One that changed in Lanyard is left alone.
func importSession(ctx context.Context, q *store.Q, ks *kratosSession, now time.Time) (written bool, err error) {
	usable := ks.Active && ks.ExpiresAt.After(now) && ks.Token != ""
	var (
		active                        bool
		aal, methods, devices, tokenH string
		authed, exp, updated          store.Time
	)
	err = q.QueryRow(ctx, `SELECT active, aal, authentication_methods, devices, token_hash, authenticated_at, expires_at, updated_at FROM sessions WHERE id = $1`, ks.ID).
		Scan(&active, &aal, &methods, &devices, &tokenH, &authed, &exp, &updated)
	exists := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	if !usable {
		if !exists || !active {
			return false, nil
		}
		// Ended in Kratos: ended here too.
		_, err := q.Exec(ctx, `UPDATE sessions SET active = $2, updated_at = $3 WHERE id = $1`, ks.ID, false, ks.UpdatedAt)
		return err == nil, err
	}
	methodsJSON, err := json.Marshal(ks.Methods)
	if err != nil {
		return false, err
	}
	devicesJSON, err := json.Marshal(ks.Devices)
	if err != nil {
		return false, err
	}
	logoutHash := hashToken(ks.LogoutToken)
	if ks.LogoutToken == "" {
		// Unique and unguessable without one: Lanyard derives logout
		// tokens from session tokens and never looks this column up.
		logoutHash = hashToken("kratos-session-without-logout-token:" + ks.Token)
	}
	if !exists {
		_, err := q.Exec(ctx, `INSERT INTO sessions (id, identity_id, token_hash, logout_token_hash, active, aal, authentication_methods, devices, issued_at, authenticated_at, expires_at, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			ks.ID, ks.IdentityID, hashToken(ks.Token), logoutHash, true, ks.AAL, string(methodsJSON), string(devicesJSON),
			ks.IssuedAt, ks.AuthenticatedAt, ks.ExpiresAt, ks.CreatedAt, ks.UpdatedAt)
		return err == nil, err
	}
	// Signed out or refreshed in Lanyard since: Lanyard's copy wins, so that
	// a re-run never brings a signed-out session back.
	if !active || updated.After(ks.UpdatedAt) {
		return false, nil
	}
	if aal == ks.AAL && tokenH == hashToken(ks.Token) && authed.Equal(ks.AuthenticatedAt) && exp.Equal(ks.ExpiresAt) &&
		updated.Equal(ks.UpdatedAt) && sameJSONText[[]session.Method](methods, methodsJSON) && sameJSONText[[]session.Device](devices, devicesJSON) {
		return false, nil
	}
	_, err = q.Exec(ctx, `UPDATE sessions SET token_hash = $2, logout_token_hash = $3, active = $4, aal = $5, authentication_methods = $6, devices = $7, issued_at = $8, authenticated_at = $9, expires_at = $10, updated_at = $11 WHERE id = $1`,
		ks.ID, hashToken(ks.Token), logoutHash, true, ks.AAL, string(methodsJSON), string(devicesJSON), ks.IssuedAt, ks.AuthenticatedAt, ks.ExpiresAt, ks.UpdatedAt)
	return err == nil, err
}

// sameJSONText compares stored JSON with what would be written, both read
// as T (PostgreSQL's jsonb reorders keys).
func sameJSONText[T any](stored string, fresh []byte) bool {
	var a, b T
	if json.Unmarshal([]byte(stored), &a) != nil || json.Unmarshal(fresh, &b) != nil {
		return false
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
