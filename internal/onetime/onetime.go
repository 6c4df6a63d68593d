// Package onetime issues and redeems the one-time codes and link tokens of
// recovery and verification. A code is redeemed at most once, even when
// two requests race, and only an HMAC of it is stored.
package onetime

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/big"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/store"
)

// Purposes and methods.
const (
	Recovery     = "recovery"
	Verification = "verification"
	MethodCode   = "code"
	MethodLink   = "link"
)

// Errors of redemption.
var (
	ErrInvalid         = errors.New("onetime: the code is invalid, expired or used")
	ErrTooManyAttempts = errors.New("onetime: too many wrong codes")
)

// Code is an issued code as stored.
type Code struct {
	ID         uuid.UUID
	Purpose    string
	Method     string
	FlowID     uuid.UUID
	IdentityID *uuid.UUID
	Via        string
	Value      string
	ExpiresAt  time.Time
}

// Codes issues and redeems codes.
type Codes struct {
	key []byte
}

// New keys the HMAC with secret (the first cookie secret).
func New(secret string) *Codes {
	sum := sha256.Sum256([]byte("lanyard one-time codes:" + secret))
	return &Codes{key: sum[:]}
}

func (c *Codes) hash(purpose, plain string) string {
	mac := hmac.New(sha256.New, c.key)
	mac.Write([]byte(purpose + ":" + plain))
	return hex.EncodeToString(mac.Sum(nil))
}

// newPlain makes a six-digit code or a 32-character link token.
func newPlain(method string) string {
	if method == MethodCode {
		n, _ := rand.Int(rand.Reader, big.NewInt(1_000_000))
		s := n.String()
		for len(s) < 6 {
			s = "0" + s
		}
		return s
	}
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 32)
	for i := range b {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b[i] = alphabet[n.Int64()]
	}
	return string(b)
}

// Issue stores a new code in the caller's transaction and answers its
// plain text, to be sent to the address and never stored.
func (c *Codes) Issue(ctx context.Context, q *store.Q, code Code) (string, error) {
	plain := newPlain(code.Method)
	now := store.Now()
	_, err := q.Exec(ctx, `INSERT INTO selfservice_codes (id, purpose, method, flow_id, identity_id, address_via, address_value, code_hash, attempts, expires_at, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		uuid.New(), code.Purpose, code.Method, code.FlowID, code.IdentityID, code.Via, code.Value,
		c.hash(code.Purpose, plain), 0, code.ExpiresAt, now)
	return plain, err
}

// InvalidateFlow retires the flow's unused codes, as when a new one is sent.
func (c *Codes) InvalidateFlow(ctx context.Context, q *store.Q, flowID uuid.UUID) error {
	_, err := q.Exec(ctx, `UPDATE selfservice_codes SET used_at = $2 WHERE flow_id = $1 AND used_at IS NULL`, flowID, store.Now())
	return err
}

const codeColumns = `id, purpose, method, flow_id, identity_id, address_via, address_value, expires_at`

func scan(row interface{ Scan(...any) error }) (*Code, error) {
	var code Code
	var exp store.Time
	if err := row.Scan(&code.ID, &code.Purpose, &code.Method, &code.FlowID, &code.IdentityID, &code.Via, &code.Value, &exp); err != nil {
		return nil, err
	}
	code.ExpiresAt = exp.Time
	return &code, nil
}

// RedeemCode checks a code typed into flow flowID. A wrong code counts as
// an attempt against every live code of the flow; after maxAttempts they
// are all retired and ErrTooManyAttempts says so.
func (c *Codes) RedeemCode(ctx context.Context, q *store.Q, purpose string, flowID uuid.UUID, plain string, maxAttempts int) (*Code, error) {
	now := store.Now()
	code, err := scan(q.QueryRow(ctx, `SELECT `+codeColumns+` FROM selfservice_codes
WHERE flow_id = $1 AND purpose = $2 AND method = $3 AND code_hash = $4 AND used_at IS NULL AND expires_at > $5`,
		flowID, purpose, MethodCode, c.hash(purpose, plain), now))
	if errors.Is(err, store.ErrNotFound) {
		if _, err := q.Exec(ctx, `UPDATE selfservice_codes SET attempts = attempts + 1 WHERE flow_id = $1 AND used_at IS NULL`, flowID); err != nil {
			return nil, err
		}
		var attempts int
		err := q.QueryRow(ctx, `SELECT COALESCE(MAX(attempts), 0) FROM selfservice_codes WHERE flow_id = $1 AND used_at IS NULL`, flowID).Scan(&attempts)
		if err != nil {
			return nil, err
		}
		if maxAttempts > 0 && attempts >= maxAttempts {
			if err := c.InvalidateFlow(ctx, q, flowID); err != nil {
				return nil, err
			}
			return nil, ErrTooManyAttempts
		}
		return nil, ErrInvalid
	}
	if err != nil {
		return nil, err
	}
	return code, c.spend(ctx, q, code.ID, now)
}

// RedeemToken checks a link token.
func (c *Codes) RedeemToken(ctx context.Context, q *store.Q, purpose, plain string) (*Code, error) {
	now := store.Now()
	code, err := scan(q.QueryRow(ctx, `SELECT `+codeColumns+` FROM selfservice_codes
WHERE purpose = $1 AND method = $2 AND code_hash = $3 AND used_at IS NULL AND expires_at > $4`,
		purpose, MethodLink, c.hash(purpose, plain), now))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrInvalid
	}
	if err != nil {
		return nil, err
	}
	return code, c.spend(ctx, q, code.ID, now)
}

// spend marks a code used; of two racing redemptions only one changes the
// row, and the other is told the code is gone.
func (c *Codes) spend(ctx context.Context, q *store.Q, id uuid.UUID, now time.Time) error {
	res, err := q.Exec(ctx, `UPDATE selfservice_codes SET used_at = $2 WHERE id = $1 AND used_at IS NULL`, id, now)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return ErrInvalid
	}
	return nil
}
