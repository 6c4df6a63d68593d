package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lanyard-id/lanyard/internal/store"
)

// whoamiReadQuery is whoamiQuery for the tokens match selects (= $1, or
// = ANY($1) for several), with each row's token digest after the columns
// to tell the rows apart, and with the change log's head of the
// statement's snapshot last when the WhoamiCache is to keep them.
func whoamiReadQuery(match string, head bool) string {
	q := `SELECT ` + whoamiJoinColumns + `, s.token_hash`
	if head {
		q += `, ` + whoamiHeadColumn
	}
	return q + `
FROM sessions s JOIN identities i ON i.id = s.identity_id WHERE s.token_hash ` + match
}

// whoamiReadsPerQuery bounds the tokens one query asks for.
const whoamiReadsPerQuery = 64

// whoamiReadsInFlight bounds the whoami queries one process has at
// PostgreSQL at once: half its cores, at least one. Past it, requests wait
// for the next query and share it: the round trip and the statement's
// fixed cost (most of whoami's, on both sides of the socket) are paid once
// for them all. On 2 cores with 16 clients one query in flight answered
// 40% more requests than unbounded queries, two 15%, four none.
func whoamiReadsInFlight() int { return max(1, runtime.GOMAXPROCS(0)/2) }

// whoamiReads coalesces concurrent whoami reads on PostgreSQL. A request
// only ever joins a query not yet sent, so the snapshot that answers it is
// taken after it arrived: a revocation committed before a request, by any
// instance, is seen by it, as with a query of its own. Under light load
// every request sends its own query at once; nothing waits for company.
// With a WhoamiCache the query first sent is the change log's, and only the
// tokens the cache does not hold are read after it.
type whoamiReads struct {
	one, many *store.Prepared
	cache     *WhoamiCache
	slots     chan struct{}

	mu      sync.Mutex
	pending []*whoamiWait
}

// whoamiWait is one request's read, answered when done is closed.
type whoamiWait struct {
	sum    [sha256.Size]byte
	digest string
	row    *whoamiRow
	err    error
	done   chan struct{}
	// taken is set when a query takes the read: from then on its request
	// only waits, instead of taking slots for nothing.
	taken atomic.Bool
}

func newWhoamiReads(s *store.Store, c *WhoamiCache) *whoamiReads {
	return &whoamiReads{
		one:   s.Prepare(whoamiReadQuery(`= $1`, c != nil)),
		many:  s.Prepare(whoamiReadQuery(`= ANY($1)`, c != nil)),
		cache: c,
		slots: make(chan struct{}, whoamiReadsInFlight()),
	}
}

// read returns the row of the session whose token digest is sum, or
// store.ErrNotFound.
func (b *whoamiReads) read(ctx context.Context, sum *[sha256.Size]byte) (*whoamiRow, error) {
	w := &whoamiWait{sum: *sum, digest: hex.EncodeToString(sum[:]), done: make(chan struct{})}
	b.mu.Lock()
	b.pending = append(b.pending, w)
	b.mu.Unlock()
	for !w.taken.Load() {
		select {
		case <-w.done:
			return w.row, w.err
		case b.slots <- struct{}{}:
			// Whoever holds a slot sends what is pending, its own read or
			// not; a read taken by another is answered by that one.
			if batch := b.take(); len(batch) > 0 {
				// Not the leader's cancellation: the others wait on it.
				b.send(context.WithoutCancel(ctx), batch)
			}
			<-b.slots
		case <-ctx.Done():
			// Left pending or in flight, the read is answered to nobody.
			return nil, ctx.Err()
		}
	}
	select {
	case <-w.done:
		return w.row, w.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (b *whoamiReads) take() []*whoamiWait {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := min(len(b.pending), whoamiReadsPerQuery)
	batch := b.pending[:n:n]
	for _, w := range batch {
		w.taken.Store(true)
	}
	if n == len(b.pending) {
		b.pending = nil
	} else {
		b.pending = b.pending[n:]
	}
	return batch
}

// send answers every read of batch: from the cache, once it has caught up
// with the change log, and the rest with one query.
func (b *whoamiReads) send(ctx context.Context, batch []*whoamiWait) {
	defer func() {
		for _, w := range batch {
			close(w.done)
		}
	}()
	misses := batch
	if b.cache != nil {
		if err := b.cache.catchUp(ctx); err != nil {
			for _, w := range batch {
				w.err = err
			}
			return
		}
		misses = make([]*whoamiWait, 0, len(batch))
		for _, w := range batch {
			if w.row = b.cache.get(whoamiKey(&w.sum), &w.sum); w.row == nil {
				misses = append(misses, w)
			}
		}
		if len(misses) == 0 {
			return
		}
	}
	if len(misses) == 1 {
		w := misses[0]
		found, head, err := b.query(ctx, b.one, w.digest)
		b.answer(ctx, misses, found, head, err)
		return
	}
	digests := make([]string, 0, len(misses))
	seen := make(map[string]struct{}, len(misses))
	for _, w := range misses {
		if _, ok := seen[w.digest]; !ok {
			seen[w.digest] = struct{}{}
			digests = append(digests, w.digest)
		}
	}
	found, head, err := b.query(ctx, b.many, digests)
	b.answer(ctx, misses, found, head, err)
}

// answer gives each read its row of found, and keeps in the cache those
// that can answer, read in the snapshot whose log head was head.
func (b *whoamiReads) answer(ctx context.Context, batch []*whoamiWait, found map[string]*whoamiRow, head int64, err error) {
	for _, w := range batch {
		switch r, ok := found[w.digest]; {
		case err != nil:
			w.err = err
		case !ok:
			w.err = store.ErrNotFound
		default:
			cp := *r // each request its own row; the strings are shared, immutable
			w.row = &cp
		}
	}
	if b.cache == nil || err != nil {
		return
	}
	now := time.Now()
	keep := make([]*whoamiRow, 0, len(found))
	for _, w := range batch {
		// Reads of one token share their row: keep it once.
		if r := found[w.digest]; r != nil && r.digest != w.sum && r.current() && r.valid(now) {
			r.digest = w.sum
			keep = append(keep, r)
		}
	}
	if len(keep) > 0 {
		b.cache.keep(ctx, head, keep)
	}
}

// query runs one or many with arg, and returns the rows found by their
// digests' hex, with the log's head when the cache asks for it.
func (b *whoamiReads) query(ctx context.Context, p *store.Prepared, arg any) (map[string]*whoamiRow, int64, error) {
	rows, err := p.Query(ctx, arg)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	found := make(map[string]*whoamiRow)
	var head int64
	for rows.Next() {
		r := &whoamiRow{}
		var digest string
		dest := append(r.fields(), &digest)
		if b.cache != nil {
			dest = append(dest, &head)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, 0, err
		}
		found[digest] = r
	}
	return found, head, rows.Err()
}
