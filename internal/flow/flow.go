// Package flow is what every self-service flow shares: the stored flow and
// its UI form, CSRF protection, return_to checks, the answers for browsers
// and for apps, and the stored errors browsers are sent to.
package flow

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/text"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// Kinds of flows.
type Kind string

const (
	Login        Kind = "login"
	Registration Kind = "registration"
	Settings     Kind = "settings"
	Recovery     Kind = "recovery"
	Verification Kind = "verification"
)

// Types of flows: for browsers (cookies, CSRF, redirects) or for native
// apps (tokens, JSON only).
const (
	TypeBrowser = "browser"
	TypeAPI     = "api"
)

// States used by login, registration, recovery and verification.
const (
	StateChooseMethod    = "choose_method"
	StateSentEmail       = "sent_email"
	StatePassedChallenge = "passed_challenge"
)

// Flow is one attempt at a self-service action.
type Flow struct {
	ID         uuid.UUID
	Kind       Kind
	Type       string
	State      string
	Active     string
	RequestURL string
	ReturnTo   string
	IssuedAt   time.Time
	ExpiresAt  time.Time
	UI         *Container
	// CSRFHash binds a browser flow to the browser's CSRF cookie.
	CSRFHash     string
	Refresh      bool
	RequestedAAL string
	IdentityID   *uuid.UUID
	// Internal holds what strategies remember between submissions, such
	// as the traits of the first step of two-step registration. Never shown.
	Internal  map[string]json.RawMessage
	CreatedAt time.Time
	UpdatedAt time.Time
	// ContinueWith tells the client what to do next; it is part of one
	// answer and not stored.
	ContinueWith []any
	// ExchangeCode is the session token exchange code of a new native
	// flow: shown once, when the flow is created; only its digest is kept.
	ExchangeCode string
}

// New starts a flow of kind and type that expires after lifespan.
func New(kind Kind, typ string, r *http.Request, publicBase string, lifespan time.Duration) *Flow {
	now := store.Now()
	f := &Flow{
		ID: uuid.New(), Kind: kind, Type: typ, State: StateChooseMethod,
		RequestURL: requestURL(r, publicBase), IssuedAt: now, ExpiresAt: now.Add(lifespan),
		Internal: map[string]json.RawMessage{}, CreatedAt: now, UpdatedAt: now,
	}
	f.UI = &Container{Action: publicBase + "self-service/" + string(kind) + "?flow=" + f.ID.String(), Method: "POST", Nodes: []*Node{}}
	return f
}

// requestURL reconstructs the URL the flow was started at, on the public
// base URL (the server may sit behind a proxy).
func requestURL(r *http.Request, publicBase string) string {
	u := publicBase + trimSlash(r.URL.Path)
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	return u
}

func trimSlash(p string) string {
	for len(p) > 0 && p[0] == '/' {
		p = p[1:]
	}
	return p
}

// Expired reports whether the flow can no longer be used.
func (f *Flow) Expired() bool { return time.Now().After(f.ExpiresAt) }

// AddCSRF adds the csrf_token node: the masked token for browser flows, an
// empty one for API flows (as Kratos renders them).
func (f *Flow) AddCSRF(token []byte) {
	value := ""
	if f.Type == TypeBrowser && token != nil {
		value = Mask(token)
		f.CSRFHash = TokenHash(token)
	}
	n := Input(GroupDefault, "csrf_token", "hidden", value, nil).Required()
	n.Attributes.Value = value // rendered even when empty
	f.UI.Nodes = append([]*Node{n}, f.UI.Nodes...)
}

// RefreshCSRF re-masks the csrf_token node for the browser's current token
// so that every render differs, and rebinds the flow to it.
func (f *Flow) RefreshCSRF(token []byte) {
	if f.Type != TypeBrowser || token == nil {
		return
	}
	f.UI.SetValue("csrf_token", Mask(token))
	f.CSRFHash = TokenHash(token)
}

// Errors flows answer with.
var (
	ErrFlowNotFound = wire.NotFound.WithReason("The flow could not be found. It may have expired or never existed.")
)

// ErrExpired is Kratos's self_service_flow_expired, pointing at a new flow.
func ErrExpired(f *Flow, newFlowID uuid.UUID) *wire.Error {
	ago := time.Since(f.ExpiresAt).Round(time.Second)
	return wire.Gone.WithID("self_service_flow_expired").
		WithReason("The self-service flow expired %s ago, initialize a new one.", ago).
		WithDetail("use_flow_id", newFlowID.String()).
		WithDetail("expired_at", f.ExpiresAt).
		WithDetail("since", ago.Nanoseconds())
}

// ErrLocationChange is Kratos's browser_location_change_required: the
// client must send the browser to target.
func ErrLocationChange(target string) *wire.Error {
	return wire.Unprocessable.WithID("browser_location_change_required").
		WithReason("In order to complete this flow please redirect the browser to: %s", target).
		WithDetail("redirect_browser_to", target)
}

// SetSessionToken is the continue_with item handing a native app its token.
func SetSessionToken(token string) map[string]any {
	return map[string]any{"action": "set_ory_session_token", "ory_session_token": token}
}

// Save stores a new flow.
func Save(ctx context.Context, q *store.Q, f *Flow) error {
	ui, internal, err := encode(f)
	if err != nil {
		return err
	}
	return q.Defer(ctx, `INSERT INTO selfservice_flows (id, kind, type, state, active, request_url, return_to, issued_at, expires_at, ui, csrf_hash, refresh, requested_aal, identity_id, internal, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
		f.ID, string(f.Kind), f.Type, f.State, f.Active, f.RequestURL, f.ReturnTo, f.IssuedAt, f.ExpiresAt, ui, f.CSRFHash,
		f.Refresh, f.RequestedAAL, f.IdentityID, internal, f.CreatedAt, f.UpdatedAt)
}

// ErrCompleted means another submission completed (or, for settings,
// changed) the flow between this submission reading it and writing it.
// Handlers answer it with the flow (Kit.AnswerCompleted); anywhere else it
// is still a clean 400, never a server error.
var ErrCompleted = wire.BadRequest.WithReason("Another request completed or changed this flow at the same time; start a new one.")

// Update writes a changed flow back. It never moves a completed flow out of
// its final state: a stale submission that lost a race gets ErrCompleted.
func Update(ctx context.Context, q *store.Q, f *Flow) error {
	ui, internal, err := encode(f)
	if err != nil {
		return err
	}
	f.UpdatedAt = later(f.UpdatedAt)
	return q.Require(ctx, ErrCompleted, `UPDATE selfservice_flows SET state = $2, active = $3, ui = $4, csrf_hash = $5, internal = $6, identity_id = $7, return_to = $9, updated_at = $8
WHERE id = $1 AND (state <> $10 OR $2 = $10)`,
		f.ID, f.State, f.Active, ui, f.CSRFHash, internal, f.IdentityID, f.UpdatedAt, f.ReturnTo, StatePassedChallenge)
}

// Claim is the first statement of the transaction that carries a
// submission's effect (a new identity, a session, a changed password). It
// locks the flow's row and succeeds only if the flow is still open: not
// completed, and for settings flows (which stay open after a success)
// unchanged since f was read. Of racing submissions, on one server or many,
// exactly one claims the flow; the others get ErrCompleted and their
// transactions change nothing. In a pipelined transaction the claim is
// queued, and a lost race fails the whole transaction in the database.
func Claim(ctx context.Context, q *store.Q, f *Flow) error {
	read := f.UpdatedAt
	now := later(read)
	query := `UPDATE selfservice_flows SET updated_at = $2 WHERE id = $1 AND state <> $3`
	args := []any{f.ID, now, StatePassedChallenge}
	if f.Kind == Settings {
		query += ` AND updated_at = $4`
		args = append(args, read)
	}
	if err := q.Require(ctx, ErrCompleted, query, args...); err != nil {
		return err
	}
	f.UpdatedAt = now
	return nil
}

func execCount(ctx context.Context, q *store.Q, query string, args ...any) (int64, error) {
	res, err := q.Exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// later is a timestamp after prev (and normally now): updated_at doubles
// as the flow's version, so a write must always change it.
func later(prev time.Time) time.Time {
	now := store.Now()
	if !now.After(prev) {
		now = prev.Add(time.Microsecond)
	}
	return now
}

// Sealer encrypts what flows store of their form (internal/cipher's Cipher).
type Sealer interface {
	Encrypt(plaintext []byte) (string, error)
	Decrypt(ciphertext string) ([]byte, error)
}

// formSealer seals every stored form when set: forms can show secrets
// (a TOTP key, backup codes), which must not rest in the database in the
// clear. It is set once at start-up, before any request is served.
var formSealer Sealer

// sealedPrefix marks a sealed form, stored as a JSON string (the column
// is JSON on PostgreSQL); unsealed forms are JSON objects.
const sealedPrefix = "sealed:"

// SealForms makes every flow stored from now on keep its form encrypted
// with s, and lets flows read forms sealed with it.
func SealForms(s Sealer) { formSealer = s }

func encode(f *Flow) (string, string, error) {
	raw, err := json.Marshal(f.UI)
	if err != nil {
		return "", "", err
	}
	ui := string(raw)
	if formSealer != nil {
		sealed, err := formSealer.Encrypt(raw)
		if err != nil {
			return "", "", err
		}
		quoted, err := json.Marshal(sealedPrefix + sealed)
		if err != nil {
			return "", "", err
		}
		ui = string(quoted)
	}
	internal, err := json.Marshal(f.Internal)
	if err != nil {
		return "", "", err
	}
	return ui, string(internal), nil
}

// decodeForm reads a stored form, sealed or not.
func decodeForm(stored string, into **Container) error {
	raw := []byte(stored)
	var text string
	if strings.HasPrefix(stored, `"`) && json.Unmarshal(raw, &text) == nil && strings.HasPrefix(text, sealedPrefix) {
		sealed := strings.TrimPrefix(text, sealedPrefix)
		if formSealer == nil {
			return errors.New("flow: the form is sealed, and no secrets.cipher is configured to open it")
		}
		var err error
		if raw, err = formSealer.Decrypt(sealed); err != nil {
			return fmt.Errorf("flow: opening the stored form: %w", err)
		}
	}
	return json.Unmarshal(raw, into)
}

// Get loads a flow of kind; a missing one (or one of another kind) is
// ErrFlowNotFound.
func Get(ctx context.Context, q *store.Q, kind Kind, id uuid.UUID) (*Flow, error) {
	return get(ctx, q, kind, id)
}

// get loads a flow of kind, or of any kind when kind is "".
func get(ctx context.Context, q *store.Q, kind Kind, id uuid.UUID) (*Flow, error) {
	var (
		f                   Flow
		k                   string
		ui, internal        string
		identityID          *uuid.UUID
		issued, exp, c, u   store.Time
		active, ret, reqAAL sql.NullString
	)
	err := q.QueryRow(ctx, `SELECT id, kind, type, state, active, request_url, return_to, issued_at, expires_at, ui, csrf_hash, refresh, requested_aal, identity_id, internal, created_at, updated_at
FROM selfservice_flows WHERE id = $1`, id).Scan(&f.ID, &k, &f.Type, &f.State, &active, &f.RequestURL, &ret, &issued, &exp, &ui, &f.CSRFHash,
		&f.Refresh, &reqAAL, &identityID, &internal, &c, &u)
	if errors.Is(err, store.ErrNotFound) || (err == nil && kind != "" && Kind(k) != kind) {
		return nil, ErrFlowNotFound
	}
	if err != nil {
		return nil, err
	}
	f.Kind, f.Active, f.ReturnTo, f.RequestedAAL, f.IdentityID = Kind(k), active.String, ret.String, reqAAL.String, identityID
	f.IssuedAt, f.ExpiresAt, f.CreatedAt, f.UpdatedAt = issued.Time, exp.Time, c.Time, u.Time
	if err := decodeForm(ui, &f.UI); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(internal), &f.Internal); err != nil {
		return nil, err
	}
	if f.Internal == nil {
		f.Internal = map[string]json.RawMessage{}
	}
	return &f, nil
}

// View is the JSON shape of login and registration flows (the SDK's
// LoginFlow and RegistrationFlow).
type View struct {
	ID             string     `json:"id"`
	OrganizationID *string    `json:"organization_id"`
	Type           string     `json:"type"`
	ExpiresAt      time.Time  `json:"expires_at"`
	IssuedAt       time.Time  `json:"issued_at"`
	RequestURL     string     `json:"request_url"`
	ReturnTo       string     `json:"return_to,omitempty"`
	Active         string     `json:"active,omitempty"`
	UI             *Container `json:"ui"`
	CreatedAt      *time.Time `json:"created_at,omitempty"`
	UpdatedAt      *time.Time `json:"updated_at,omitempty"`
	Refresh        *bool      `json:"refresh,omitempty"`
	RequestedAAL   string     `json:"requested_aal,omitempty"`
	State          string     `json:"state"`
	ContinueWith   []any      `json:"continue_with,omitempty"`
	// SessionTokenExchangeCode is shown once, on the new native flow.
	SessionTokenExchangeCode string `json:"session_token_exchange_code,omitempty"`
}

// View renders the flow for the API.
func (f *Flow) View() View {
	v := View{
		ID: f.ID.String(), Type: f.Type, ExpiresAt: f.ExpiresAt, IssuedAt: f.IssuedAt,
		RequestURL: f.RequestURL, ReturnTo: f.ReturnTo, Active: f.Active, UI: f.UI, State: f.State,
		ContinueWith: f.ContinueWith, SessionTokenExchangeCode: f.ExchangeCode,
	}
	if f.Kind == Login {
		refresh := f.Refresh
		created, updated := f.CreatedAt, f.UpdatedAt
		v.Refresh, v.CreatedAt, v.UpdatedAt = &refresh, &created, &updated
		v.RequestedAAL = f.RequestedAAL
		if v.RequestedAAL == "" {
			v.RequestedAAL = "aal1"
		}
	}
	return v
}

// Messages of the flow container, for handlers that add one.
func (f *Flow) AddMessage(field string, m *text.Message) { f.UI.AddMessage(field, m) }
