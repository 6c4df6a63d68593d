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

// checkpointer copies SQLite's WAL back into the database file from its
// own connection. Left to SQLite, the commit that takes the WAL past 1,000
// pages does it, inside the request that committed: with a million
// sessions a login's pages are scattered, so that copy writes about a
// thousand pages at random places and the one login waits for it. The
// writer's own checkpoints are off (wal_autocheckpoint(0)); PASSIVE never
// waits for readers or the writer.
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
