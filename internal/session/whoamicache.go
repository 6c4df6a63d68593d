package session

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"

	"github.com/lanyard-id/lanyard/internal/store"
)

// WhoamiCache holds rows of SQLite's session_whoami in memory, shared by
// all of a process's readers. SQLite empties a connection's page cache
// whenever another connection commits, so with many sessions every whoami
// would read a leaf of the table from the operating system; from memory it
// costs what it costs with ten.
//
// It never answers a row the database no longer holds. Triggers (migration
// 0013) log the key of every row changed or deleted, in the transaction of
// the change, whoever writes. Every lookup first reads the log's newest
// entry number, a page that stays hot, and when it has moved forgets the
// rows the new entries name before it looks; so a revocation committed by
// any process on the same file is seen by the next request here. A row is
// kept only if no entry newer than the snapshot it was read in has been
// applied, so a row read before a change never outlives it. Rows are not
// kept for tokens that have none: a new session needs no entry.
type WhoamiCache struct {
	store    *store.Store
	maxBytes int64
	head     *store.Prepared

	mu sync.Mutex
	// applied is the newest log entry whose row is forgotten; -1 until the
	// log is first read, and nothing is kept before that.
	applied int64
	rows    map[int64]*whoamiRow
	bytes   int64
}

const (
	whoamiHeadQuery    = `SELECT coalesce(max(seq), 0) FROM session_whoami_changes`
	whoamiChangesQuery = `SELECT seq, k FROM session_whoami_changes WHERE seq >= $1 ORDER BY seq`
	// whoamiRowOverhead is a kept row's size beyond its strings: the struct,
	// the map's share and the allocations' headers, roughly.
	whoamiRowOverhead = 400
)

// NewWhoamiCache returns a cache of at most maxBytes for s, or nil when s
// is not SQLite or maxBytes is 0: PostgreSQL's shared buffers already keep
// one copy of the rows for every connection.
func NewWhoamiCache(s *store.Store, maxBytes int64) *WhoamiCache {
	if s == nil || s.Dialect() != store.SQLite || maxBytes <= 0 {
		return nil
	}
	return &WhoamiCache{store: s, maxBytes: maxBytes, head: s.Prepare(whoamiHeadQuery), applied: -1, rows: map[int64]*whoamiRow{}}
}

// whoamiRow is what whoami reads of one session, as session_whoami (or
// the join it copies) holds it.
type whoamiRow struct {
	sessionRow
	digest    [sha256.Size]byte
	schemaID  string
	view      sql.NullString
	factors   int
	viewOfRev sql.NullInt64
	// size is what keeping the row costs, roughly (measure).
	size int64
}

func (r *whoamiRow) fields() []any {
	return append(r.sessionRow.fields(), &r.schemaID, &r.view, &r.factors, &r.viewOfRev)
}

// current reports whether the row's stored view belongs to the identity's
// revision the row shows: only such rows are answered without the join.
func (r *whoamiRow) current() bool {
	return r.view.Valid && r.viewOfRev.Valid && r.viewOfRev.Int64 == r.identityRevision
}

func (r *whoamiRow) measure() {
	r.size = whoamiRowOverhead + int64(len(r.aal)+len(r.methods)+len(r.devices)+len(r.identityState)+len(r.schemaID)+len(r.view.String))
}

// lookup returns the kept row of the token whose digest is sum, after
// forgetting what changed since the last lookup; nil when none is kept.
func (c *WhoamiCache) lookup(ctx context.Context, k int64, sum *[sha256.Size]byte) (*whoamiRow, error) {
	if err := c.catchUp(ctx); err != nil {
		return nil, err
	}
	c.mu.Lock()
	r := c.rows[k]
	c.mu.Unlock()
	if r == nil || subtle.ConstantTimeCompare(r.digest[:], sum[:]) != 1 {
		return nil, nil
	}
	return r, nil
}

type whoamiChange struct{ seq, k int64 }

// catchUp forgets the rows named by log entries newer than applied.
func (c *WhoamiCache) catchUp(ctx context.Context) error {
	// applied first: every entry up to it was committed before this read
	// of the head starts, so a head below it means the log went backwards.
	c.mu.Lock()
	from := c.applied
	c.mu.Unlock()
	var head int64
	if err := c.head.QueryRow(ctx).Scan(&head); err != nil {
		return err
	}
	if head == from {
		return nil
	}
	var changes []whoamiChange
	if from >= 0 && head > from {
		rows, err := c.store.Read().Query(ctx, whoamiChangesQuery, from)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var ch whoamiChange
			if err := rows.Scan(&ch.seq, &ch.k); err != nil {
				return err
			}
			changes = append(changes, ch)
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	c.apply(from, head, changes)
	return nil
}

// apply forgets the rows changes name: the log's entries from number from
// on, read after its newest was seen to be head. Without the entry from
// itself (trimmed, or the log emptied) what happened since is unknown, and
// everything is forgotten.
func (c *WhoamiCache) apply(from, head int64, changes []whoamiChange) {
	c.mu.Lock()
	defer c.mu.Unlock()
	backwards := head < from
	if len(changes) > 0 && head < changes[len(changes)-1].seq {
		head = changes[len(changes)-1].seq
	}
	if head <= c.applied && !backwards {
		return // another lookup got as far
	}
	continuous := from == 0 && (len(changes) == 0 || changes[0].seq == 1) ||
		from > 0 && len(changes) > 0 && changes[0].seq == from
	if from < 0 || backwards || !continuous {
		// The first read, or a log that lost entries this process has not
		// applied: start afresh from head.
		if from >= 0 && len(c.rows) > 0 {
			slog.Info("whoami cache: the change log moved on without this process; forgetting every kept session", "kept", len(c.rows))
		}
		clear(c.rows)
		c.bytes = 0
		c.applied = head
		return
	}
	for _, ch := range changes {
		if ch.seq <= c.applied {
			continue
		}
		if r := c.rows[ch.k]; r != nil {
			c.bytes -= r.size
			delete(c.rows, ch.k)
		}
	}
	c.applied = head
}

// keep holds rows read in a snapshot whose newest log entry was head,
// unless entries after head have been applied since (one may name them),
// catching up first when the snapshot is newer than what was applied.
func (c *WhoamiCache) keep(ctx context.Context, head int64, rows []*whoamiRow) {
	c.mu.Lock()
	behind := c.applied < head
	c.mu.Unlock()
	if behind {
		if err := c.catchUp(ctx); err != nil {
			return
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.applied != head {
		return
	}
	for _, r := range rows {
		if old := c.rows[keyOf(&r.digest)]; old != nil {
			c.bytes -= old.size
		}
		c.rows[keyOf(&r.digest)] = r
		c.bytes += r.size
	}
	// Over the budget: drop rows in the map's own (random) order.
	for k, r := range c.rows {
		if c.bytes <= c.maxBytes {
			break
		}
		c.bytes -= r.size
		delete(c.rows, k)
	}
}

func keyOf(sum *[sha256.Size]byte) int64 { return whoamiKey(sum) }

// readAndKeep reads the row of a token from session_whoami, and keeps it
// if its stored view is current; ErrNotFound when there is none.
func (c *WhoamiCache) readAndKeep(ctx context.Context, k int64, sum *[sha256.Size]byte, digest string) (*whoamiRow, error) {
	r := &whoamiRow{digest: *sum}
	var head int64
	err := c.store.ReadSnapshot(ctx, func(q *store.Q) error {
		if err := q.QueryRow(ctx, whoamiHeadQuery).Scan(&head); err != nil {
			return err
		}
		return q.QueryRow(ctx, whoamiKeyedQuery, k, digest).Scan(r.fields()...)
	})
	if err != nil {
		return nil, err
	}
	if r.current() {
		r.measure()
		c.keep(ctx, head, []*whoamiRow{r})
	}
	return r, nil
}

// prefillBatch is how many rows one snapshot of Prefill reads.
const prefillBatch = 1000

// Prefill reads session_whoami into the cache in key order until the cache
// is full or every row is read, skipping sessions that can no longer
// answer; meant to run in the background once the server has started.
func (c *WhoamiCache) Prefill(ctx context.Context) {
	start, kept := time.Now(), 0
	after := int64(-1)
	for ctx.Err() == nil {
		c.mu.Lock()
		full := c.bytes >= c.maxBytes
		c.mu.Unlock()
		if full {
			break
		}
		var (
			head  int64
			batch []*whoamiRow
			last  int64
		)
		now := time.Now()
		err := c.store.ReadSnapshot(ctx, func(q *store.Q) error {
			if err := q.QueryRow(ctx, whoamiHeadQuery).Scan(&head); err != nil {
				return err
			}
			rows, err := q.Query(ctx, `SELECT k, token_hash, `+whoamiColumns+` FROM session_whoami WHERE k > $1 ORDER BY k LIMIT $2`, after, prefillBatch)
			if err != nil {
				return err
			}
			defer rows.Close()
			n := 0
			for rows.Next() {
				r := &whoamiRow{}
				var digest string
				if err := rows.Scan(append([]any{&last, &digest}, r.fields()...)...); err != nil {
					return err
				}
				n++
				if d, err := hex.DecodeString(digest); err != nil || len(d) != sha256.Size || keyOf((*[sha256.Size]byte)(d)) != last {
					continue // a key another token's row took (migration 0012): read by the join
				} else {
					copy(r.digest[:], d)
				}
				if r.current() && r.valid(now) {
					r.measure()
					batch = append(batch, r)
				}
			}
			if n == 0 {
				last = -1
			}
			return rows.Err()
		})
		if err != nil {
			if ctx.Err() == nil {
				slog.Warn("whoami cache: prefilling stopped", "error", err)
			}
			return
		}
		if last < 0 {
			break
		}
		c.keep(ctx, head, batch)
		kept += len(batch)
		after = last
	}
	c.mu.Lock()
	n, size := len(c.rows), c.bytes
	c.mu.Unlock()
	slog.Info("whoami cache: prefilled", "sessions", n, "bytes", size, "read", kept, "took", time.Since(start).Round(time.Millisecond).String())
}
