// Package guard is Lanyard's brute-force and abuse protection: failed-attempt
// counters per identifier and client address, token-bucket rate limits per
// client address, and a cap on the messages queued for one address.
//
// Every piece of state lives in the database and changes in one atomic
// upsert, so the limits hold exactly however many instances share one
// PostgreSQL database and however many requests race.
package guard

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/schema"
	"github.com/lanyard-id/lanyard/internal/store"
)

// Guard enforces the protection.* settings. A nil *Guard, or one with
// protection.enabled off, allows everything and stores nothing.
type Guard struct {
	cfg     config.Protection
	store   *store.Store
	trusted []netip.Prefix
	// hashKey keys the HMAC that stands for identifiers and addresses in
	// the guard's tables.
	hashKey []byte
	now     func() time.Time

	// lastSweep is when this process last removed expired rows (Unix µs).
	lastSweep atomic.Int64
	// refusals, when set, is told each refusal (metrics).
	refusals func(scope, reason string)
}

// sweepEvery is how often each process removes rows that no longer hold
// anything back.
const sweepEvery = 10 * time.Minute

// New returns the guard of cfg. secret keys the hash of identifiers and
// addresses (the first cookie secret); rotating it starts every counter
// afresh, which lifts current locks.
func New(cfg config.Protection, s *store.Store, secret string) *Guard {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("lanyard guard identifiers v1"))
	g := &Guard{cfg: cfg, store: s, trusted: cfg.TrustedProxies, hashKey: mac.Sum(nil), now: store.Now}
	g.lastSweep.Store(g.now().UnixMicro())
	return g
}

func (g *Guard) on() bool { return g != nil && g.cfg.Enabled }

// hash stands for a normalised identifier or address in the tables.
func (g *Guard) hash(normalized string) string {
	mac := hmac.New(sha256.New, g.hashKey)
	mac.Write([]byte(normalized))
	return hex.EncodeToString(mac.Sum(nil))
}

// normalize is how the password method and the identity store treat
// identifiers, so that "Ada@Example.org " and "ada@example.org" share one
// counter.
func normalize(identifier string) string { return schema.NormalizeIdentifier(identifier) }

// micros converts a duration to the microseconds the tables keep.
func micros(d time.Duration) int64 { return d.Microseconds() }

// fromMicros is the instant of a Unix-microsecond column.
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// Sweep deletes rows that hold nothing back any more: counters whose window,
// delay and lock are over, full buckets and message counts of past windows.
// Deleting them changes no decision; it only keeps the tables small.
func (g *Guard) Sweep(ctx context.Context) error {
	if !g.on() {
		return nil
	}
	now := g.now().UnixMicro()
	a := g.cfg.Attempts
	attemptsStale := now - micros(a.Window+a.LockDuration+a.MaxDelay)
	bucketsStale := now - max(fillMicros(g.cfg.RateLimits.FlowCreation), fillMicros(g.cfg.RateLimits.Submission))
	messagesStale := now - micros(g.cfg.Courier.Window)
	return g.store.Write(ctx, func(q *store.Q) error {
		if _, err := q.Exec(ctx, `DELETE FROM guard_attempts WHERE updated_at < $1 AND locked_until < $2 AND next_attempt_at < $2`, attemptsStale, now); err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `DELETE FROM guard_buckets WHERE updated_at < $1`, bucketsStale); err != nil {
			return err
		}
		_, err := q.Exec(ctx, `DELETE FROM guard_messages WHERE window_start < $1`, messagesStale)
		return err
	})
}

// sweepIfDue starts a sweep in the background when this process has not
// swept for sweepEvery; only one caller wins the race to start it.
func (g *Guard) sweepIfDue() {
	now := g.now().UnixMicro()
	last := g.lastSweep.Load()
	if now-last < micros(sweepEvery) || !g.lastSweep.CompareAndSwap(last, now) {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := g.Sweep(ctx); err != nil {
			slog.Warn("guard: removing expired counters failed", "error", err)
		}
	}()
}
