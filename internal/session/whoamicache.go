package session

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/store"
)

// WhoamiCache holds whoami's rows in memory, shared by all of a process's
// readers. SQLite empties a connection's page cache whenever another
// connection commits, so with many sessions every whoami would read a leaf
// of session_whoami from the operating system; PostgreSQL descends two
// indexes of a million rows for each. From memory it costs what it costs
// with ten.
//
// It never answers a row the database no longer holds. Triggers log the
// key of every row changed or deleted, in the transaction of the change,
// whoever writes (SQLite's migration 0013, PostgreSQL's 0014). Every
// lookup first reads the log's newest entry number, a page that stays hot,
// and when it has moved forgets the rows the new entries name before it
// looks; so a revocation committed by any process or instance is seen by
// the next request here. On PostgreSQL that read rides with whoami's
// shared queries (whoamiReads): one read answers every request waiting.
// A row is kept only if no entry newer than the snapshot it was read in
// has been applied, so a row read before a change never outlives it. Rows
// are not kept for tokens that have none: a new session needs no entry.
type WhoamiCache struct {
	store    *store.Store
	maxBytes int64
	// head reads the log's newest entry (SQLite); log reads it with the
	// entries from a number on, in one snapshot (PostgreSQL).
	head, log *store.Prepared

	mu sync.Mutex
	// applied is the newest log entry whose row is forgotten; -1 until the
	// log is first read, and nothing is kept before that.
	applied int64
	slab    whoamiSlab
	// changed holds, for each identity a PostgreSQL log entry named, the
	// newest such entry applied: a row of it kept before that entry is
	// stale. Bounded by whoamiMaxChangedIdentities.
	changed map[uuid.UUID]int64
}

// whoamiMaxChangedIdentities bounds WhoamiCache.changed; past it the cache
// starts afresh.
const whoamiMaxChangedIdentities = 1 << 16

const (
	whoamiHeadQuery    = `SELECT coalesce(max(seq), 0) FROM session_whoami_changes`
	whoamiChangesQuery = `SELECT seq, k FROM session_whoami_changes WHERE seq >= $1 ORDER BY seq`
	// whoamiHeadColumn is PostgreSQL's log head, read in the statement's
	// snapshot: every entry up to it is visible with it (migration 0014).
	whoamiHeadColumn = `(` + whoamiHeadQuery + `)`
	// whoamiLogQuery is PostgreSQL's: the head, then the entries from $1
	// on, at most whoamiLogLimit of them.
	whoamiLogQuery = `SELECT ` + whoamiHeadColumn + `, c.seq, c.token_hash, c.identity_id
FROM (SELECT 1) one LEFT JOIN LATERAL (SELECT seq, token_hash, identity_id FROM session_whoami_changes
WHERE seq >= $1 ORDER BY seq LIMIT 4096) c ON TRUE ORDER BY c.seq NULLS FIRST`
	whoamiLogLimit = 4096 // whoamiLogQuery's LIMIT
)

// NewWhoamiCache returns a cache of at most maxBytes for s, or nil when
// maxBytes is 0.
func NewWhoamiCache(s *store.Store, maxBytes int64) *WhoamiCache {
	if s == nil || maxBytes <= 0 {
		return nil
	}
	c := &WhoamiCache{store: s, maxBytes: maxBytes, applied: -1, slab: newWhoamiSlab(maxBytes), changed: map[uuid.UUID]int64{}}
	if s.Dialect() == store.SQLite {
		c.head = s.Prepare(whoamiHeadQuery)
	} else {
		c.log = s.Prepare(whoamiLogQuery)
	}
	return c
}

// whoamiRow is what whoami reads of one session, as session_whoami (or
// the join it copies) holds it.
type whoamiRow struct {
	sessionRow
	digest    [sha256.Size]byte
	keptAt    int64 // the log head of the snapshot a kept row was read in
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
	return c.get(k, sum), nil
}

// get returns the kept row of the token whose digest is sum as of the last
// catch-up, or nil.
func (c *WhoamiCache) get(k int64, sum *[sha256.Size]byte) *whoamiRow {
	c.mu.Lock()
	rec := c.slab.get(k)
	if rec != nil && len(c.changed) > 0 {
		if seq, ok := c.changed[recordIdentity(rec)]; ok && recordKeptAt(rec) < seq {
			c.slab.remove(k) // kept before its identity changed
			rec = nil
		}
	}
	c.mu.Unlock()
	if rec == nil || subtle.ConstantTimeCompare(recordDigest(rec), sum[:]) != 1 {
		return nil
	}
	return whoamiRowOf(rec)
}

// whoamiChange is a log entry: the key of a token's row, or on PostgreSQL
// an identity (k is then -1, no row's).
type whoamiChange struct {
	seq, k   int64
	identity uuid.NullUUID
}

// catchUp forgets the rows named by log entries newer than applied.
func (c *WhoamiCache) catchUp(ctx context.Context) error {
	// applied first: every entry up to it was committed before this read
	// of the head starts, so a head below it means the log went backwards.
	c.mu.Lock()
	from := c.applied
	c.mu.Unlock()
	if c.log != nil {
		return c.catchUpOnPostgres(ctx, from)
	}
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

// catchUpOnPostgres is catchUp in one query, or more when the log has more
// new entries than one reads: PostgreSQL's log names tokens by their
// digests' hex, whose keys are worked out here, or identities.
func (c *WhoamiCache) catchUpOnPostgres(ctx context.Context, from int64) error {
	for {
		head, changes, err := c.readLog(ctx, from)
		if err != nil {
			return err
		}
		if head == from && len(changes) <= 1 {
			return nil
		}
		more := len(changes) == whoamiLogLimit && changes[len(changes)-1].seq < head
		if more {
			head = changes[len(changes)-1].seq
		}
		c.apply(from, head, changes)
		if !more {
			return nil
		}
		c.mu.Lock()
		from = c.applied
		c.mu.Unlock()
	}
}

// readLog reads PostgreSQL's log head and its entries from number from on.
func (c *WhoamiCache) readLog(ctx context.Context, from int64) (head int64, changes []whoamiChange, err error) {
	// Before the first read nothing is kept: only the head is wanted.
	after := from
	if after < 0 {
		after = math.MaxInt64
	}
	rows, err := c.log.Query(ctx, after)
	if err != nil {
		return 0, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			seq    sql.NullInt64
			digest sql.NullString
			ch     = whoamiChange{k: -1}
		)
		if err := rows.Scan(&head, &seq, &digest, &ch.identity); err != nil {
			return 0, nil, err
		}
		if !seq.Valid {
			continue
		}
		ch.seq = seq.Int64
		if d, err := hex.DecodeString(digest.String); err == nil && len(d) == sha256.Size {
			ch.k = keyOf((*[sha256.Size]byte)(d))
		}
		changes = append(changes, ch)
	}
	return head, changes, rows.Err()
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
		clear(c.changed)
		c.applied = head
		return
	}
	for _, ch := range changes {
		if ch.seq <= c.applied {
			continue
		}
		if ch.identity.Valid {
			c.changed[ch.identity.UUID] = ch.seq
		} else {
			c.slab.remove(ch.k)
		}
	}
	if len(c.changed) > whoamiMaxChangedIdentities {
		slog.Info("whoami cache: many identities changed; forgetting every kept session", "kept", c.slab.len())
		c.slab.clear()
		clear(c.changed)
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
		r.keptAt = head
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

// whoamiPrefillQuery reads SQLite's session_whoami in key order.
const whoamiPrefillQuery = `SELECT k, token_hash, ` + whoamiColumns + ` FROM session_whoami WHERE k > $1 ORDER BY k LIMIT $2`

// whoamiPrefillJoinQuery reads PostgreSQL's sessions in token order, each
// row with the log's head of the statement's snapshot.
const whoamiPrefillJoinQuery = `SELECT s.token_hash, ` + whoamiJoinColumns + `, ` + whoamiHeadColumn + `
FROM sessions s JOIN identities i ON i.id = s.identity_id
WHERE s.token_hash > $1 ORDER BY s.token_hash LIMIT $2`

// Prefill reads sessions into the cache (SQLite's session_whoami in key
// order, PostgreSQL's in token order) until the cache is full or every row
// is read, skipping sessions that can no longer answer; meant to run in the
// background once the server has started.
func (c *WhoamiCache) Prefill(ctx context.Context) {
	start, kept := time.Now(), 0
	var after any = int64(-1)
	if c.log != nil {
		after = ""
	}
	for ctx.Err() == nil {
		c.mu.Lock()
		// Full when another chunk would not fit.
		full := c.slab.bytes+int64(c.slab.chunkSize) > c.maxBytes
		c.mu.Unlock()
		if full {
			break
		}
		head, batch, last, err := c.prefillRead(ctx, after)
		if err != nil {
			if ctx.Err() == nil {
				slog.Warn("whoami cache: prefilling stopped", "error", err)
			}
			return
		}
		if last == nil {
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

// prefillRead reads the rows after the cursor after, in one snapshot with
// the log's head, and returns those that can answer and the cursor of the
// last row read (nil past the end).
func (c *WhoamiCache) prefillRead(ctx context.Context, after any) (head int64, batch []*whoamiRow, last any, err error) {
	now := time.Now()
	read := func(rows *sql.Rows, withHead bool) error {
		defer rows.Close()
		for rows.Next() {
			r := &whoamiRow{}
			var (
				k      int64
				digest string
				dest   = []any{&digest}
			)
			if !withHead {
				dest = []any{&k, &digest}
			}
			dest = append(dest, r.fields()...)
			if withHead {
				dest = append(dest, &head)
			}
			if err := rows.Scan(dest...); err != nil {
				return err
			}
			if withHead {
				last = digest
			} else {
				last = k
			}
			d, err := hex.DecodeString(digest)
			if err != nil || len(d) != sha256.Size || !withHead && keyOf((*[sha256.Size]byte)(d)) != k {
				continue // on SQLite, a key another token's row took (migration 0012): read by the join
			}
			copy(r.digest[:], d)
			if r.current() && r.valid(now) {
				batch = append(batch, r)
			}
		}
		return rows.Err()
	}
	if c.log != nil {
		// One statement, one snapshot: the head comes with every row.
		rows, err := c.store.Read().Query(ctx, whoamiPrefillJoinQuery, after, prefillBatch)
		if err != nil {
			return 0, nil, nil, err
		}
		err = read(rows, true)
		return head, batch, last, err
	}
	err = c.store.ReadSnapshot(ctx, func(q *store.Q) error {
		if err := q.QueryRow(ctx, whoamiHeadQuery).Scan(&head); err != nil {
			return err
		}
		rows, err := q.Query(ctx, whoamiPrefillQuery, after, prefillBatch)
		if err != nil {
			return err
		}
		return read(rows, false)
	})
	return head, batch, last, err
}
