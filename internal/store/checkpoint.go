package store

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"time"
)

// checkpointEvery is how often the checkpointer copies the WAL back into
// the database file.
const checkpointEvery = 200 * time.Millisecond

// walRestartPages is the WAL's length, in pages, past which the writer
// checkpoints after its commit. A WAL starts again from its beginning only
// when a write transaction begins with every frame copied back, which a
// checkpointer beside a writer that never pauses (an import) does not
// achieve: its WAL grew to 74 GB importing a million identities and filled
// the disk. The writer's own checkpoint runs right after its commit, with
// nothing newer in the WAL, so the next transaction restarts it. (A
// blocking RESTART from the checkpointer loses the lock to such a writer.)
// The checkpointer has copied all but its last tick's frames by then, but
// the one commit still waits for those: 100,000 pages (about 400 MB) makes
// that rare, once in some seconds of writing at full speed.
var walRestartPages = 100000

// walSizeLimit is journal_size_limit: a restarted WAL longer than this is
// cut back to it, so one burst does not keep its disk space for good.
var walSizeLimit = 64 << 20

// checkpointer copies SQLite's WAL back into the database file from its
// own connection. Left to SQLite, the commit that takes the WAL past 1,000
// pages does it, inside the request that committed: with a million
// sessions a login's pages are scattered, so that copy writes about a
// thousand pages at random places and the one login waits for it. The
// writer checkpoints only past walRestartPages; PASSIVE never waits for
// readers or the writer.
type checkpointer struct {
	db     *sql.DB
	cancel context.CancelFunc
	done   chan struct{}
}

func startCheckpointer(dsn string) (*checkpointer, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	ctx, cancel := context.WithCancel(context.Background())
	c := &checkpointer{db: db, cancel: cancel, done: make(chan struct{})}
	go c.run(ctx)
	return c, nil
}

func (c *checkpointer) run(ctx context.Context) {
	defer close(c.done)
	tick := time.NewTicker(checkpointEvery)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		_, err := c.db.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`)
		if err != nil && ctx.Err() == nil && !failing {
			slog.Warn("sqlite: checkpointing the WAL failed; retrying", "error", err)
		}
		failing = err != nil
	}
}

// close stops the checkpointer after a last full copy, so a clean stop
// leaves the WAL empty as SQLite's own close would.
func (c *checkpointer) close() error {
	c.cancel()
	<-c.done
	_, err := c.db.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
	return errors.Join(err, c.db.Close())
}
