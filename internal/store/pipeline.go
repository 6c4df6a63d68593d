package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// requireState is the SQLSTATE lanyard_require raises (migration
// 0011_require): a required statement matched no row. Its message is the
// statement's index among the transaction's required ones.
const requireState = "LY001"

// WritePipelined is Write for the short transactions that complete a flow.
// On PostgreSQL the statements given to Defer and Require are not sent
// one by one: they are queued, and go with BEGIN in front and COMMIT
// behind as one batch, one round trip, or with the next statement whose
// answer the code needs. On SQLite it is Write.
//
// The price is that a deferred statement's failure (a unique violation, a
// required statement that matched nothing) is reported later: by the next
// statement that is sent, or by WritePipelined itself.
func (s *Store) WritePipelined(ctx context.Context, fn func(q *Q) error) (err error) {
	if s.dialect != Postgres {
		return s.Write(ctx, fn)
	}
	ctx, span := startSpan(ctx, "db.write", s.dialect)
	defer func() { endSpan(span, err) }()
	conn, err := s.writer.Conn(ctx)
	if err != nil {
		return classify(err)
	}
	p := &pipeline{conn: conn}
	defer func() {
		if r := recover(); r != nil {
			p.abandon(ctx)
			panic(r)
		}
	}()
	if err := fn(&Q{db: conn, dialect: s.dialect, tx: true, p: p}); err != nil {
		p.abandon(ctx)
		return err
	}
	if err := p.commit(ctx); err != nil {
		p.abandon(ctx)
		return err
	}
	_ = conn.Close() // committed: the connection goes back to the pool
	return nil
}

// pipeline is the state of one pipelined transaction on its connection.
type pipeline struct {
	conn  *sql.Conn
	begun bool     // BEGIN has been sent
	sent  bool     // anything has been sent: a failure must be rolled back
	queue []queued // statements not sent yet
	// required are the errors of the required statements, by index.
	required []error
}

type queued struct {
	query string
	args  []any
}

func (p *pipeline) add(query string, args []any) {
	p.queue = append(p.queue, queued{query: query, args: args})
}

// require queues query so that it raises requireState when it changes no
// row; the database then aborts the transaction, and err is what the
// caller is answered.
func (p *pipeline) require(err error, query string, args []any) {
	idx := strconv.Itoa(len(p.required))
	p.required = append(p.required, err)
	n := strconv.Itoa(len(args) + 1)
	wrapped := `WITH changed AS (` + query + ` RETURNING 1) SELECT lanyard_require(count(*), $` + n + `) FROM changed`
	p.add(wrapped, append(append([]any(nil), args...), idx))
}

// flush sends BEGIN, when it has not gone yet, and whatever is queued, so
// that a statement whose answer is needed sees everything before it.
func (p *pipeline) flush(ctx context.Context) error {
	if p.begun && len(p.queue) == 0 {
		return nil
	}
	return p.send(ctx, "")
}

// commit sends what is left with COMMIT; a transaction that never sent
// anything has nothing to commit and costs no round trip.
func (p *pipeline) commit(ctx context.Context) error {
	if !p.begun && len(p.queue) == 0 {
		return nil
	}
	return p.send(ctx, "COMMIT")
}

func (p *pipeline) send(ctx context.Context, last string) error {
	b := &pgx.Batch{}
	if !p.begun {
		b.Queue("BEGIN")
	}
	for _, s := range p.queue {
		b.Queue(s.query, s.args...)
	}
	if last != "" {
		b.Queue(last)
	}
	p.queue = p.queue[:0]
	p.begun, p.sent = true, true
	err := p.conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("store: a pipelined transaction needs pgx's connection, not %T", dc)
		}
		br := c.Conn().SendBatch(ctx, b)
		var first error
		for range b.QueuedQueries {
			if _, err := br.Exec(); err != nil {
				first = err
				break
			}
		}
		return errors.Join(first, br.Close())
	})
	return p.classify(err)
}

// classify maps a required statement's failure back to its caller's error.
func (p *pipeline) classify(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == requireState {
		if k, convErr := strconv.Atoi(pgErr.Message); convErr == nil && k >= 0 && k < len(p.required) {
			return p.required[k]
		}
	}
	return classify(err)
}

// abandon rolls back what was sent, if anything, and gives the connection
// back; one that cannot be rolled back is closed rather than reused.
func (p *pipeline) abandon(ctx context.Context) {
	if p.sent {
		// A cancelled request still has its transaction ended.
		ctx = context.WithoutCancel(ctx)
		if _, err := p.conn.ExecContext(ctx, "ROLLBACK"); err != nil {
			_ = p.conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}
	p.sent = false
	_ = p.conn.Close()
}

// Defer runs a statement whose result the caller does not need. In a
// pipelined transaction on PostgreSQL it is queued (WritePipelined); its
// failure is then reported by a later statement or by the transaction.
func (q *Q) Defer(ctx context.Context, query string, args ...any) error {
	if q.p != nil {
		q.p.add(query, q.args(args))
		return nil
	}
	_, err := q.Exec(ctx, query, args...)
	return err
}

// Require runs an INSERT, UPDATE or DELETE (without RETURNING) that must
// change at least one row, and answers err when it changes none. In a
// pipelined transaction on PostgreSQL it is queued like Defer's, and a
// statement that changes nothing aborts the transaction in the database,
// which then answers err.
func (q *Q) Require(ctx context.Context, err error, query string, args ...any) error {
	if q.p != nil {
		q.p.require(err, query, q.args(args))
		return nil
	}
	res, execErr := q.Exec(ctx, query, args...)
	if execErr != nil {
		return execErr
	}
	n, execErr := res.RowsAffected()
	if execErr != nil {
		return execErr
	}
	if n == 0 {
		return err
	}
	return nil
}
