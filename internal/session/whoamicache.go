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
	slab    whoamiSlab
}

const (
	whoamiHeadQuery    = `SELECT coalesce(max(seq), 0) FROM session_whoami_changes`
	whoamiChangesQuery = `SELECT seq, k FROM session_whoami_changes WHERE seq >= $1 ORDER BY seq`
)

// NewWhoamiCache returns a cache of at most maxBytes for s, or nil when s
// is not SQLite or maxBytes is 0: PostgreSQL's shared buffers already keep
// one copy of the rows for every connection.
func NewWhoamiCache(s *store.Store, maxBytes int64) *WhoamiCache {
	if s == nil || s.Dialect() != store.SQLite || maxBytes <= 0 {
		return nil
	}
	return &WhoamiCache{store: s, maxBytes: maxBytes, head: s.Prepare(whoamiHeadQuery), applied: -1, slab: newWhoamiSlab(maxBytes)}
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
}

func (r *whoamiRow) fields() []any {
	return append(r.sessionRow.fields(), &r.schemaID, &r.view, &r.factors, &r.viewOfRev)
}

// current reports whether the row's stored view belongs to the identity's
// revision the row shows: only such rows are answered without the join.
func (r *whoamiRow) current() bool {
	return r.view.Valid && r.viewOfRev.Valid && r.viewOfRev.Int64 == r.identityRevision
}

// lookup returns the kept row of the token whose digest is sum, after
// forgetting what changed since the last lookup; nil when none is kept.
func (c *WhoamiCache) lookup(ctx context.Context, k int64, sum *[sha256.Size]byte) (*whoamiRow, error) {
	if err := c.catchUp(ctx); err != nil {
		return nil, err
	}
	c.mu.Lock()
	rec := c.slab.get(k)
	c.mu.Unlock()
	if rec == nil || subtle.ConstantTimeCompare(recordDigest(rec), sum[:]) != 1 {
		return nil, nil
	}
	return whoamiRowOf(rec), nil
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
		if from >= 0 && c.slab.len() > 0 {
			slog.Info("whoami cache: the change log moved on without this process; forgetting every kept session", "kept", c.slab.len())
		}
		c.slab.clear()
		c.applied = head
		return
	}
	for _, ch := range changes {
		if ch.seq <= c.applied {
			continue
		}
		c.slab.remove(ch.k)
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
	records := make([][]byte, len(rows))
	for i, r := range rows {
		records[i] = r.record(keyOf(&r.digest))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.applied != head {
		return
	}
	for _, rec := range records {
		c.slab.put(rec)
	}
	c.slab.trim(c.maxBytes)
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
		// Full when another chunk would not fit.
		full := c.slab.bytes+int64(c.slab.chunkSize) > c.maxBytes
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
	n, size := c.slab.len(), c.slab.bytes
	c.mu.Unlock()
	slog.Info("whoami cache: prefilled", "sessions", n, "bytes", size, "read", kept, "took", time.Since(start).Round(time.Millisecond).String())
}
