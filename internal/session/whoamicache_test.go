package session

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

// twoProcesses opens one database twice, as two servers would.
func twoProcesses(t *testing.T, d store.Dialect) (here, there *store.Store) {
	t.Helper()
	return storetest.OpenTwice(t, d)
}

// kept reports whether the fixture's cache holds token's row.
func (f *fixture) kept(token string) bool {
	sum := sha256.Sum256([]byte(token))
	c := f.m.cfg.WhoamiCache
	c.mu.Lock()
	defer c.mu.Unlock()
	rec := c.slab.get(whoamiKey(&sum))
	return rec != nil && whoamiRowOf(rec).digest == sum
}

// requireRefused fails unless whoami refuses token.
func (f *fixture) requireRefused(t *testing.T, token, after string) {
	t.Helper()
	if a, err := f.m.Whoami(ctx, token); err != ErrNoSession {
		t.Fatalf("after %s whoami answered %v, %v; want ErrNoSession", after, a, err)
	}
}

// Every change another process commits to a session or its identity is
// answered by the next whoami here, though the row was kept in memory.
func TestWhoamiCacheFollowsOtherProcesses(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) { followsOtherProcesses(t, d) })
	}
}

func followsOtherProcesses(t *testing.T, d store.Dialect) {
	here, there := twoProcesses(t, d)
	f, g := newFixture(t, here), newFixture(t, there)
	i := f.identity(t, "cached@example.org")

	warm := func(t *testing.T) *Session {
		t.Helper()
		s := f.issue(t, i, nil)
		f.whoamiBody(t, s.Token)
		if !f.kept(s.Token) {
			t.Fatal("test premise: whoami did not keep the session")
		}
		return s
	}
	exec := func(t *testing.T, query string, args ...any) {
		t.Helper()
		g.write(t, func(q *store.Q) error {
			_, err := q.Exec(ctx, query, args...)
			return err
		})
	}

	t.Run("revoked", func(t *testing.T) {
		s := warm(t)
		if err := there.Write(ctx, func(q *store.Q) error { return g.m.Revoke(ctx, q, s.ID) }); err != nil {
			t.Fatal(err)
		}
		f.requireRefused(t, s.Token, "a revocation by the other process")
	})
	t.Run("deleted by hand", func(t *testing.T) {
		s := warm(t)
		exec(t, `DELETE FROM sessions WHERE id = $1`, s.ID)
		f.requireRefused(t, s.Token, "the session's row was deleted")
	})
	t.Run("expired by hand", func(t *testing.T) {
		s := warm(t)
		exec(t, `UPDATE sessions SET expires_at = $1 WHERE id = $2`, time.Now().Add(-time.Minute), s.ID)
		f.requireRefused(t, s.Token, "the session was made to expire")
	})
	t.Run("identity deactivated, then changed", func(t *testing.T) {
		s := warm(t)
		exec(t, `UPDATE identities SET state = 'inactive' WHERE id = $1`, i.ID)
		f.requireRefused(t, s.Token, "the identity was deactivated")
		exec(t, `UPDATE identities SET state = 'active' WHERE id = $1`, i.ID)
		f.whoamiBody(t, s.Token)
		if _, err := g.ids.Replace(ctx, i.ID, identity.Draft{Traits: json.RawMessage(`{"email":"moved@example.org"}`), State: identity.StateActive}); err != nil {
			t.Fatal(err)
		}
		if got := f.whoamiBody(t, s.Token); !bytes.Contains(got.Body, []byte(`"moved@example.org"`)) {
			t.Errorf("after the other process changed the traits whoami answered %s", got.Body)
		}
	})
	t.Run("log trimmed past this process", func(t *testing.T) {
		s := warm(t)
		// More entries than the log keeps, the revocation among the first.
		exec(t, `UPDATE sessions SET active = false WHERE id = $1`, s.ID)
		if d == store.SQLite {
			exec(t, `WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 70000)
			INSERT INTO session_whoami_changes (k) SELECT -x FROM n`)
		} else {
			exec(t, `SELECT session_whoami_log(array_fill('-'::text, ARRAY[70000]), NULL)`)
		}
		f.requireRefused(t, s.Token, "a revocation whose log entry was trimmed")
	})
	t.Run("log emptied", func(t *testing.T) {
		s := warm(t)
		exec(t, `UPDATE sessions SET active = false WHERE id = $1`, s.ID)
		exec(t, `DELETE FROM session_whoami_changes`)
		if d == store.SQLite {
			exec(t, `DELETE FROM sqlite_sequence WHERE name = 'session_whoami_changes'`)
		}
		f.requireRefused(t, s.Token, "a revocation whose log was emptied")
	})
	t.Run("rolled back", func(t *testing.T) {
		s := warm(t)
		rollback := errors.New("rolled back")
		err := there.Write(ctx, func(q *store.Q) error {
			if _, err := q.Exec(ctx, `UPDATE sessions SET active = false WHERE id = $1`, s.ID); err != nil {
				return err
			}
			return rollback
		})
		if !errors.Is(err, rollback) {
			t.Fatal(err)
		}
		f.whoamiBody(t, s.Token)
		if !f.kept(s.Token) {
			t.Fatal("not kept again after a change that was rolled back")
		}
		exec(t, `UPDATE sessions SET active = false WHERE id = $1`, s.ID)
		f.requireRefused(t, s.Token, "a revocation after one rolled back")
	})
}

// A row read in a snapshot older than a change already applied is not kept:
// it may be what the change replaced.
func TestWhoamiCacheKeepsNoRowOlderThanWhatItApplied(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	f := newFixture(t, s)
	i := f.identity(t, "race@example.org")
	a, b := f.issue(t, i, nil), f.issue(t, i, nil)
	c := f.m.cfg.WhoamiCache

	f.whoamiBody(t, a.Token)
	sum := sha256.Sum256([]byte(b.Token))
	r, err := c.readAndKeep(ctx, whoamiKey(&sum), &sum, hex.EncodeToString(sum[:]))
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	head := c.applied
	c.slab.remove(whoamiKey(&sum))
	c.mu.Unlock()
	// Another change commits and is applied before the stale read is kept.
	if err := s.Write(ctx, func(q *store.Q) error { return f.m.Revoke(ctx, q, b.ID) }); err != nil {
		t.Fatal(err)
	}
	f.requireRefused(t, b.Token, "the revocation")
	c.keep(ctx, head, []*whoamiRow{r})
	c.mu.Lock()
	now := c.slab.get(whoamiKey(&sum))
	c.mu.Unlock()
	if now != nil && whoamiRowOf(now).active {
		t.Fatal("a row read before a change applied since was kept")
	}
	f.requireRefused(t, b.Token, "the stale row was offered")
}

// Prefill keeps every session that can answer, within the budget.
func TestWhoamiCachePrefill(t *testing.T) {
	storetest.Run(t, prefill)
}

func prefill(t *testing.T, s *store.Store) {
	f := newFixture(t, s)
	i := f.identity(t, "prefill@example.org")
	var live []*Session
	for range 2*prefillBatch + 10 {
		live = append(live, f.issue(t, i, nil))
	}
	revoked := live[0]
	if err := s.Write(ctx, func(q *store.Q) error { return f.m.Revoke(ctx, q, revoked.ID) }); err != nil {
		t.Fatal(err)
	}
	live = live[1:]

	full := NewWhoamiCache(s, 64<<20)
	full.Prefill(ctx)
	if full.slab.len() != len(live) {
		t.Errorf("prefill kept %d sessions, want the %d that can answer", full.slab.len(), len(live))
	}
	f.m.cfg.WhoamiCache = full
	for _, l := range live {
		if !f.kept(l.Token) {
			t.Fatalf("session %s not kept", l.ID)
		}
	}
	f.whoamiBody(t, live[len(live)-1].Token)
	f.requireRefused(t, revoked.Token, "revocation before the prefill")

	small := NewWhoamiCache(s, 3*whoamiMinChunk)
	small.Prefill(ctx)
	if small.slab.bytes > small.maxBytes || small.slab.len() == 0 || small.slab.len() >= len(live) {
		t.Errorf("a small budget kept %d sessions in %d bytes (budget %d)", small.slab.len(), small.slab.bytes, small.maxBytes)
	}
}

// On PostgreSQL a change to an identity is logged as the identity, not as
// its sessions: a session inserted while the change commits, read and kept
// with the identity as it was, is forgotten when the change is applied.
func TestWhoamiCacheForgetsSessionsKeptBeforeTheirIdentityChanged(t *testing.T) {
	here, there := twoProcesses(t, store.Postgres)
	f, g := newFixture(t, here), newFixture(t, there)
	i := f.identity(t, "concurrent@example.org")
	other := f.identity(t, "bystander@example.org")
	s, bystander := f.issue(t, i, nil), f.issue(t, other, nil)
	f.whoamiBody(t, s.Token)
	f.whoamiBody(t, bystander.Token)

	// The change's entry is applied after the session was kept.
	g.write(t, func(q *store.Q) error {
		_, err := q.Exec(ctx, `UPDATE identities SET state = 'inactive' WHERE id = $1`, i.ID)
		return err
	})
	if !f.kept(s.Token) || !f.kept(bystander.Token) {
		t.Fatal("test premise: the sessions are not kept")
	}
	f.requireRefused(t, s.Token, "the identity was deactivated")
	if f.kept(s.Token) {
		t.Error("a session kept before its identity changed is still kept")
	}
	if !f.kept(bystander.Token) {
		t.Error("another identity's session was forgotten")
	}

	// Kept again after the change, a row is answered.
	g.write(t, func(q *store.Q) error {
		_, err := q.Exec(ctx, `UPDATE identities SET state = 'active' WHERE id = $1`, i.ID)
		return err
	})
	f.whoamiBody(t, s.Token)
	if !f.kept(s.Token) {
		t.Error("a session read after its identity's change is not kept")
	}
	f.whoamiBody(t, s.Token)
}

// Under a load of whoamis sharing queries and the cache, every revocation
// by the other process is refused by the next whoami here.
func TestWhoamiCacheRevocationsUnderLoad(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			here, there := twoProcesses(t, d)
			f, g := newFixture(t, here), newFixture(t, there)
			var live []*Session
			for n := range 24 {
				live = append(live, f.issue(t, f.identity(t, fmt.Sprintf("load%d@example.org", n)), nil))
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for w := range 8 {
				wg.Go(func() {
					for n := w; ; n++ {
						select {
						case <-stop:
							return
						default:
						}
						// Answered or refused: only errors matter here.
						if _, err := f.m.Whoami(ctx, live[n%len(live)].Token); err != nil && err != ErrNoSession {
							t.Error(err)
							return
						}
					}
				})
			}
			for _, s := range live[:len(live)/2] {
				f.whoamiBody(t, s.Token)
				if err := there.Write(ctx, func(q *store.Q) error { return g.m.Revoke(ctx, q, s.ID) }); err != nil {
					t.Fatal(err)
				}
				f.requireRefused(t, s.Token, "a revocation by the other process under load")
			}
			close(stop)
			wg.Wait()
			for _, s := range live[len(live)/2:] {
				f.whoamiBody(t, s.Token)
			}
		})
	}
}
