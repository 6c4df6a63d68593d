package store

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
)

// Prepared is a read query parsed once per pooled connection instead of
// once per call: on SQLite, parsing a join costs more than running it, and
// on whoami's path that is most of the database's share. Use it for the
// few hot queries whose text never changes; everything else goes through
// Read.
type Prepared struct {
	store *Store
	query string

	stmt atomic.Pointer[sql.Stmt]
	mu   sync.Mutex // serialises the first preparation
}

// Prepare returns query as a Prepared read; it is parsed on first use.
// The same text answers the same Prepared, so handlers rebuilt on a
// config reload share their statements instead of adding more.
func (s *Store) Prepare(query string) *Prepared {
	p, _ := s.prepared.LoadOrStore(query, &Prepared{store: s, query: query})
	return p.(*Prepared)
}

func (p *Prepared) statement(ctx context.Context) (*sql.Stmt, error) {
	if stmt := p.stmt.Load(); stmt != nil {
		return stmt, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if stmt := p.stmt.Load(); stmt != nil {
		return stmt, nil
	}
	// Prepared on the pool: database/sql prepares it again on each
	// connection the first time it runs there, and keeps it.
	stmt, err := p.store.reader.PrepareContext(ctx, p.query)
	if err != nil {
		return nil, classify(err)
	}
	p.stmt.Store(stmt)
	return stmt, nil
}

// QueryRow runs the query on the read pool; Scan on the row reports
// ErrNotFound instead of sql.ErrNoRows.
func (p *Prepared) QueryRow(ctx context.Context, args ...any) *Row {
	ctx, span := startSpan(ctx, "db.read", p.store.dialect)
	defer span.End()
	stmt, err := p.statement(ctx)
	if err != nil {
		return &Row{err: err}
	}
	q := Q{dialect: p.store.dialect}
	return &Row{row: stmt.QueryRowContext(ctx, q.args(args)...)}
}

// Query runs the query on the read pool and returns its rows; the caller
// closes them.
func (p *Prepared) Query(ctx context.Context, args ...any) (rows *sql.Rows, err error) {
	ctx, span := startSpan(ctx, "db.read", p.store.dialect)
	defer func() { endSpan(span, err) }()
	stmt, err := p.statement(ctx)
	if err != nil {
		return nil, err
	}
	q := Q{dialect: p.store.dialect}
	rows, err = stmt.QueryContext(ctx, q.args(args)...)
	return rows, classify(err)
}

// closePrepared releases every prepared statement, before the pools close.
func (s *Store) closePrepared() error {
	var errs []error
	s.prepared.Range(func(_, v any) bool {
		if stmt := v.(*Prepared).stmt.Swap(nil); stmt != nil {
			errs = append(errs, stmt.Close())
		}
		return true
	})
	return errors.Join(errs...)
}
