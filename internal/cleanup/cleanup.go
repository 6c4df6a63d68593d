// Package cleanup deletes rows that can no longer be used: expired
// self-service flows, sessions that ended, one-time codes past their
// expiry, session token exchanges past their expiry, and courier
// messages that were delivered or given up on. It runs in small batches,
// each its own transaction, so that a large backlog never holds locks for
// long on a live database.
package cleanup

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lanyard-id/lanyard/internal/store"
)

// Options tune a run.
type Options struct {
	// KeepLast keeps rows that ended less than this long ago, so that
	// recent history stays available for support and debugging.
	KeepLast time.Duration
	// BatchSize is the number of rows deleted per transaction.
	BatchSize int
	// Now is the reference instant; zero means store.Now().
	Now time.Time
	// PauseBetweenTables spreads the work out, as Kratos's
	// database.cleanup.sleep.tables does.
	PauseBetweenTables time.Duration
	// Progress, when set, is called after every batch with the table's
	// name and the number of rows deleted from it so far.
	Progress func(table string, deleted int64)
}

// DefaultBatchSize matches Kratos's cleanup default.
const DefaultBatchSize = 100

// Count is the number of rows deleted from one table.
type Count struct {
	Table   string
	Deleted int64
}

// target is one kind of row that ends: which table, and the condition,
// with $1 the cutoff instant, under which a row may go.
type target struct {
	table string
	ended string
}

// targets run in this order so that rows hanging off others (codes off
// flows, exchanges off sessions) are counted under their own table before
// a cascade would remove them silently.
var targets = []target{
	// Spent codes wait for their expiry too: a flow still in progress
	// tells a reused code from an unknown one by its row.
	{"selfservice_codes", "expires_at < $1"},
	{"session_token_exchanges", "expires_at < $1"},
	{"selfservice_flows", "expires_at < $1"},
	// A revoked session never comes back; updated_at is when it was revoked.
	{"sessions", "expires_at < $1 OR (active = FALSE AND updated_at < $1)"},
	// Queued and processing messages are still owed to someone.
	{"courier_messages", "status IN ('sent', 'abandoned') AND updated_at < $1"},
}

// Run deletes everything that ended before now − KeepLast and reports how
// many rows went from each table. On error, the counts so far are returned
// with it: every finished batch stays deleted.
func Run(ctx context.Context, db *store.Store, opts Options) ([]Count, error) {
	if opts.KeepLast < 0 {
		return nil, errors.New("cleanup: keep-last must not be negative")
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	now := opts.Now
	if now.IsZero() {
		now = store.Now()
	}
	cutoff := now.Add(-opts.KeepLast).UTC()

	counts := make([]Count, 0, len(targets))
	for k, t := range targets {
		if k > 0 && opts.PauseBetweenTables > 0 {
			select {
			case <-time.After(opts.PauseBetweenTables):
			case <-ctx.Done():
				return counts, ctx.Err()
			}
		}
		c := Count{Table: t.table}
		// The subquery bounds each DELETE to one batch: both engines
		// accept LIMIT there, neither accepts it on DELETE itself
		// (SQLite only when built with an option). Batches walk the
		// primary key, each starting after the last id the previous one
		// deleted, so that a table of mostly live rows is read once per
		// run rather than once per batch (these time columns have no
		// index).
		query := fmt.Sprintf(`DELETE FROM %[1]s WHERE id IN (
	SELECT id FROM %[1]s WHERE id > $2 AND (%[2]s) ORDER BY id LIMIT %[3]d
) RETURNING CAST(id AS TEXT)`, t.table, t.ended, opts.BatchSize)
		after := "00000000-0000-0000-0000-000000000000"
		for {
			if err := ctx.Err(); err != nil {
				return append(counts, c), err
			}
			var n int64
			err := db.Write(ctx, func(q *store.Q) error {
				rows, err := q.Query(ctx, query, cutoff, after)
				if err != nil {
					return err
				}
				defer rows.Close()
				for rows.Next() {
					var id string
					if err := rows.Scan(&id); err != nil {
						return err
					}
					n++
					after = max(after, id)
				}
				return rows.Err()
			})
			if err != nil {
				return append(counts, c), fmt.Errorf("cleanup of %s: %w", t.table, err)
			}
			c.Deleted += n
			if opts.Progress != nil && n > 0 {
				opts.Progress(t.table, c.Deleted)
			}
			if n < int64(opts.BatchSize) {
				break
			}
		}
		counts = append(counts, c)
	}
	return counts, nil
}
