package guard

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

// fakeClock is a settable clock shared by goroutines.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testConfig has small limits so that tests reach them quickly.
func testConfig() config.Protection {
	return config.Protection{
		Enabled: true,
		Attempts: config.AttemptLimits{
			FreeFailures: 1000, MaxDelay: 10 * time.Second,
			LockAfter: 5, Window: time.Hour, LockDuration: 15 * time.Minute,
		},
		RateLimits: config.RateLimits{
			Enabled:      true,
			FlowCreation: config.TokenBucket{RatePerMinute: 60, Burst: 3},
			Submission:   config.TokenBucket{RatePerMinute: 60, Burst: 2},
		},
		Courier: config.MessageLimits{MaxPerAddress: 3, Window: time.Hour},
	}
}

func newTestGuard(s *store.Store, mod func(*config.Protection)) (*Guard, *fakeClock) {
	cfg := testConfig()
	if mod != nil {
		mod(&cfg)
	}
	g := New(cfg, s, "guard-test-secret-0123456789")
	c := &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	g.now = c.now
	return g, c
}

// attempt runs Attempt in a transaction of its own, as the flows do.
func attempt(t *testing.T, g *Guard, scope Scope, identifier, ip string) Verdict {
	t.Helper()
	var v Verdict
	err := g.store.Write(context.Background(), func(q *store.Q) error {
		var err error
		v, err = g.Attempt(context.Background(), q, scope, identifier, ip)
		return err
	})
	if err != nil {
		t.Fatalf("Attempt(%s, %q, %q): %v", scope, identifier, ip, err)
	}
	return v
}

func succeeded(t *testing.T, g *Guard, scope Scope, identifier, ip string) {
	t.Helper()
	err := g.store.Write(context.Background(), func(q *store.Q) error {
		return g.Succeeded(context.Background(), q, scope, identifier, ip)
	})
	if err != nil {
		t.Fatalf("Succeeded: %v", err)
	}
}

// storedFailures reads the identifier's counter on every address.
func storedFailures(t *testing.T, g *Guard, scope Scope, identifier string) int {
	t.Helper()
	var n int
	err := g.store.Read().QueryRow(context.Background(), `SELECT failures FROM guard_attempts WHERE identifier_hash = $1 AND scope = $2 AND ip = ''`,
		g.hash(normalize(identifier)), string(scope)).Scan(&n)
	if err != nil {
		t.Fatalf("reading the counter: %v", err)
	}
	return n
}

func TestAttempt_LocksIdentifierOnEveryAddressAfterTheLimit(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		g, clock := newTestGuard(s, nil)
		start := clock.now()
		for i := 1; i <= 5; i++ {
			clock.advance(time.Second)
			v := attempt(t, g, ScopeLogin, "ada@example.org", "192.0.2.1")
			if !v.Allowed || v.Failures != i {
				t.Fatalf("attempt %d: %+v, want allowed with %d failures", i, v, i)
			}
		}
		clock.advance(time.Second)
		v := attempt(t, g, ScopeLogin, "ada@example.org", "192.0.2.1")
		// The window (1h) outlasts the lock duration (15m): the lock ends with it.
		wantUntil := start.Add(time.Second + time.Hour)
		if v.Allowed || !v.Locked || !v.Until.Equal(wantUntil) || v.Failures != 6 {
			t.Fatalf("attempt 6: %+v, want locked until %s", v, wantUntil)
		}
		if got := v.RetryAfter; got != wantUntil.Sub(clock.now()) {
			t.Errorf("retry after %s, want %s", got, wantUntil.Sub(clock.now()))
		}
		// Locked everywhere, and further attempts neither pass nor stretch it.
		for _, ip := range []string{"198.51.100.7", "2001:db8::1", ""} {
			clock.advance(time.Minute)
			v := attempt(t, g, ScopeLogin, "ada@example.org", ip)
			if v.Allowed || !v.Locked || !v.Until.Equal(wantUntil) {
				t.Errorf("from %q during the lock: %+v", ip, v)
			}
		}
		if n := storedFailures(t, g, ScopeLogin, "ada@example.org"); n != 9 {
			t.Errorf("counter %d, want 9 (every attempt counts)", n)
		}
		// When the lock ends a fresh window starts.
		clock.t = wantUntil
		if v := attempt(t, g, ScopeLogin, "ada@example.org", "192.0.2.1"); !v.Allowed || v.Failures != 1 {
			t.Errorf("after the lock: %+v, want allowed with 1 failure", v)
		}
	})
}

func TestAttempt_LockLastsAtLeastLockDuration(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		g, clock := newTestGuard(s, func(p *config.Protection) {
			p.Attempts.Window = 10 * time.Minute
			p.Attempts.LockAfter = 2
		})
		attempt(t, g, ScopeLogin, "ada@example.org", "192.0.2.1")
		clock.advance(9 * time.Minute)
		attempt(t, g, ScopeLogin, "ada@example.org", "192.0.2.1")
		clock.advance(30 * time.Second)
		v := attempt(t, g, ScopeLogin, "ada@example.org", "192.0.2.1")
		if want := clock.now().Add(15 * time.Minute); !v.Locked || !v.Until.Equal(want) {
			t.Fatalf("%+v, want locked until %s (lock duration past the window's end)", v, want)
		}
		clock.advance(10 * time.Minute) // the window is over, the lock is not
		if v := attempt(t, g, ScopeLogin, "ada@example.org", "192.0.2.1"); !v.Locked {
			t.Errorf("%+v, want still locked", v)
		}
	})
}

func TestAttempt_WindowEndStartsAfresh(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		g, clock := newTestGuard(s, nil)
		for range 4 {
			attempt(t, g, ScopeLogin, "ada@example.org", "192.0.2.1")
		}
		clock.advance(time.Hour)
		for i := 1; i <= 5; i++ {
			if v := attempt(t, g, ScopeLogin, "ada@example.org", "192.0.2.1"); !v.Allowed || v.Failures != i {
				t.Fatalf("attempt %d of the new window: %+v", i, v)
			}
		}
	})
}

func TestAttempt_ProgressiveDelayPerClient(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		g, clock := newTestGuard(s, func(p *config.Protection) {
			p.Attempts.FreeFailures = 3
			p.Attempts.LockAfter = 1000
		})
		const ip = "192.0.2.1"
		for i := 1; i <= 3; i++ {
			if v := attempt(t, g, ScopeLogin, "ada@example.org", ip); !v.Allowed {
				t.Fatalf("free attempt %d refused: %+v", i, v)
			}
		}
		// After the third failure: 2s, then 4s, 8s, and 10s (the cap).
		for _, wait := range []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second} {
			v := attempt(t, g, ScopeLogin, "ada@example.org", ip)
			if v.Allowed || v.Locked || v.RetryAfter != wait || !v.Until.Equal(clock.now().Add(wait)) {
				t.Fatalf("attempt right after a failure: %+v, want a delay of %s", v, wait)
			}
			// Hammering during the delay neither passes nor stretches it.
			clock.advance(wait / 2)
			if v := attempt(t, g, ScopeLogin, "ada@example.org", ip); v.Allowed || v.RetryAfter != wait/2 {
				t.Fatalf("attempt half-way through the delay: %+v, want %s left", v, wait/2)
			}
			// Another client of the same identifier is not delayed.
			if v := attempt(t, g, ScopeLogin, "ada@example.org", "198.51.100.9"); !v.Allowed {
				t.Fatalf("another client is delayed too: %+v", v)
			}
			clock.advance(wait / 2)
			if v := attempt(t, g, ScopeLogin, "ada@example.org", ip); !v.Allowed {
				t.Fatalf("attempt once the delay of %s is over: %+v", wait, v)
			}
		}
		if v := attempt(t, g, ScopeLogin, "ada@example.org", ip); v.Allowed || v.RetryAfterSeconds() != 10 {
			t.Errorf("%+v, want 10 seconds to wait", v)
		}
	})
}

func TestAttempt_IPv6ClientsCountPer64(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		g, _ := newTestGuard(s, func(p *config.Protection) { p.Attempts.FreeFailures = 1 })
		attempt(t, g, ScopeLogin, "ada@example.org", "2001:db8:1:2::1")
		if v := attempt(t, g, ScopeLogin, "ada@example.org", "2001:db8:1:2:ffff::9"); v.Allowed {
			t.Errorf("a neighbour in the same /64 is not delayed: %+v", v)
		}
		if v := attempt(t, g, ScopeLogin, "ada@example.org", "2001:db8:1:3::1"); !v.Allowed {
			t.Errorf("another /64 is delayed: %+v", v)
		}
	})
}

func TestSucceeded_ResetsIdentifierAndThatClient(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		g, _ := newTestGuard(s, func(p *config.Protection) { p.Attempts.FreeFailures = 1 })
		attempt(t, g, ScopeLogin, "ada@example.org", "192.0.2.1")
		attempt(t, g, ScopeLogin, "ada@example.org", "198.51.100.9")
		succeeded(t, g, ScopeLogin, "Ada@Example.org", "192.0.2.1")

		if v := attempt(t, g, ScopeLogin, "ada@example.org", "192.0.2.1"); !v.Allowed || v.Failures != 1 {
			t.Errorf("after success the client and the identifier start afresh: %+v", v)
		}
		if v := attempt(t, g, ScopeLogin, "ada@example.org", "198.51.100.9"); v.Allowed {
			t.Errorf("another client's delay was lifted by the success: %+v", v)
		}
	})
}

func TestAttempt_NormalisesIdentifiersAndSeparatesScopes(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		g, _ := newTestGuard(s, nil)
		attempt(t, g, ScopeLogin, " Ada@Example.ORG", "192.0.2.1")
		if v := attempt(t, g, ScopeLogin, "ada@example.org", "192.0.2.1"); v.Failures != 2 {
			t.Errorf("the same identifier in other case counts apart: %+v", v)
		}
		if v := attempt(t, g, ScopeCode, "ada@example.org", "192.0.2.1"); v.Failures != 1 {
			t.Errorf("codes share the password's counter: %+v", v)
		}
		if v := attempt(t, g, ScopeLogin, "+49 151 1234 5678", ""); v.Failures != 1 {
			t.Fatalf("%+v", v)
		}
		if v := attempt(t, g, ScopeLogin, "+4915112345678", ""); v.Failures != 2 {
			t.Errorf("phone numbers are not compared in E.164: %+v", v)
		}
		if v := attempt(t, g, ScopeLogin, "   ", "192.0.2.1"); !v.Allowed || v.Failures != 0 {
			t.Errorf("a blank identifier: %+v, want allowed without a count", v)
		}
	})
}

func TestAttempt_StoresNoIdentifierInTheClear(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		g, _ := newTestGuard(s, nil)
		typed := "correct-Horse-battery-9" // a password typed into the identifier field
		attempt(t, g, ScopeLogin, typed, "192.0.2.1")
		rows, err := s.Read().Query(context.Background(), `SELECT identifier_hash, scope, ip FROM guard_attempts`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			var h, scope, ip string
			if err := rows.Scan(&h, &scope, &ip); err != nil {
				t.Fatal(err)
			}
			n++
			if strings.Contains(strings.ToLower(h+scope+ip), strings.ToLower(typed)) || len(h) != 64 {
				t.Errorf("stored row %q %q %q holds the identifier", h, scope, ip)
			}
		}
		if n != 2 {
			t.Errorf("%d rows, want the identifier's and the client's", n)
		}
	})
}

// Fifty racing attempts make exactly fifty increments, and exactly the
// limit gets through, on both stores.
func TestAttempt_ConcurrentAttemptsAreCountedExactly(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		g, _ := newTestGuard(s, func(p *config.Protection) { p.Attempts.LockAfter = 10 })
		const n = 50
		var wg sync.WaitGroup
		var mu sync.Mutex
		allowedN, locked := 0, 0
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				ip := []string{"192.0.2.1", "192.0.2.2", "2001:db8::7"}[i%3]
				var v Verdict
				err := s.Write(context.Background(), func(q *store.Q) error {
					var err error
					v, err = g.Attempt(context.Background(), q, ScopeLogin, "victim@example.org", ip)
					return err
				})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					t.Errorf("attempt %d: %v", i, err)
				case v.Allowed:
					allowedN++
				case v.Locked:
					locked++
				default:
					t.Errorf("attempt %d refused without a lock: %+v", i, v)
				}
			}()
		}
		close(start)
		wg.Wait()
		if allowedN != 10 || locked != n-10 {
			t.Errorf("%d allowed and %d locked, want 10 and %d", allowedN, locked, n-10)
		}
		if got := storedFailures(t, g, ScopeLogin, "victim@example.org"); got != n {
			t.Errorf("counter %d, want exactly %d", got, n)
		}
	})
}

func TestGuard_DisabledAllowsEverythingAndStoresNothing(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		g, _ := newTestGuard(s, func(p *config.Protection) { p.Enabled = false })
		for range 20 {
			if v := attempt(t, g, ScopeLogin, "ada@example.org", "192.0.2.1"); !v.Allowed {
				t.Fatalf("refused while disabled: %+v", v)
			}
		}
		err := s.Write(context.Background(), func(q *store.Q) error {
			for range 20 {
				if ok, err := g.AllowMessage(context.Background(), q, "ada@example.org"); err != nil || !ok {
					t.Fatalf("message refused while disabled: %v %v", ok, err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var rows int
		if err := s.Read().QueryRow(context.Background(), `SELECT (SELECT count(*) FROM guard_attempts) + (SELECT count(*) FROM guard_messages)`).Scan(&rows); err != nil || rows != 0 {
			t.Errorf("%d rows stored while disabled (%v)", rows, err)
		}
		var nilGuard *Guard
		if v, err := nilGuard.Attempt(context.Background(), s.Read(), ScopeLogin, "x", "192.0.2.1"); err != nil || !v.Allowed {
			t.Errorf("nil guard: %+v %v", v, err)
		}
	})
}

func TestAllowMessage_CapsMessagesPerAddressAndWindow(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		g, clock := newTestGuard(s, nil)
		allow := func(address string) bool {
			t.Helper()
			var ok bool
			err := s.Write(context.Background(), func(q *store.Q) error {
				var err error
				ok, err = g.AllowMessage(context.Background(), q, address)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		for i, a := range []string{"ada@example.org", "ADA@example.org", " ada@example.org"} {
			if !allow(a) {
				t.Fatalf("message %d refused", i+1)
			}
		}
		if allow("ada@example.org") {
			t.Error("a fourth message in the window was allowed")
		}
		if !allow("grace@example.org") {
			t.Error("another address was refused")
		}
		clock.advance(time.Hour)
		if !allow("ada@example.org") {
			t.Error("a message in the next window was refused")
		}

		// A rolled-back transaction takes its count with it.
		_ = s.Write(context.Background(), func(q *store.Q) error {
			_, _ = g.AllowMessage(context.Background(), q, "linus@example.org")
			return context.Canceled
		})
		for i := range 3 {
			if !allow("linus@example.org") {
				t.Errorf("message %d after a rollback refused", i+1)
			}
		}
	})
}

func TestSweep_RemovesOnlyWhatHoldsNothingBack(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		g, clock := newTestGuard(s, func(p *config.Protection) { p.Attempts.LockAfter = 1 })
		attempt(t, g, ScopeLogin, "old@example.org", "192.0.2.1")
		take(t, g, "submit|192.0.2.1", g.cfg.RateLimits.Submission)
		_ = s.Write(context.Background(), func(q *store.Q) error {
			_, err := g.AllowMessage(context.Background(), q, "old@example.org")
			return err
		})
		clock.advance(2 * time.Hour)
		attempt(t, g, ScopeLogin, "locked@example.org", "192.0.2.1")
		attempt(t, g, ScopeLogin, "locked@example.org", "192.0.2.1") // locked now
		clock.advance(59 * time.Minute)
		take(t, g, "submit|192.0.2.2", g.cfg.RateLimits.Submission)

		if err := g.Sweep(context.Background()); err != nil {
			t.Fatal(err)
		}
		count := func(table string) int {
			var n int
			if err := s.Read().QueryRow(context.Background(), `SELECT count(*) FROM `+table).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := count("guard_attempts"); n != 2 {
			t.Errorf("%d attempt rows left, want the locked identifier's 2", n)
		}
		if n := count("guard_buckets"); n != 1 {
			t.Errorf("%d buckets left, want the one not yet full", n)
		}
		if n := count("guard_messages"); n != 0 {
			t.Errorf("%d message counters left, want 0", n)
		}
		if v := attempt(t, g, ScopeLogin, "locked@example.org", "192.0.2.1"); !v.Locked {
			t.Errorf("the sweep lifted a lock: %+v", v)
		}
	})
}

func TestDoublings(t *testing.T) {
	for max, want := range map[time.Duration]int{
		time.Second: 0, 2 * time.Second: 1, 1500 * time.Millisecond: 1,
		time.Minute: 6, 64 * time.Second: 6, 65 * time.Second: 7, 30 * 24 * time.Hour: 22,
	} {
		if got := doublings(max); got != want {
			t.Errorf("doublings(%s) = %d, want %d", max, got, want)
		}
	}
}
