package guard

import (
	"context"
	"database/sql"
	"math/bits"
	"strings"
	"time"

	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/text"
)

// Scope separates counters of different secrets: a wrong one-time code
// does not count against the password, nor the other way round.
type Scope string

const (
	// ScopeLogin counts password sign-ins per identifier.
	ScopeLogin Scope = "login"
	// ScopeCode counts one-time code submissions per address.
	ScopeCode Scope = "code"
	// ScopeSecondFactor counts second-factor sign-ins (TOTP, backup
	// codes) per identity.
	ScopeSecondFactor Scope = "second_factor"
)

// Verdict says whether an attempt may go on to check its credential.
type Verdict struct {
	Allowed bool
	// Locked: the identifier is locked on every client address, the right
	// credential included. Otherwise a refusal is a delay for this client.
	Locked bool
	// RetryAfter is how long the refusal lasts; Until is when it ends.
	RetryAfter time.Duration
	Until      time.Time
	// Failures counts the attempts without success for the identifier in
	// the current window, this one included.
	Failures int
}

// Message is the UI message of a refused verdict; nil when allowed.
func (v Verdict) Message() *text.Message {
	switch {
	case v.Allowed:
		return nil
	case v.Locked:
		return text.IdentifierLocked(v.Until, v.RetryAfterSeconds())
	default:
		return text.AttemptsDelayed(v.RetryAfterSeconds())
	}
}

// RetryAfterSeconds is RetryAfter rounded up to whole seconds, at least 1.
func (v Verdict) RetryAfterSeconds() int { return ceilSeconds(v.RetryAfter) }

func ceilSeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

var allowed = Verdict{Allowed: true}

// Placeholders of the attempt upserts; CAST pins the parameter types that
// PostgreSQL would otherwise have to guess inside arithmetic.
var attemptSQL = strings.NewReplacer(
	":ip", "$3",
	":now", "CAST($4 AS BIGINT)",
	":window", "CAST($5 AS BIGINT)",
	":lock_after", "CAST($6 AS BIGINT)",
	":lock_for", "CAST($7 AS BIGINT)",
	":free", "CAST($6 AS INTEGER)",
	":max_delay", "CAST($7 AS BIGINT)",
	":cap", "CAST($8 AS INTEGER)",
)

// identifierUpsert counts one attempt for an identifier on every address.
// A window starts with the first attempt. The attempt after lock_after in
// one window locks the identifier until the window ends, and at least
// lock_for; attempts during a lock are counted but never extend it. When
// the lock (and so the window) is over, the next attempt starts afresh.
var identifierUpsert = attemptSQL.Replace(identifierTemplate)

const identifierTemplate = `
INSERT INTO guard_attempts AS a (identifier_hash, scope, ip, failures, window_start, updated_at)
VALUES ($1, $2, :ip, 1, :now, :now)
ON CONFLICT (identifier_hash, scope, ip) DO UPDATE SET
    failures = CASE WHEN a.locked_until > :now OR a.window_start + :window > :now THEN a.failures + 1 ELSE 1 END,
    window_start = CASE WHEN a.locked_until > :now OR a.window_start + :window > :now THEN a.window_start ELSE :now END,
    locked_until = CASE
        WHEN a.locked_until > :now THEN a.locked_until
        WHEN a.window_start + :window <= :now THEN 0
        WHEN a.failures + 1 > :lock_after THEN
            CASE WHEN :now + :lock_for > a.window_start + :window THEN :now + :lock_for ELSE a.window_start + :window END
        ELSE 0 END,
    updated_at = :now
RETURNING failures, locked_until`

// delayAfter is when the attempt after the n-th failure of one client may
// come: at once for the first free-1 failures, then 2, 4, 8, ... seconds
// later, capped at max_delay (reached at the cap-th doubling).
func delayAfter(n string) string {
	k := "(" + n + " - :free + 1)"
	return `CASE WHEN ` + n + ` < :free THEN 0
        WHEN ` + k + ` >= :cap THEN :now + :max_delay
        ELSE :now + (CAST(1000000 AS BIGINT) << ` + k + `) END`
}

// clientUpsert counts one attempt for an identifier from one client
// address. An attempt before next_attempt_at is refused and changes
// nothing but the refused flag, so hammering does not stretch the delay.
var clientUpsert = attemptSQL.Replace(strings.ReplaceAll(clientInsert, ":row", "VALUES ("+clientRow+")"))

var clientRow = `$1, $2, :ip, 1, :now, ` + delayAfter("1") + `, :now`

// clientInsert is clientUpsert with its row left as :row.
var clientInsert = strings.NewReplacer(":first_delay", delayAfter("1")).Replace(`
INSERT INTO guard_attempts AS a (identifier_hash, scope, ip, failures, window_start, next_attempt_at, updated_at)
:row
ON CONFLICT (identifier_hash, scope, ip) DO UPDATE SET
    refused = a.next_attempt_at > :now,
    failures = CASE WHEN a.next_attempt_at > :now THEN a.failures
        WHEN a.window_start + :window > :now THEN a.failures + 1 ELSE 1 END,
    window_start = CASE WHEN a.next_attempt_at > :now OR a.window_start + :window > :now THEN a.window_start ELSE :now END,
    next_attempt_at = CASE WHEN a.next_attempt_at > :now THEN a.next_attempt_at
        WHEN a.window_start + :window > :now THEN ` + delayAfter("(a.failures + 1)") + `
        ELSE :first_delay END,
    updated_at = :now
RETURNING refused, failures, next_attempt_at`)

// bothUpserts is identifierUpsert and then clientUpsert in one statement,
// for PostgreSQL: the client's counter moves only when the identifier is
// not locked, as when they run one after the other, and one statement
// costs one round trip and needs no transaction to be atomic. The two
// touch different rows (address "" and the client's), so that neither
// sees the other's change does not matter.
var bothUpserts = strings.NewReplacer(
	":now", "CAST($4 AS BIGINT)",
	":window", "CAST($5 AS BIGINT)",
	":lock_after", "CAST($6 AS BIGINT)",
	":lock_for", "CAST($7 AS BIGINT)",
	":ip", "$8",
	":free", "CAST($9 AS INTEGER)",
	":max_delay", "CAST($10 AS BIGINT)",
	":cap", "CAST($11 AS INTEGER)",
).Replace(`WITH ident AS (` + strings.Replace(identifierTemplate, ":ip", "$3", 1) + `),
client AS (` + strings.ReplaceAll(clientInsert, ":row",
	"SELECT "+clientRow+" WHERE NOT EXISTS (SELECT 1 FROM ident WHERE ident.locked_until > :now)") + `)
SELECT ident.failures, ident.locked_until, client.refused, client.failures, client.next_attempt_at
FROM ident LEFT JOIN client ON TRUE`)

// doublings is the number of doublings of one second that reach max.
func doublings(max time.Duration) int {
	s := uint64(ceilSeconds(max))
	return bits.Len64(s - 1)
}

// Attempt counts one attempt for identifier (normalised here) and the
// client address ip, and says whether it may go on to check the
// credential. It counts before anything is checked, in one upsert per
// counter, so that N racing attempts make exactly N increments and those
// beyond the limit are refused without a credential check.
//
// Run it in a write transaction of its own that commits before the
// credential is checked: the count must stand when the check fails, and
// the row lock must not be held while a password is hashed. On PostgreSQL
// both counters move in one statement, so a Q outside any transaction
// (store.Autocommit) does as well, a round trip instead of four. Unknown
// identifiers are counted exactly like known ones, so a refusal reveals
// nothing about which accounts exist.
func (g *Guard) Attempt(ctx context.Context, q *store.Q, scope Scope, identifier, ip string) (Verdict, error) {
	if !g.on() {
		return allowed, nil
	}
	id := normalize(identifier)
	if id == "" {
		return allowed, nil
	}
	a := g.cfg.Attempts
	h, now := g.hash(id), g.now().UnixMicro()

	key := clientKey(ip)
	if key != "" && q.Dialect() == store.Postgres {
		return g.attemptAtOnce(ctx, q, scope, h, key, now)
	}
	var failures int
	var lockedUntil int64
	if err := q.QueryRow(ctx, identifierUpsert, h, string(scope), "", now, micros(a.Window), a.LockAfter, micros(a.LockDuration)).
		Scan(&failures, &lockedUntil); err != nil {
		return Verdict{}, err
	}
	if lockedUntil > now {
		g.refused(string(scope), ReasonLocked)
		return Verdict{Locked: true, RetryAfter: time.Duration(lockedUntil-now) * time.Microsecond, Until: fromMicros(lockedUntil), Failures: failures}, nil
	}

	if key == "" {
		return Verdict{Allowed: true, Failures: failures}, nil
	}
	var refused bool
	var clientFailures int
	var next int64
	if err := q.QueryRow(ctx, clientUpsert, h, string(scope), key, now, micros(a.Window), a.FreeFailures, micros(a.MaxDelay), doublings(a.MaxDelay)).
		Scan(&refused, &clientFailures, &next); err != nil {
		return Verdict{}, err
	}
	if refused {
		g.refused(string(scope), ReasonDelayed)
		return Verdict{RetryAfter: time.Duration(next-now) * time.Microsecond, Until: fromMicros(next), Failures: failures}, nil
	}
	return Verdict{Allowed: true, Failures: failures}, nil
}

// attemptAtOnce is Attempt's two counters in one statement.
func (g *Guard) attemptAtOnce(ctx context.Context, q *store.Q, scope Scope, h, key string, now int64) (Verdict, error) {
	a := g.cfg.Attempts
	var failures int
	var lockedUntil int64
	var refused sql.NullBool
	var clientFailures sql.NullInt64
	var next sql.NullInt64
	if err := q.QueryRow(ctx, bothUpserts, h, string(scope), "", now, micros(a.Window), a.LockAfter, micros(a.LockDuration),
		key, a.FreeFailures, micros(a.MaxDelay), doublings(a.MaxDelay)).
		Scan(&failures, &lockedUntil, &refused, &clientFailures, &next); err != nil {
		return Verdict{}, err
	}
	if lockedUntil > now {
		g.refused(string(scope), ReasonLocked)
		return Verdict{Locked: true, RetryAfter: time.Duration(lockedUntil-now) * time.Microsecond, Until: fromMicros(lockedUntil), Failures: failures}, nil
	}
	if refused.Bool {
		g.refused(string(scope), ReasonDelayed)
		return Verdict{RetryAfter: time.Duration(next.Int64-now) * time.Microsecond, Until: fromMicros(next.Int64), Failures: failures}, nil
	}
	return Verdict{Allowed: true, Failures: failures}, nil
}

// Succeeded resets the counters of identifier on every address and from
// ip after a correct credential; call it in the transaction that completes
// the flow. Other clients' delays for the identifier stay.
func (g *Guard) Succeeded(ctx context.Context, q *store.Q, scope Scope, identifier, ip string) error {
	if !g.on() {
		return nil
	}
	id := normalize(identifier)
	if id == "" {
		return nil
	}
	return q.Defer(ctx, `DELETE FROM guard_attempts WHERE identifier_hash = $1 AND scope = $2 AND ip IN ('', $3)`,
		g.hash(id), string(scope), clientKey(ip))
}

// Refused is the error a code gate answers for a guess past the limits.
type Refused struct{ Verdict Verdict }

func (r *Refused) Error() string { return "guard: too many attempts" }

// CodeGate is the gate of onetime's RedeemCode: it counts one guess at a
// code for the address the code went to, from client address ip, inside
// q's transaction (which the caller commits, so the guess counts), and
// refuses it past the limits with a *Refused. A nil Guard gates nothing.
func (g *Guard) CodeGate(ctx context.Context, q *store.Q, ip string) func(address string) error {
	if !g.on() {
		return nil
	}
	return func(address string) error {
		v, err := g.Attempt(ctx, q, ScopeCode, address, ip)
		if err != nil {
			return err
		}
		if !v.Allowed {
			return &Refused{Verdict: v}
		}
		return nil
	}
}
