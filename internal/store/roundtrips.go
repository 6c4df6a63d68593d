package store

import (
	"context"
	"database/sql"
	"net"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Round trips to PostgreSQL are counted at the socket, so that whatever the
// driver sends is seen: statement preparation, BEGIN and COMMIT, pings and
// the handshake included. The counters are process-wide; internal/metrics
// exports them.
var roundTrips, pings atomic.Uint64

// RoundTrips reports how many times a PostgreSQL connection of this process
// has sent something and then waited for the server's answer.
func RoundTrips() uint64 { return roundTrips.Load() }

// Pings reports how many of RoundTrips were liveness pings, sent before a
// connection that has been idle for a while is reused.
func Pings() uint64 { return pings.Load() }

// idlePing is how long a pooled connection may rest before it is pinged
// before its next use; it is the driver's own default.
const idlePing = time.Second

// openCountedPostgres opens a pool whose connections count their round trips.
func openCountedPostgres(dsn string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	dial := cfg.DialFunc
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return newCountingConn(c), nil
	}
	shouldPing := func(_ context.Context, p stdlib.ShouldPingParams) bool {
		if p.IdleDuration <= idlePing {
			return false
		}
		pings.Add(1)
		return true
	}
	return stdlib.OpenDB(*cfg, stdlib.OptionShouldPing(shouldPing)), nil
}

// countingConn counts a round trip at each write that follows an answer
// (or opens the connection). The driver writes a whole batch of messages
// before it reads, and the writes of one batch, however many, are one trip.
type countingConn struct {
	net.Conn
	answered atomic.Bool
}

func newCountingConn(c net.Conn) *countingConn {
	cc := &countingConn{Conn: c}
	cc.answered.Store(true)
	return cc
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.answered.Store(true)
	}
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	if len(p) > 0 && c.answered.Swap(false) {
		roundTrips.Add(1)
	}
	return c.Conn.Write(p)
}
