package session

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// listQuery selects sessions for the list endpoints.
type listQuery struct {
	identityID *uuid.UUID
	exceptID   *uuid.UUID
	active     *bool // nil: both
	after      *uuid.UUID
	limit      int
}

const sessionColumns = `s.id, s.identity_id, s.active, s.aal, s.authentication_methods, s.devices, s.issued_at, s.authenticated_at, s.expires_at, s.created_at, s.updated_at`

func scanSession(rows interface{ Scan(...any) error }) (*Session, error) {
	var (
		s                         Session
		methods, devices          string
		issued, authed, exp, c, u store.Time
	)
	if err := rows.Scan(&s.ID, &s.IdentityID, &s.Active, &s.AAL, &methods, &devices, &issued, &authed, &exp, &c, &u); err != nil {
		return nil, err
	}
	s.IssuedAt, s.AuthenticatedAt, s.ExpiresAt, s.CreatedAt, s.UpdatedAt = issued.Time, authed.Time, exp.Time, c.Time, u.Time
	if err := json.Unmarshal([]byte(methods), &s.Methods); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(devices), &s.Devices); err != nil {
		return nil, err
	}
	return &s, nil
}

// list answers a page of sessions ordered by id, and whether more follow.
// "Active" means not revoked and not expired.
func (m *Manager) list(ctx context.Context, lq listQuery) ([]*Session, bool, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if lq.identityID != nil {
		where = append(where, "s.identity_id = "+arg(*lq.identityID))
	}
	if lq.exceptID != nil {
		where = append(where, "s.id <> "+arg(*lq.exceptID))
	}
	if lq.after != nil {
		where = append(where, "s.id > "+arg(*lq.after))
	}
	if lq.active != nil {
		now := arg(store.Now())
		if *lq.active {
			where = append(where, "s.active = "+arg(true)+" AND s.expires_at > "+now)
		} else {
			where = append(where, "(s.active = "+arg(false)+" OR s.expires_at <= "+now+")")
		}
	}
	query := "SELECT " + sessionColumns + " FROM sessions s"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY s.id LIMIT " + arg(lq.limit+1)
	rows, err := m.store.Read().Query(ctx, query, args...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var out []*Session
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, false, err
		}
		s.Active = s.Active && time.Now().Before(s.ExpiresAt)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	more := len(out) > lq.limit
	if more {
		out = out[:lq.limit]
	}
	return out, more, nil
}

// get loads one session by id, whatever its state.
func (m *Manager) get(ctx context.Context, id uuid.UUID) (*Session, error) {
	s, err := scanSession(m.store.Read().QueryRow(ctx, "SELECT "+sessionColumns+" FROM sessions s WHERE s.id = $1", id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrSessionNotFound
	}
	if err != nil {
		return nil, err
	}
	s.Active = s.Active && time.Now().Before(s.ExpiresAt)
	return s, nil
}

// ErrSessionNotFound answers an unknown session id.
var ErrSessionNotFound = wire.NotFound.WithReason("The session could not be found.")

// expand loads the identities of sessions when asked to, with one query per
// identity that is not cached.
func (m *Manager) expand(ctx context.Context, sessions []*Session, identities bool) error {
	if !identities {
		return nil
	}
	for _, s := range sessions {
		i, err := m.ids.Get(ctx, s.IdentityID)
		if err != nil && !errors.Is(err, identity.ErrNotFound) {
			return err
		}
		s.Identity = i
	}
	return nil
}

// revokeWhere revokes the sessions a condition selects and answers how many.
func (m *Manager) revokeWhere(ctx context.Context, cond string, args ...any) (int, error) {
	var n int64
	err := m.store.Write(ctx, func(q *store.Q) error {
		all := append([]any{false, store.Now()}, args...)
		res, err := q.Exec(ctx, "UPDATE sessions SET active = $1, updated_at = $2 WHERE active = TRUE AND "+cond, all...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// writePage answers a page with the Link header of keyset pagination.
func (m *Manager) writePage(w http.ResponseWriter, r *http.Request, base string, size int, more bool, page []*Session, admin bool) {
	var next *uuid.UUID
	if more && len(page) > 0 {
		next = &page[len(page)-1].ID
	}
	wire.SetLinkHeader(w, r, base, size, next)
	out := make([]View, 0, len(page))
	for _, s := range page {
		out = append(out, m.View(s, admin))
	}
	wire.WriteJSON(w, http.StatusOK, out)
}

// MySessionsHandler serves the caller's session management on the public
// listener: list, revoke one, revoke all others.
type MySessionsHandler struct {
	m         *Manager
	publicURL string
}

// NewMySessionsHandler wires the endpoints.
func NewMySessionsHandler(m *Manager, publicURL string) *MySessionsHandler {
	return &MySessionsHandler{m: m, publicURL: publicURL}
}

// Register adds the routes.
func (h *MySessionsHandler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /sessions", h.list)
	mux.HandleFunc("DELETE /sessions", h.revokeOthers)
	mux.HandleFunc("DELETE /sessions/{id}", h.revokeOne)
}

func (h *MySessionsHandler) current(w http.ResponseWriter, r *http.Request) *Session {
	s, err := h.m.FromRequest(r.Context(), r)
	if err != nil {
		wire.WriteError(w, r, ErrSessionInactive)
		return nil
	}
	return s
}

func (h *MySessionsHandler) list(w http.ResponseWriter, r *http.Request) {
	s := h.current(w, r)
	if s == nil {
		return
	}
	// Only listing asks for whoami's level, as in Kratos; revoking other
	// sessions is allowed to any signed-in session.
	if !h.m.SatisfiesAAL(s, h.m.cfg.WhoamiRequiredAAL) {
		wire.WriteError(w, r, ErrAAL2Required(h.publicURL, ""))
		return
	}
	pg, err := wire.ParsePage(r)
	if err != nil {
		wire.WriteError(w, r, err)
		return
	}
	active := true
	page, more, err := h.m.list(r.Context(), listQuery{identityID: &s.IdentityID, exceptID: &s.ID, active: &active, after: pg.After, limit: pg.Size})
	if err == nil {
		err = h.m.expand(r.Context(), page, true)
	}
	if err != nil {
		wire.WriteError(w, r, err)
		return
	}
	h.m.writePage(w, r, h.publicURL, pg.Size, more, page, false)
}

func (h *MySessionsHandler) revokeOthers(w http.ResponseWriter, r *http.Request) {
	s := h.current(w, r)
	if s == nil {
		return
	}
	n, err := h.m.revokeWhere(r.Context(), "identity_id = $3 AND id <> $4", s.IdentityID, s.ID)
	if err != nil {
		wire.WriteError(w, r, err)
		return
	}
	wire.WriteJSON(w, http.StatusOK, map[string]int{"count": n})
}

func (h *MySessionsHandler) revokeOne(w http.ResponseWriter, r *http.Request) {
	s := h.current(w, r)
	if s == nil {
		return
	}
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		wire.WriteError(w, r, wire.BadRequest.WithReason("The session id is malformed."))
		return
	}
	if id == s.ID {
		wire.WriteError(w, r, wire.BadRequest.WithReason("The current session cannot be revoked here; log out instead."))
		return
	}
	// Another identity's session is left alone, and the answer is the same,
	// so that session ids cannot be probed.
	if _, err := h.m.revokeWhere(r.Context(), "id = $3 AND identity_id = $4", id, s.IdentityID); err != nil {
		wire.WriteError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// AdminHandler serves session administration on the admin listener.
type AdminHandler struct {
	m        *Manager
	ids      *identity.Manager
	adminURL string
	// earliestExtend is session.earliest_possible_extend: a session is
	// extended only when it expires within this window (0: always).
	earliestExtend time.Duration
}

// NewAdminHandler wires the endpoints.
func NewAdminHandler(m *Manager, ids *identity.Manager, adminURL string, earliestExtend time.Duration) *AdminHandler {
	return &AdminHandler{m: m, ids: ids, adminURL: adminURL, earliestExtend: earliestExtend}
}

// Register adds the routes under prefix ("" or "/admin").
func (h *AdminHandler) Register(mux *http.ServeMux, prefix string) {
	mux.HandleFunc("GET "+prefix+"/sessions", h.list)
	mux.HandleFunc("GET "+prefix+"/sessions/{id}", h.get)
	mux.HandleFunc("DELETE "+prefix+"/sessions/{id}", h.disable)
	mux.HandleFunc("PATCH "+prefix+"/sessions/{id}/extend", h.extend)
	mux.HandleFunc("GET "+prefix+"/identities/{id}/sessions", h.listForIdentity)
	mux.HandleFunc("DELETE "+prefix+"/identities/{id}/sessions", h.deleteForIdentity)
}

func expandIdentity(r *http.Request) bool {
	for _, e := range r.URL.Query()["expand"] {
		if e == "identity" || e == "Identity" {
			return true
		}
	}
	return false
}

func activeFilter(r *http.Request) (*bool, error) {
	v := r.URL.Query().Get("active")
	if v == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return nil, wire.BadRequest.WithReason("active must be true or false.")
	}
	return &b, nil
}

func (h *AdminHandler) list(w http.ResponseWriter, r *http.Request) {
	h.listWith(w, r, listQuery{})
}

func (h *AdminHandler) listWith(w http.ResponseWriter, r *http.Request, lq listQuery) {
	pg, err := wire.ParsePage(r)
	if err != nil {
		wire.WriteError(w, r, err)
		return
	}
	active, err := activeFilter(r)
	if err != nil {
		wire.WriteError(w, r, err)
		return
	}
	lq.active, lq.after, lq.limit = active, pg.After, pg.Size
	page, more, err := h.m.list(r.Context(), lq)
	if err == nil {
		err = h.m.expand(r.Context(), page, expandIdentity(r))
	}
	if err != nil {
		wire.WriteError(w, r, err)
		return
	}
	h.m.writePage(w, r, h.adminURL, pg.Size, more, page, true)
}

func (h *AdminHandler) sessionFromPath(w http.ResponseWriter, r *http.Request) *Session {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		wire.WriteError(w, r, ErrSessionNotFound)
		return nil
	}
	s, err := h.m.get(r.Context(), id)
	if err != nil {
		wire.WriteError(w, r, err)
		return nil
	}
	return s
}

func (h *AdminHandler) get(w http.ResponseWriter, r *http.Request) {
	s := h.sessionFromPath(w, r)
	if s == nil {
		return
	}
	if err := h.m.expand(r.Context(), []*Session{s}, expandIdentity(r)); err != nil {
		wire.WriteError(w, r, err)
		return
	}
	wire.WriteJSON(w, http.StatusOK, h.m.View(s, true))
}

func (h *AdminHandler) disable(w http.ResponseWriter, r *http.Request) {
	s := h.sessionFromPath(w, r)
	if s == nil {
		return
	}
	if _, err := h.m.revokeWhere(r.Context(), "id = $3", s.ID); err != nil {
		wire.WriteError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// extend moves the expiry of an active session to now + lifespan, unless
// session.earliest_possible_extend says it is too early.
func (h *AdminHandler) extend(w http.ResponseWriter, r *http.Request) {
	s := h.sessionFromPath(w, r)
	if s == nil {
		return
	}
	if !s.Active {
		wire.WriteError(w, r, ErrSessionNotFound)
		return
	}
	now := store.Now()
	if h.earliestExtend <= 0 || s.ExpiresAt.Sub(now) <= h.earliestExtend {
		s.ExpiresAt, s.UpdatedAt = now.Add(h.m.cfg.Lifespan), now
		err := h.m.store.Write(r.Context(), func(q *store.Q) error {
			_, err := q.Exec(r.Context(), "UPDATE sessions SET expires_at = $2, updated_at = $3 WHERE id = $1", s.ID, s.ExpiresAt, now)
			return err
		})
		if err != nil {
			wire.WriteError(w, r, err)
			return
		}
	}
	if err := h.m.expand(r.Context(), []*Session{s}, true); err != nil {
		wire.WriteError(w, r, err)
		return
	}
	wire.WriteJSON(w, http.StatusOK, h.m.View(s, true))
}

func (h *AdminHandler) identityFromPath(w http.ResponseWriter, r *http.Request) *uuid.UUID {
	id, err := uuid.Parse(r.PathValue("id"))
	if err == nil {
		_, err = h.ids.Get(r.Context(), id)
	} else {
		err = identity.ErrNotFound
	}
	if err != nil {
		wire.WriteError(w, r, err)
		return nil
	}
	return &id
}

func (h *AdminHandler) listForIdentity(w http.ResponseWriter, r *http.Request) {
	id := h.identityFromPath(w, r)
	if id == nil {
		return
	}
	h.listWith(w, r, listQuery{identityID: id})
}

func (h *AdminHandler) deleteForIdentity(w http.ResponseWriter, r *http.Request) {
	id := h.identityFromPath(w, r)
	if id == nil {
		return
	}
	err := h.m.store.Write(r.Context(), func(q *store.Q) error {
		_, err := q.Exec(r.Context(), "DELETE FROM sessions WHERE identity_id = $1", *id)
		return err
	})
	if err != nil {
		wire.WriteError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
