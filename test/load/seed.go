package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/store"
)

// Sessions at scale: no API makes a million sessions quickly, so
// seed-sessions writes them straight into the server's database, as the
// server itself would store them, with tokens that whoami-many can derive
// again from the same seed.

// seededToken is session token i of a seed: "ory_st_" and 32 hex digits of
// HMAC-SHA256(seed, i). Anybody who knows the seed knows every token, so a
// seed is for benchmark databases only.
func seededToken(seed string, i int) string {
	mac := hmac.New(sha256.New, []byte(seed))
	mac.Write([]byte(strconv.Itoa(i)))
	return "ory_st_" + hex.EncodeToString(mac.Sum(nil))[:32]
}

// storedTokenHash is how the server keeps a session token (internal/session:
// a SHA-256 digest, in hex).
func storedTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

const tokenLetters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// storedLogoutTokenHash is the stored form of the logout token the server
// derives from a session token, so that logging a seeded session out works
// as for any other.
func storedLogoutTokenHash(token string) string {
	sum := sha256.Sum256([]byte("logout-token:" + token))
	var b strings.Builder
	b.WriteString("ory_lo_")
	for _, c := range sum {
		b.WriteByte(tokenLetters[int(c)%len(tokenLetters)])
	}
	return storedTokenHash(b.String())
}

// sessionColumns are written for every seeded session; the shared values
// (everything but the first four) are bound once per statement.
const sessionColumns = "id, identity_id, token_hash, logout_token_hash, active, aal, authentication_methods, devices, issued_at, authenticated_at, expires_at, created_at, updated_at"

// sharedSessionArgs are the values every seeded session has in common.
const sharedSessionArgs = 9

// sessionInsert builds one multi-row INSERT of rows sessions: $1..$9 are
// the shared values, then four per row. Existing tokens are left alone, so
// seeding again with the same seed adds only what is missing.
func sessionInsert(rows int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO sessions (" + sessionColumns + ") VALUES ")
	for r := range rows {
		if r > 0 {
			b.WriteString(", ")
		}
		p := sharedSessionArgs + 4*r
		fmt.Fprintf(&b, "($%d, $%d, $%d, $%d, $1, $2, $3, $4, $5, $6, $7, $8, $9)", p+1, p+2, p+3, p+4)
	}
	b.WriteString(" ON CONFLICT DO NOTHING")
	return b.String()
}

// seedOptions say what seedSessions writes.
type seedOptions struct {
	seed       string
	n          int           // sessions 0..n-1
	batch      int           // rows per INSERT
	perTx      int           // INSERTs per transaction
	lifespan   time.Duration // from now
	progress   io.Writer     // nil: quiet
	now        time.Time
	identities []uuid.UUID // nil: every identity, ordered by id
}

// seedSessions writes sessions 0..n-1, session i for identity i modulo the
// number of identities (ordered by id), and answers how many rows were new.
func seedSessions(ctx context.Context, s *store.Store, o seedOptions) (int, error) {
	ids := o.identities
	if ids == nil {
		var err error
		if ids, err = identityIDs(ctx, s); err != nil {
			return 0, err
		}
	}
	if len(ids) == 0 {
		return 0, fmt.Errorf("the database has no identities to give sessions to: import them first")
	}
	now := o.now.UTC().Truncate(time.Microsecond)
	methods, err := json.Marshal([]map[string]any{{"method": "password", "aal": "aal1", "completed_at": now}})
	if err != nil {
		return 0, err
	}
	shared := []any{true, "aal1", string(methods), "[]", now, now, now.Add(o.lifespan), now, now}

	inserted := 0
	for start := 0; start < o.n; {
		err := s.Write(ctx, func(q *store.Q) error {
			for k := 0; k < o.perTx && start < o.n; k++ {
				rows := min(o.batch, o.n-start)
				args := append(make([]any, 0, sharedSessionArgs+4*rows), shared...)
				for i := start; i < start+rows; i++ {
					token := seededToken(o.seed, i)
					args = append(args, uuid.New(), ids[i%len(ids)], storedTokenHash(token), storedLogoutTokenHash(token))
				}
				res, err := q.Exec(ctx, sessionInsert(rows), args...)
				if err != nil {
					return fmt.Errorf("inserting sessions %d to %d: %w", start, start+rows-1, err)
				}
				if n, err := res.RowsAffected(); err == nil {
					inserted += int(n)
				}
				start += rows
			}
			return nil
		})
		if err != nil {
			return inserted, err
		}
		if o.progress != nil {
			fmt.Fprintf(o.progress, "seed-sessions: %d of %d\n", start, o.n)
		}
	}
	return inserted, nil
}

func identityIDs(ctx context.Context, s *store.Store) ([]uuid.UUID, error) {
	rows, err := s.Read().Query(ctx, `SELECT id FROM identities ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []uuid.UUID
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func runSeedSessions(ctx context.Context, args []string, errOut io.Writer) (*result, error) {
	fs := newFlagSet("seed-sessions", errOut)
	dsn := fs.String("dsn", "", "the server's database, as in its config (sqlite://FILE or postgres://...); default $LANYARD_SEED_DSN")
	n := fs.Int("n", 0, "sessions to write: session i belongs to identity i modulo their number (ordered by id)")
	seed := fs.String("tokens-seed", "", "derive the session tokens from this seed (see whoami-many); default $LANYARD_TOKENS_SEED; never printed")
	batch := fs.Int("batch", 500, "rows per INSERT")
	perTx := fs.Int("per-tx", 10, "INSERTs per transaction")
	lifespan := fs.Duration("lifespan", 30*24*time.Hour, "the sessions expire this long from now")
	quiet := fs.Bool("quiet", false, "no progress lines on stderr")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if err := seededDatabase(dsn, seed, *n); err != nil {
		return nil, err
	}
	switch {
	case *batch < 1 || *batch > 2000:
		// 4 parameters a row: PostgreSQL takes at most 65535 a statement.
		return nil, fmt.Errorf("%w: -batch must be between 1 and 2000", errUsage)
	case *perTx < 1:
		return nil, fmt.Errorf("%w: -per-tx must be at least 1", errUsage)
	case *lifespan <= 0:
		return nil, fmt.Errorf("%w: -lifespan must be positive", errUsage)
	}

	s, err := store.Open(ctx, *dsn)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	res := &result{Scenario: "seed-sessions", Target: s.String(), Unit: "sessions"}
	o := seedOptions{seed: *seed, n: *n, batch: *batch, perTx: *perTx, lifespan: *lifespan, now: time.Now()}
	if !*quiet {
		o.progress = errOut
	}
	start := time.Now()
	inserted, err := seedSessions(ctx, s, o)
	elapsed := time.Since(start)
	res.Operations, res.OK = *n, *n
	if err != nil {
		res.OK = inserted
	}
	res.DurationS = round3(elapsed.Seconds())
	if elapsed > 0 {
		res.Throughput = round1(float64(*n) / elapsed.Seconds())
	}
	res.notes = append(res.notes, fmt.Sprintf("%d new, %d already there (same seed)", inserted, *n-inserted))
	return res, err
}

// pruneSessions deletes every session but seeded sessions 0..n-1 (those a
// measurement's logins added, say), so that a database seeded with n
// sessions has n again, and answers how many it deleted.
func pruneSessions(ctx context.Context, s *store.Store, seed string, n, batch int) (int, error) {
	keep := make(map[string]struct{}, n)
	for i := range n {
		keep[storedTokenHash(seededToken(seed, i))] = struct{}{}
	}
	rows, err := s.Read().Query(ctx, `SELECT id, token_hash FROM sessions`)
	if err != nil {
		return 0, err
	}
	var doomed []any
	for rows.Next() {
		var id uuid.UUID
		var hash string
		if err := rows.Scan(&id, &hash); err != nil {
			rows.Close()
			return 0, err
		}
		if _, ok := keep[hash]; !ok {
			doomed = append(doomed, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	deleted := 0
	for start := 0; start < len(doomed); start += batch {
		part := doomed[start:min(start+batch, len(doomed))]
		marks := make([]string, len(part))
		for i := range part {
			marks[i] = "$" + strconv.Itoa(i+1)
		}
		err := s.Write(ctx, func(q *store.Q) error {
			res, err := q.Exec(ctx, `DELETE FROM sessions WHERE id IN (`+strings.Join(marks, ", ")+`)`, part...)
			if err != nil {
				return err
			}
			if k, err := res.RowsAffected(); err == nil {
				deleted += int(k)
			}
			return nil
		})
		if err != nil {
			return deleted, err
		}
	}
	return deleted, nil
}

func runPruneSessions(ctx context.Context, args []string, errOut io.Writer) (*result, error) {
	fs := newFlagSet("prune-sessions", errOut)
	dsn := fs.String("dsn", "", "the server's database, as in its config; default $LANYARD_SEED_DSN")
	n := fs.Int("n", 0, "keep seeded sessions 0..N-1 (as seed-sessions -n wrote them); every other session is deleted")
	seed := fs.String("tokens-seed", "", "the seed seed-sessions wrote the tokens with; default $LANYARD_TOKENS_SEED; never printed")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if err := seededDatabase(dsn, seed, *n); err != nil {
		return nil, err
	}
	s, err := store.Open(ctx, *dsn)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	res := &result{Scenario: "prune-sessions", Target: s.String(), Unit: "sessions"}
	start := time.Now()
	deleted, err := pruneSessions(ctx, s, *seed, *n, 500)
	res.DurationS = round3(time.Since(start).Seconds())
	res.Operations, res.OK = deleted, deleted
	res.notes = append(res.notes, fmt.Sprintf("%d deleted, seeded 0..%d kept", deleted, *n-1))
	return res, err
}

// seededDatabase fills -dsn and -tokens-seed from the environment and
// checks them and -n, for the scenarios that work on a seeded database.
func seededDatabase(dsn, seed *string, n int) error {
	if *dsn == "" {
		*dsn = os.Getenv("LANYARD_SEED_DSN")
	}
	if *seed == "" {
		*seed = os.Getenv("LANYARD_TOKENS_SEED")
	}
	switch {
	case *dsn == "":
		return fmt.Errorf("%w: -dsn (or $LANYARD_SEED_DSN) is required", errUsage)
	case *seed == "":
		return fmt.Errorf("%w: -tokens-seed (or $LANYARD_TOKENS_SEED) is required", errUsage)
	case n < 1 || n > 100_000_000:
		return fmt.Errorf("%w: -n must be between 1 and 100000000", errUsage)
	case !strings.HasPrefix(*dsn, "sqlite") && !strings.HasPrefix(*dsn, "file:") && !strings.HasPrefix(*dsn, "postgres"):
		return fmt.Errorf("%w: -dsn must name a SQLite file or a PostgreSQL database", errUsage)
	}
	return nil
}
