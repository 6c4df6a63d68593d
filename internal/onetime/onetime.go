// Package onetime issues and redeems the one-time codes and link tokens of
// recovery and verification, and the codes that sign in and sign up. A
// code is redeemed at most once, even when two requests race, and only an
// HMAC of it is stored.
package onetime

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/store"
)

// Purposes and methods.
const (
	Recovery     = "recovery"
	Verification = "verification"
	Login        = "login"
	// Registration codes belong to no identity (IdentityID nil): it does
	// not exist until the code is redeemed.
	Registration = "registration"
	MethodCode   = "code"
	MethodLink   = "link"
)

// Errors of redemption. ErrExpired and ErrUsed say why a code that matched
// cannot be used; both also match ErrInvalid, so callers that do not care
// why treat them alike.
var (
	ErrInvalid         = errors.New("onetime: the code is invalid, expired or used")
	ErrExpired         = fmt.Errorf("%w: it expired", ErrInvalid)
	ErrUsed            = fmt.Errorf("%w: it was used already", ErrInvalid)
	ErrTooManyAttempts = errors.New("onetime: the code was submitted too often")
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
		return fmt.Sprintf("%06d", n.Int64())
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
// plain text, to be sent to the address and never stored. The code
// inherits the submissions already made on its flow: sending a new code
// does not reset the flow's budget of attempts.
func (c *Codes) Issue(ctx context.Context, q *store.Q, code Code) (string, error) {
	plain := newPlain(code.Method)
	// The inherited count is read by the INSERT itself (an aggregate
	// always answers one row), so that the statement can be deferred.
	err := q.Defer(ctx, `INSERT INTO selfservice_codes (id, purpose, method, flow_id, identity_id, address_via, address_value, code_hash, attempts, expires_at, created_at)
SELECT $1, $2, $3, $4, $5, $6, $7, $8, COALESCE(MAX(attempts), 0), $9, $10 FROM selfservice_codes WHERE flow_id = $4`,
		uuid.New(), code.Purpose, code.Method, code.FlowID, code.IdentityID, code.Via, code.Value,
		c.hash(code.Purpose, plain), code.ExpiresAt, store.Now())
	return plain, err
}

// InvalidateFlow retires the flow's unused codes, as when a new one is
// sent. A retired code no longer matches at all (its hash is replaced), so
// typing it afterwards reads as a wrong code; the row stays to remember
// the flow's attempts.
func (c *Codes) InvalidateFlow(ctx context.Context, q *store.Q, flowID uuid.UUID) error {
	_, err := q.Exec(ctx, `UPDATE selfservice_codes SET used_at = $2, code_hash = 'retired:' || CAST(id AS TEXT)
WHERE flow_id = $1 AND used_at IS NULL`, flowID, store.Now())
	return err
}

// LiveAddresses answers the flow's codes of purpose that were neither used
// nor retired, newest first: where the code a user may still type went.
// Expired codes are among them (ExpiresAt says so); redeeming one answers
// ErrExpired.
func (c *Codes) LiveAddresses(ctx context.Context, q *store.Q, flowID uuid.UUID, purpose string) ([]Code, error) {
	rows, err := q.Query(ctx, `SELECT `+codeColumns+` FROM selfservice_codes
WHERE flow_id = $1 AND purpose = $2 AND method = $3 AND used_at IS NULL ORDER BY created_at DESC, address_value, address_via`,
		flowID, purpose, MethodCode)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Code
	for rows.Next() {
		code, _, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *code)
	}
	return out, rows.Err()
}

const codeColumns = `id, purpose, method, flow_id, identity_id, address_via, address_value, expires_at, used_at`

func scan(row interface{ Scan(...any) error }) (*Code, bool, error) {
	var code Code
	var exp store.Time
	var used store.NullTime
	if err := row.Scan(&code.ID, &code.Purpose, &code.Method, &code.FlowID, &code.IdentityID, &code.Via, &code.Value, &exp, &used); err != nil {
		return nil, false, err
	}
	code.ExpiresAt = exp.Time
	return &code, used.Valid, nil
}

// RedeemCode checks a code typed into flow flowID. Every submission counts
// against the flow, right or wrong, as Kratos counts them: once more than
// maxAttempts were made (0: no limit), the flow's codes are retired and
// ErrTooManyAttempts says so, even for the right code. Otherwise a code
// that matches nothing is ErrInvalid, one that matches but expired is
// ErrExpired, and one used already (also by a racing request) is ErrUsed.
// The caller commits the transaction on these errors so that the attempt
// counts.
//
// gate, when set, is asked after the flow's own limit and before the code
// is compared, with the address the flow's live code went to: an error it
// answers refuses the submission (which still counts for the flow), so a
// brute-force guard can count guesses per address across flows.
func (c *Codes) RedeemCode(ctx context.Context, q *store.Q, purpose string, flowID uuid.UUID, plain string, maxAttempts int, gate func(address string) error) (*Code, error) {
	if _, err := q.Exec(ctx, `UPDATE selfservice_codes SET attempts = attempts + 1
WHERE flow_id = $1 AND purpose = $2 AND method = $3 AND used_at IS NULL`, flowID, purpose, MethodCode); err != nil {
		return nil, err
	}
	var attempts int
	err := q.QueryRow(ctx, `SELECT COALESCE(MAX(attempts), 0) FROM selfservice_codes
WHERE flow_id = $1 AND purpose = $2 AND method = $3 AND used_at IS NULL`, flowID, purpose, MethodCode).Scan(&attempts)
	if err != nil {
		return nil, err
	}
	if maxAttempts > 0 && attempts > maxAttempts {
		if err := c.InvalidateFlow(ctx, q, flowID); err != nil {
			return nil, err
		}
		return nil, ErrTooManyAttempts
	}
	if gate != nil {
		var address string
		err := q.QueryRow(ctx, `SELECT address_value FROM selfservice_codes
WHERE flow_id = $1 AND purpose = $2 AND method = $3 AND used_at IS NULL ORDER BY created_at DESC LIMIT 1`,
			flowID, purpose, MethodCode).Scan(&address)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		if address != "" {
			if err := gate(address); err != nil {
				return nil, err
			}
		}
	}
	code, used, err := scan(q.QueryRow(ctx, `SELECT `+codeColumns+` FROM selfservice_codes
WHERE flow_id = $1 AND purpose = $2 AND method = $3 AND code_hash = $4`,
		flowID, purpose, MethodCode, c.hash(purpose, plain)))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrInvalid
	}
	if err != nil {
		return nil, err
	}
	return c.redeem(ctx, q, code, used)
}

// RedeemToken checks a link token; the errors are those of RedeemCode.
func (c *Codes) RedeemToken(ctx context.Context, q *store.Q, purpose, plain string) (*Code, error) {
	code, used, err := scan(q.QueryRow(ctx, `SELECT `+codeColumns+` FROM selfservice_codes
WHERE purpose = $1 AND method = $2 AND code_hash = $3`,
		purpose, MethodLink, c.hash(purpose, plain)))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrInvalid
	}
	if err != nil {
		return nil, err
	}
	return c.redeem(ctx, q, code, used)
}

// redeem spends a matching code unless it is used or expired.
func (c *Codes) redeem(ctx context.Context, q *store.Q, code *Code, used bool) (*Code, error) {
	now := store.Now()
	switch {
	case used:
		return nil, ErrUsed
	case !now.Before(code.ExpiresAt):
		return code, ErrExpired
	}
	if err := c.spend(ctx, q, code.ID, now); err != nil {
		return nil, err
	}
	return code, nil
}

// spend marks a code used; of two racing redemptions only one changes the
// row, and the other is told the code is gone.
func (c *Codes) spend(ctx context.Context, q *store.Q, id uuid.UUID, now time.Time) error {
	res, err := q.Exec(ctx, `UPDATE selfservice_codes SET used_at = $2 WHERE id = $1 AND used_at IS NULL`, id, now)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return ErrUsed
	}
	return nil
}
