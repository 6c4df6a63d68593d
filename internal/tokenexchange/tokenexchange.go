// Package tokenexchange hands a session to a native app whose sign-in
// finished in the system browser: the app created its API flow with
// return_session_token_exchange_code=true and holds the init code; the
// browser comes back to the app with the return_to code; both together
// redeem the session token, once, at GET /sessions/token-exchange.
//
// Kratos answers a pair as often as it is asked until it is cleaned up;
// Lanyard answers it once and only within the flow's lifespan.
package tokenexchange

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/cipher"
	"github.com/lanyard-id/lanyard/internal/session"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/wire"
)

// codeLength is the length of both codes, as in Kratos: 64 letters of a
// 62-letter alphabet carry about 380 bits.
const codeLength = 64

// maxParamLength bounds what the endpoint reads of a code before refusing it.
const maxParamLength = 128

// DefaultLifespan is how long a completed pair can be redeemed when no
// flow lifespan is given.
const DefaultLifespan = time.Hour

const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// NewInitCode makes the code shown on the flow and the digest the flow
// keeps (SHA-256 hex; the code itself is never stored).
func NewInitCode() (code, digest string) {
	code = newCode()
	return code, Digest(code)
}

// Digest is how a code is stored and looked up. The codes are random and
// long, so a fast unkeyed hash is as good as a slow one.
func Digest(code string) string {
	sum := sha256.Sum256([]byte(code))
	return hex.EncodeToString(sum[:])
}

// newCode draws codeLength letters uniformly from the alphabet.
func newCode() string {
	var b strings.Builder
	b.Grow(codeLength)
	buf := make([]byte, codeLength*2)
	for b.Len() < codeLength {
		_, _ = rand.Read(buf)
		for _, c := range buf {
			if c >= 248 { // 248 = 4*62: larger bytes would favour the first letters
				continue
			}
			b.WriteByte(alphabet[int(c)%len(alphabet)])
			if b.Len() == codeLength {
				break
			}
		}
	}
	return b.String()
}

// Exchanges stores completed pairs and redeems them.
type Exchanges struct {
	db       *store.Store
	cipher   cipher.Cipher
	sessions *session.Manager
	lifespan time.Duration
	now      func() time.Time
}

// New wires the exchange; lifespan is the flow lifespan (DefaultLifespan
// when not positive).
func New(db *store.Store, c cipher.Cipher, sessions *session.Manager, lifespan time.Duration) *Exchanges {
	if lifespan <= 0 {
		lifespan = DefaultLifespan
	}
	return &Exchanges{db: db, cipher: c, sessions: sessions, lifespan: lifespan, now: store.Now}
}

var (
	errBadDigest  = errors.New("tokenexchange: the init code digest is not a SHA-256 hex digest")
	errNoToken    = errors.New("tokenexchange: the session carries no token (only a session just issued can be exchanged)")
	errNoSession  = wire.NotFound.WithReason("no session yet for this code")
	errMissingArg = wire.BadRequest.WithReason("The query parameters init_code and return_to_code are both required.")
)

// Complete records that the flow whose init-code digest is initDigest
// completed with session s (s.Token is the plaintext session token; it is
// stored sealed with the cipher), inside the caller's transaction q, and
// answers the return_to code to put in the redirect.
func (e *Exchanges) Complete(ctx context.Context, q *store.Q, initDigest string, s *session.Session) (returnToCode string, err error) {
	if !isDigest(initDigest) {
		return "", errBadDigest
	}
	if s == nil || s.Token == "" {
		return "", errNoToken
	}
	sealed, err := e.cipher.Encrypt([]byte(s.Token))
	if err != nil {
		return "", err
	}
	returnToCode = newCode()
	now := e.now()
	if _, err := q.Exec(ctx, `INSERT INTO session_token_exchanges (id, init_code_hash, return_to_code_hash, session_id, session_token, expires_at, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		uuid.New(), initDigest, Digest(returnToCode), s.ID, sealed, now.Add(e.lifespan), now); err != nil {
		return "", err
	}
	return returnToCode, nil
}

func isDigest(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Register mounts GET /sessions/token-exchange on the public mux.
func (e *Exchanges) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /sessions/token-exchange", e.exchange)
}

func (e *Exchanges) exchange(w http.ResponseWriter, r *http.Request) {
	query := r.URL.Query()
	initCode, returnToCode := query.Get("init_code"), query.Get("return_to_code")
	if initCode == "" || returnToCode == "" {
		wire.WriteError(w, r, errMissingArg)
		return
	}
	// Nothing that is not a code can match one: answer as for a wrong code.
	if !plausibleCode(initCode) || !plausibleCode(returnToCode) {
		wire.WriteError(w, r, errNoSession)
		return
	}
	s, token, err := e.redeem(r.Context(), initCode, returnToCode)
	if err != nil {
		wire.WriteError(w, r, err)
		return
	}
	wire.WriteJSON(w, http.StatusOK, map[string]any{"session_token": token, "session": e.sessions.View(s, false)})
}

// redeem finds the pair, checks it and deletes it in one transaction, so
// that of racing requests exactly one gets the token. A pair whose session
// has ended is deleted too: it can never answer again.
func (e *Exchanges) redeem(ctx context.Context, initCode, returnToCode string) (*session.Session, string, error) {
	var (
		s     *session.Session
		token string
	)
	err := e.db.Write(ctx, func(q *store.Q) error {
		var (
			id                 uuid.UUID
			returnToHash, seal string
			expires            store.Time
		)
		err := q.QueryRow(ctx, `SELECT id, return_to_code_hash, session_token, expires_at FROM session_token_exchanges WHERE init_code_hash = $1`,
			Digest(initCode)).Scan(&id, &returnToHash, &seal, &expires)
		if errors.Is(err, store.ErrNotFound) {
			return errNoSession
		}
		if err != nil {
			return err
		}
		// A wrong return_to code changes nothing: the right one still works.
		if subtle.ConstantTimeCompare([]byte(Digest(returnToCode)), []byte(returnToHash)) != 1 {
			return errNoSession
		}
		if !e.now().Before(expires.Time) {
			return errNoSession
		}
		res, err := q.Exec(ctx, `DELETE FROM session_token_exchanges WHERE id = $1`, id)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n != 1 {
			return errNoSession // a racing request deleted it after our read
		}
		plain, err := e.cipher.Decrypt(seal)
		if err != nil {
			return err // kept for when secrets.cipher is fixed
		}
		found, err := e.sessions.ByToken(ctx, string(plain))
		if errors.Is(err, session.ErrNoSession) {
			return nil // the session ended: the pair goes, and the answer is 404
		}
		if err != nil {
			return err
		}
		s, token = found, string(plain)
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	if s == nil {
		return nil, "", errNoSession
	}
	return s, token, nil
}

// plausibleCode reports whether v could be a code: short and alphanumeric.
func plausibleCode(v string) bool {
	if len(v) > maxParamLength {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}
