// Package session issues, finds and revokes sessions: the tokens native
// apps hold, the cookie browsers hold, and whoami, the hottest path of the
// product.
package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// Assurance levels (see AALOf).
const (
	AAL0 = identity.AAL0
	AAL1 = identity.AAL1
	AAL2 = identity.AAL2
)

// Session is a signed-in identity on one device.
type Session struct {
	ID              uuid.UUID
	IdentityID      uuid.UUID
	Identity        *identity.Identity
	Active          bool
	AAL             string
	Methods         []Method
	IssuedAt        time.Time
	AuthenticatedAt time.Time
	ExpiresAt       time.Time
	Devices         []Device
	CreatedAt       time.Time
	UpdatedAt       time.Time

	// Token is set only on a session just issued: it is stored hashed.
	Token string
}

// Method is one completed authentication step: the method and the level
// it proved (empty in entries older than levels, see AALOf).
type Method struct {
	Method      string    `json:"method"`
	AAL         string    `json:"aal"`
	CompletedAt time.Time `json:"completed_at"`
	// Provider names the social sign-in provider of an oidc entry.
	Provider     string `json:"provider,omitempty"`
	Organization string `json:"organization,omitempty"`
}

// Device is where a session was used from.
type Device struct {
	ID        uuid.UUID `json:"id"`
	IPAddress *string   `json:"ip_address,omitempty"`
	UserAgent *string   `json:"user_agent,omitempty"`
	Location  *string   `json:"location,omitempty"`
}

// IsValid reports whether the session may be used now.
func (s *Session) IsValid(now time.Time) bool {
	return s.Active && now.Before(s.ExpiresAt) && (s.Identity == nil || s.Identity.State == identity.StateActive)
}

// Config holds the session settings.
type Config struct {
	Lifespan time.Duration
	Cookie   CookieConfig
	// Secrets key the cookie encryption and the logout tokens; the first
	// one is used for new values, all are accepted (rotation).
	Secrets []string
	// WhoamiRequiredAAL is session.whoami.required_aal (RequireAAL1 or
	// RequireHighestAvailable), checked by whoami and GET /sessions.
	WhoamiRequiredAAL string
	// Factors decide which credentials count toward an identity's
	// available assurance level.
	Factors identity.FactorRules
	// WhoamiCache holds session rows for whoami; it lives as
	// long as the process, across the Managers a config reload builds.
	// Nil: every whoami reads the database.
	WhoamiCache *WhoamiCache
}

// CookieConfig shapes the session cookie.
type CookieConfig struct {
	Name       string
	Domain     string
	Path       string
	SameSite   http.SameSite
	Persistent bool
	Secure     bool
}

// Manager issues and finds sessions.
type Manager struct {
	store   *store.Store
	ids     *identity.Manager
	cfg     Config
	cookies *cookieCodec
	// schemaURL renders identities embedded in sessions.
	schemaURL func(string) string
	// byTokenRead and whoamiRead are the hot reads, parsed once
	// (store.Prepared); whoamiRead is whoami's one query (whoami.go), and
	// whoamiKeyed its one-row form on SQLite.
	byTokenRead, whoamiRead, whoamiKeyed *store.Prepared
	// whoamiReads is whoami's read on PostgreSQL (whoamibatch.go).
	whoamiReads *whoamiReads
	// schemaFields holds each schema's encoded schema_url member.
	schemaFields sync.Map
}

// NewManager wires a session Manager.
func NewManager(s *store.Store, ids *identity.Manager, cfg Config) (*Manager, error) {
	if cfg.Cookie.Name == "" {
		cfg.Cookie.Name = "ory_kratos_session"
	}
	if cfg.Cookie.Path == "" {
		cfg.Cookie.Path = "/"
	}
	if cfg.Lifespan <= 0 {
		cfg.Lifespan = 24 * time.Hour
	}
	codec, err := newCookieCodec(cfg.Secrets)
	if err != nil {
		return nil, err
	}
	codec.kratosName = cfg.Cookie.Name
	m := &Manager{store: s, ids: ids, cfg: cfg, cookies: codec, schemaURL: ids.SchemaURL}
	if s != nil { // unit tests of the pure parts have no database
		m.byTokenRead = s.Prepare(sessionRowQuery + `token_hash = $1`)
		m.prepareWhoami(s)
	}
	return m, nil
}

// CookieName is the session cookie's name.
func (m *Manager) CookieName() string { return m.cfg.Cookie.Name }

// ErrNoSession is the 401 whoami answers; Kratos deliberately gives it no id.
var ErrNoSession = wire.Unauthorized.WithReason("No valid session credentials found in the request.")

// ErrSessionInactive is Kratos's session_inactive, for endpoints that need a session.
var ErrSessionInactive = wire.Unauthorized.WithID("session_inactive").WithReason("No active session was found in this request.")

const tokenAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// randomToken returns prefix + n characters from a 62-letter alphabet
// (32 characters carry 190 bits of entropy).
func randomToken(prefix string, n int) string {
	var b strings.Builder
	b.WriteString(prefix)
	buf := make([]byte, n*2)
	for b.Len() < len(prefix)+n {
		_, _ = rand.Read(buf)
		for _, c := range buf {
			if c >= 248 { // 248 = 4*62: reject to keep the choice uniform
				continue
			}
			b.WriteByte(tokenAlphabet[int(c)%62])
			if b.Len() == len(prefix)+n {
				break
			}
		}
	}
	return b.String()
}

// hashToken is how tokens are stored and looked up. The tokens are random
// with 190 bits of entropy, so a fast hash suffices: a slow one would only
// slow down whoami.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// logoutToken derives a session's logout token from its session token, so
// that it need not be stored in the clear yet can be shown again. The
// session token carries 190 bits of entropy, so a plain hash of it is as
// unguessable, and unlike an HMAC it survives rotating the secrets.
func (m *Manager) logoutToken(sessionToken string) string {
	sum := sha256.Sum256([]byte("logout-token:" + sessionToken))
	var b strings.Builder
	b.WriteString("ory_lo_")
	for _, c := range sum {
		b.WriteByte(tokenAlphabet[int(c)%62])
	}
	return b.String()
}

// Issue creates a session for identity i, authenticated now by method,
// which proved aal (AAL1 or AAL2). It runs inside the caller's transaction.
func (m *Manager) Issue(ctx context.Context, q *store.Q, i *identity.Identity, method, aal string, r *http.Request) (*Session, error) {
	return m.IssueWith(ctx, q, i, Method{Method: method, AAL: aal}, r)
}

// IssueWith is Issue for an authentication method with more to record
// (the provider of a social sign-in); its CompletedAt is set to now.
func (m *Manager) IssueWith(ctx context.Context, q *store.Q, i *identity.Identity, am Method, r *http.Request) (*Session, error) {
	if err := proven(am.AAL); err != nil {
		return nil, err
	}
	now := store.Now()
	am.CompletedAt = now
	// A time-ordered id (UUIDv7) lands at the end of the sessions' id
	// index instead of at a random leaf: at a million sessions a login
	// writes one scattered page fewer (8.6% more logins a second on
	// SQLite in 7 A/B pairs). The time it shows is issued_at, which every
	// holder of the id sees anyway; the token stays fully random.
	s := &Session{
		ID: uuid.Must(uuid.NewV7()), IdentityID: i.ID, Identity: i, Active: true,
		Methods:  []Method{am},
		IssuedAt: now, AuthenticatedAt: now, ExpiresAt: now.Add(m.cfg.Lifespan),
		CreatedAt: now, UpdatedAt: now,
		Token: randomToken("ory_st_", 32),
	}
	s.AAL = AALOf(s.Methods)
	s.Devices = []Device{deviceOf(r)}
	methods, _ := json.Marshal(s.Methods)
	devices, _ := json.Marshal(s.Devices)
	if err := q.Defer(ctx, `INSERT INTO sessions (id, identity_id, token_hash, logout_token_hash, active, aal, authentication_methods, devices, issued_at, authenticated_at, expires_at, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		s.ID, s.IdentityID, hashToken(s.Token), hashToken(m.logoutToken(s.Token)), true, s.AAL, string(methods), string(devices),
		s.IssuedAt, s.AuthenticatedAt, s.ExpiresAt, s.CreatedAt, s.UpdatedAt); err != nil {
		return nil, err
	}
	return s, nil
}

// Reauthenticate records a fresh sign-in by method, which proved aal, on
// an existing session: a refresh login, or a step-up to a second factor.
// The entry is appended, so a session that used a second factor keeps
// aal2, and authenticated_at moves to now (contrast AddMethod).
func (m *Manager) Reauthenticate(ctx context.Context, q *store.Q, s *Session, method, aal string) error {
	return m.appendMethod(ctx, q, s, Method{Method: method, AAL: aal}, true)
}

// ReauthenticateWith is Reauthenticate for an authentication method with
// more to record (the provider of a social sign-in).
func (m *Manager) ReauthenticateWith(ctx context.Context, q *store.Q, s *Session, am Method) error {
	return m.appendMethod(ctx, q, s, am, true)
}

func deviceOf(r *http.Request) Device {
	d := Device{ID: uuid.New()}
	if r == nil {
		return d
	}
	if ua := r.UserAgent(); ua != "" {
		if len(ua) > 512 {
			ua = ua[:512]
		}
		d.UserAgent = &ua
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		d.IPAddress = &host
	}
	return d
}

// TokenFrom extracts the session token of a request: the X-Session-Token
// header, an Authorization bearer token, or the session cookie.
func (m *Manager) TokenFrom(r *http.Request) string {
	if t := r.Header.Get("X-Session-Token"); t != "" {
		return t
	}
	if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	if c, err := r.Cookie(m.cfg.Cookie.Name); err == nil {
		if t, ok := m.cookies.decode(c.Value); ok {
			return t
		}
	}
	return ""
}

// FromRequest finds the valid session of a request, or ErrNoSession.
func (m *Manager) FromRequest(ctx context.Context, r *http.Request) (*Session, error) {
	token := m.TokenFrom(r)
	if token == "" {
		return nil, ErrNoSession
	}
	return m.ByToken(ctx, token)
}

// Current is the request's valid session, or nil when it carries none. Any
// other failure (the database) is an error: it never reads as signed out.
func (m *Manager) Current(ctx context.Context, r *http.Request) (*Session, error) {
	s, err := m.FromRequest(ctx, r)
	if errors.Is(err, ErrNoSession) {
		return nil, nil
	}
	return s, err
}

// ByToken finds the valid session holding token, or ErrNoSession.
func (m *Manager) ByToken(ctx context.Context, token string) (*Session, error) {
	var row sessionRow
	if err := row.scan(m.byTokenRead.QueryRow(ctx, hashToken(token))); err != nil {
		return nil, err
	}
	return m.fromRow(ctx, &row)
}

// byHash loads a valid session by one of its token hashes, with its
// identity, inside a transaction.
func (m *Manager) byHash(ctx context.Context, q *store.Q, column, hash string) (*Session, error) {
	var row sessionRow
	if err := row.scan(q.QueryRow(ctx, sessionRowQuery+column+` = $1`, hash)); err != nil {
		return nil, err
	}
	return m.fromRow(ctx, &row)
}

// fromRow checks a session row and completes it with its identity, which
// comes from a cache validated by the identity's revision: a warm whoami
// costs the one query that read the row.
func (m *Manager) fromRow(ctx context.Context, row *sessionRow) (*Session, error) {
	if !row.valid(time.Now()) {
		return nil, ErrNoSession
	}
	s := Session{
		ID: row.id, IdentityID: row.identityID, Active: row.active, AAL: row.aal,
		IssuedAt: row.issued.Time, AuthenticatedAt: row.authed.Time, ExpiresAt: row.expires.Time,
		CreatedAt: row.created.Time, UpdatedAt: row.updated.Time,
	}
	if err := json.Unmarshal([]byte(row.methods), &s.Methods); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(row.devices), &s.Devices); err != nil {
		return nil, err
	}
	i, err := m.ids.GetVersion(ctx, s.IdentityID, row.identityRevision)
	if errors.Is(err, identity.ErrNotFound) {
		return nil, ErrNoSession
	}
	if err != nil {
		return nil, err
	}
	s.Identity = i
	return &s, nil
}

// Revoke ends a session.
func (m *Manager) Revoke(ctx context.Context, q *store.Q, id uuid.UUID) error {
	_, err := q.Exec(ctx, `UPDATE sessions SET active = $2, updated_at = $3 WHERE id = $1`, id, false, store.Now())
	return err
}

// RevokeOthers ends every other active session of s's identity.
func (m *Manager) RevokeOthers(ctx context.Context, q *store.Q, s *Session) error {
	_, err := q.Exec(ctx, `UPDATE sessions SET active = $1, updated_at = $2 WHERE identity_id = $3 AND id <> $4 AND active = TRUE`,
		false, store.Now(), s.IdentityID, s.ID)
	return err
}

// RevokeByLogoutToken ends the session s, found by sessionToken, after
// checking that token is its logout token: a logout URL only works together with the session it was
// made for, as Kratos's does.
func (m *Manager) RevokeByLogoutToken(ctx context.Context, s *Session, sessionToken, token string) error {
	if subtle.ConstantTimeCompare([]byte(m.logoutToken(sessionToken)), []byte(token)) != 1 {
		return ErrLogoutTokenMismatch
	}
	return m.store.Write(ctx, func(q *store.Q) error { return m.Revoke(ctx, q, s.ID) })
}

// ErrLogoutTokenMismatch answers a logout token that belongs to another
// session than the request's.
var ErrLogoutTokenMismatch = wire.Forbidden.WithReason("Unable to log out because the logout token in the URL query does not match the session cookie.")

// RevokeByToken ends the session holding a session token.
func (m *Manager) RevokeByToken(ctx context.Context, token string) error {
	return m.store.Write(ctx, func(q *store.Q) error {
		s, err := m.byHash(ctx, q, "token_hash", hashToken(token))
		if err != nil {
			return err
		}
		return m.Revoke(ctx, q, s.ID)
	})
}

// LogoutToken answers the logout token of the session holding token.
func (m *Manager) LogoutToken(token string) string { return m.logoutToken(token) }

// SetCookie sets the session cookie for s on a browser response.
func (m *Manager) SetCookie(w http.ResponseWriter, s *Session) {
	c := &http.Cookie{
		Name: m.cfg.Cookie.Name, Value: m.cookies.encode(s.Token, s.ExpiresAt),
		Path: m.cfg.Cookie.Path, Domain: m.cfg.Cookie.Domain,
		HttpOnly: true, Secure: m.cfg.Cookie.Secure, SameSite: m.cfg.Cookie.SameSite,
	}
	if m.cfg.Cookie.Persistent {
		c.Expires = s.ExpiresAt
		c.MaxAge = int(time.Until(s.ExpiresAt).Seconds())
	}
	http.SetCookie(w, c)
}

// ClearCookie removes the session cookie.
func (m *Manager) ClearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: m.cfg.Cookie.Name, Value: "", Path: m.cfg.Cookie.Path, Domain: m.cfg.Cookie.Domain,
		MaxAge: -1, Expires: time.Unix(0, 0), HttpOnly: true, Secure: m.cfg.Cookie.Secure, SameSite: m.cfg.Cookie.SameSite,
	})
}
