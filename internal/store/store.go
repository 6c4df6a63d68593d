// Package store opens Lanyard's database (embedded SQLite or PostgreSQL),
// migrates it, and runs queries and transactions. Domain packages write their
// SQL once, with $1-style placeholders, and it runs on both dialects.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect names the SQL engine behind a Store.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Store is the database. On SQLite all writes go through one connection so
// that concurrent requests queue in Go instead of failing with
// "database is locked", while reads use a separate pool and, thanks to WAL,
// never wait for writers.
type Store struct {
	dialect Dialect
	writer  *sql.DB
	reader  *sql.DB
	// where names the database for humans, without credentials.
	where string
	// prepared holds the hot reads by their text (prepared.go).
	prepared sync.Map
	// checkpoints copies a SQLite file's WAL back (checkpoint.go).
	checkpoints *checkpointer
}

// ErrUniqueViolation wraps errors caused by a unique constraint.
var ErrUniqueViolation = errors.New("unique constraint violated")

// ErrNotFound is returned when a row that must exist does not.
var ErrNotFound = errors.New("not found")

// Open connects to the database named by dsn: "memory", "sqlite://path?...",
// "sqlite:///abs/path", "file:...", or "postgres://..." / "postgresql://...".
// The query string takes Kratos's options (dsn.go): the pool options
// max_conns, max_idle_conns, max_conn_lifetime and max_conn_idle_time, and
// the options of the database; an option nobody understands is refused.
func Open(ctx context.Context, dsn string) (*Store, error) {
	switch {
	case dsn == "memory" || strings.HasPrefix(dsn, "sqlite:") || strings.HasPrefix(dsn, "file:"):
		return openSQLite(ctx, dsn)
	case strings.HasPrefix(dsn, "sqlite3:"):
		return openSQLite(ctx, "sqlite:"+strings.TrimPrefix(dsn, "sqlite3:"))
	case strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://"):
		return openPostgres(ctx, dsn)
	case strings.HasPrefix(dsn, "cockroach://") || strings.HasPrefix(dsn, "cockroachdb://") || strings.HasPrefix(dsn, "crdb://"):
		// CockroachDB speaks the PostgreSQL wire protocol.
		return openPostgres(ctx, "postgres://"+dsn[strings.Index(dsn, "://")+3:])
	default:
		return nil, fmt.Errorf("dsn: unsupported database (use sqlite://, postgres:// or memory)")
	}
}

func openPostgres(ctx context.Context, dsn string) (*Store, error) {
	dsn, p, err := postgresDSN(dsn)
	if err != nil {
		return nil, err
	}
	db, err := openCountedPostgres(dsn)
	if err != nil {
		return nil, fmt.Errorf("dsn: %w", err)
	}
	p.apply(db, 32, 32, 0, 5*time.Minute)
	if err := pingWithRetry(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	where := "postgres"
	if u, err := url.Parse(dsn); err == nil {
		where = "postgres://" + u.Host + u.Path
	}
	return &Store{dialect: Postgres, writer: db, reader: db, where: where}, nil
}

// pingWithRetry tolerates a database that is still starting, as happens when
// Lanyard and PostgreSQL are started together.
func pingWithRetry(ctx context.Context, db *sql.DB) error {
	var err error
	for i := 0; i < 10; i++ {
		if err = db.PingContext(ctx); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return err
}

// sqliteReaders is the read pool's size when the DSN sets no max_conns.
var sqliteReaders = max(4, runtime.GOMAXPROCS(0))

func openSQLite(ctx context.Context, dsn string) (*Store, error) {
	d, err := parseSQLiteDSN(dsn)
	if err != nil {
		return nil, err
	}
	for _, w := range d.warnings {
		slog.Warn(w)
	}
	memoryName := "lanyard-" + uuid.NewString()
	if !d.memory && d.mode == "rwc" {
		if err := os.MkdirAll(filepath.Dir(d.path), 0o700); err != nil {
			return nil, fmt.Errorf("dsn: creating database directory: %w", err)
		}
	}
	writer, err := sql.Open("sqlite", d.writerDSN(memoryName))
	if err != nil {
		return nil, fmt.Errorf("dsn: %w", err)
	}
	// One long-lived writer connection: writes queue in Go, and an
	// in-memory database lives as long as it does.
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	if err := pingWhileBusy(ctx, writer); err != nil {
		writer.Close()
		return nil, fmt.Errorf("opening SQLite database %s: %w", d.path, err)
	}
	reader, err := sql.Open("sqlite", d.readerDSN(memoryName))
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("dsn: %w", err)
	}
	// The DSN's pool options size the read pool. A read is short and takes
	// no lock, so one reader per core (at least four) keeps the cores busy;
	// each holds its own page cache, and more would cache the same pages again.
	d.pool.apply(reader, sqliteReaders, sqliteReaders, 0, 0)
	where := "sqlite (in memory)"
	if !d.memory {
		where = "sqlite (" + d.path + ")"
	}
	st := &Store{dialect: SQLite, writer: writer, reader: reader, where: where}
	if d.walFile() {
		if st.checkpoints, err = startCheckpointer(d.fileDSN()); err != nil {
			st.Close()
			return nil, fmt.Errorf("dsn: %w", err)
		}
	}
	return st, nil
}

// pingWhileBusy opens the writer's connection, which sets its pragmas.
// Switching a database to WAL needs a moment with no other writer, and
// SQLite answers SQLITE_BUSY at once rather than waiting for one (its
// busy timeout does not cover it): another process migrating the same
// file is waited for, up to about ten seconds.
func pingWhileBusy(ctx context.Context, db *sql.DB) error {
	wait := 10 * time.Millisecond
	for deadline := time.Now().Add(10 * time.Second); ; {
		err := db.PingContext(ctx)
		if err == nil || !strings.Contains(err.Error(), "SQLITE_BUSY") || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

// Dialect reports the SQL engine.
func (s *Store) Dialect() Dialect { return s.dialect }

// String names the database without credentials, for start-up messages.
func (s *Store) String() string { return s.where }

// Close closes all connections.
func (s *Store) Close() error {
	err := s.closePrepared()
	if s.checkpoints != nil {
		err = errors.Join(err, s.checkpoints.close())
	}
	err = errors.Join(err, s.writer.Close())
	if s.reader != s.writer {
		err = errors.Join(err, s.reader.Close())
	}
	return err
}

// Ping checks that the database answers; used by /health/ready.
func (s *Store) Ping(ctx context.Context) error {
	return s.reader.PingContext(ctx)
}

// Read returns queries that run outside any transaction on the read pool.
func (s *Store) Read() *Q {
	return &Q{db: s.reader, dialect: s.dialect}
}

// Write runs fn in one transaction: committed when fn returns nil, rolled
// back otherwise. fn must not call Write itself.
func (s *Store) Write(ctx context.Context, fn func(q *Q) error) (err error) {
	ctx, span := startSpan(ctx, "db.write", s.dialect)
	defer func() { endSpan(span, err) }()
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return classify(err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
	}()
	if err := fn(&Q{db: tx, dialect: s.dialect, tx: true}); err != nil {
		_ = tx.Rollback()
		return err
	}
	return classify(tx.Commit())
}

// ReadSnapshot runs fn's reads in one read transaction on the read pool,
// so that they all see the database as one moment left it (on SQLite, the
// snapshot starts at the first read). fn must not write.
func (s *Store) ReadSnapshot(ctx context.Context, fn func(q *Q) error) (err error) {
	ctx, span := startSpan(ctx, "db.read", s.dialect)
	defer func() { endSpan(span, err) }()
	tx, err := s.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return classify(err)
	}
	// Only reads ran: rolling back ends the snapshot as a commit would.
	defer func() { _ = tx.Rollback() }()
	return fn(&Q{db: tx, dialect: s.dialect, tx: true})
}

// queryer is what *sql.DB and *sql.Tx have in common.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Q runs SQL on a pool or inside a transaction. Arguments of type time.Time
// are normalised per dialect so that the same SQL works on both.
type Q struct {
	db      queryer
	dialect Dialect
	tx      bool
	// p holds the statements a pipelined transaction has not sent yet
	// (pipeline.go); nil elsewhere.
	p *pipeline
}

// Dialect reports the SQL engine, for the rare query that must differ.
func (q *Q) Dialect() Dialect { return q.dialect }

// Exec runs a statement.
func (q *Q) Exec(ctx context.Context, query string, args ...any) (res sql.Result, err error) {
	if !q.tx {
		var span trace.Span
		ctx, span = startSpan(ctx, "db.read", q.dialect)
		defer func() { endSpan(span, err) }()
	}
	if err := q.flush(ctx); err != nil {
		return nil, err
	}
	res, err = q.db.ExecContext(ctx, query, q.args(args)...)
	return res, classify(err)
}

// Query runs a query returning rows.
func (q *Q) Query(ctx context.Context, query string, args ...any) (rows *sql.Rows, err error) {
	if !q.tx {
		var span trace.Span
		ctx, span = startSpan(ctx, "db.read", q.dialect)
		defer func() { endSpan(span, err) }()
	}
	if err := q.flush(ctx); err != nil {
		return nil, err
	}
	rows, err = q.db.QueryContext(ctx, query, q.args(args)...)
	return rows, classify(err)
}

// QueryRow runs a query returning at most one row; Scan on it reports
// ErrNotFound instead of sql.ErrNoRows.
func (q *Q) QueryRow(ctx context.Context, query string, args ...any) *Row {
	if !q.tx {
		var span trace.Span
		ctx, span = startSpan(ctx, "db.read", q.dialect)
		defer span.End()
	}
	if err := q.flush(ctx); err != nil {
		return &Row{err: err}
	}
	return &Row{row: q.db.QueryRowContext(ctx, query, q.args(args)...)}
}

// Savepoint runs fn so that its changes are undone, and the transaction can
// go on, when fn fails. Only inside Write.
func (q *Q) Savepoint(ctx context.Context, name string, fn func() error) error {
	if !q.tx {
		return errors.New("store: savepoint outside a transaction")
	}
	if err := q.flush(ctx); err != nil {
		return err
	}
	if _, err := q.db.ExecContext(ctx, "SAVEPOINT "+name); err != nil {
		return classify(err)
	}
	err := fn()
	switch {
	case err == nil:
		// What fn deferred is sent before the savepoint ends, so that its
		// failure is fn's and is undone with it.
		err = q.flush(ctx)
	case q.p != nil:
		q.p.queue = q.p.queue[:0] // fn failed: what it queued is undone unsent
	}
	if err != nil {
		if _, rbErr := q.db.ExecContext(ctx, "ROLLBACK TO SAVEPOINT "+name); rbErr != nil {
			return errors.Join(err, classify(rbErr))
		}
		return err
	}
	_, err = q.db.ExecContext(ctx, "RELEASE SAVEPOINT "+name)
	return classify(err)
}

// flush sends what a pipelined transaction has queued: the statement
// that follows needs its effects, or its answer is needed.
func (q *Q) flush(ctx context.Context) error {
	if q.p == nil {
		return nil
	}
	return q.p.flush(ctx)
}

// Row wraps *sql.Row to classify errors.
type Row struct {
	row *sql.Row
	err error // set when the query could not be run at all
}

// Scan copies the row into dest.
func (r *Row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	err := r.row.Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return classify(err)
}

func (q *Q) args(args []any) []any {
	if q.dialect != SQLite {
		return args
	}
	var out []any // copied on first change: the caller's slice is not ours
	for i, a := range args {
		var s any
		switch v := a.(type) {
		case time.Time:
			s = FormatTime(v)
		case *time.Time:
			if v == nil {
				continue
			}
			s = FormatTime(*v)
		default:
			continue
		}
		if out == nil {
			out = append([]any(nil), args...)
		}
		out[i] = s
	}
	if out == nil {
		return args
	}
	return out
}

// timeLayout is fixed-width so that SQLite compares and sorts times as text
// correctly; microseconds match PostgreSQL's precision.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// FormatTime renders t as stored in SQLite.
func FormatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// Now is the current time at the precision the database keeps.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// Time scans a timestamp column of either dialect.
type Time struct{ time.Time }

// Scan implements sql.Scanner.
func (t *Time) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		t.Time = v.UTC()
	case string:
		return t.parse(v)
	case []byte:
		return t.parse(string(v))
	default:
		return fmt.Errorf("store: cannot scan %T into a time", src)
	}
	return nil
}

func (t *Time) parse(s string) error {
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("store: bad time %q: %w", s, err)
	}
	t.Time = v.UTC()
	return nil
}

// NullTime scans a nullable timestamp column of either dialect.
type NullTime struct {
	Time  time.Time
	Valid bool
}

// Scan implements sql.Scanner.
func (t *NullTime) Scan(src any) error {
	if src == nil {
		t.Time, t.Valid = time.Time{}, false
		return nil
	}
	var v Time
	if err := v.Scan(src); err != nil {
		return err
	}
	t.Time, t.Valid = v.Time, true
	return nil
}

// Ptr returns nil for NULL.
func (t NullTime) Ptr() *time.Time {
	if !t.Valid {
		return nil
	}
	v := t.Time
	return &v
}

// classify maps driver errors to the package's sentinel errors.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return fmt.Errorf("%w: %s", ErrUniqueViolation, pgErr.ConstraintName)
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		switch sqErr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %s", ErrUniqueViolation, sqErr.Error())
		}
	}
	return err
}

// IsUniqueViolation reports whether err came from a unique constraint.
func IsUniqueViolation(err error) bool { return errors.Is(err, ErrUniqueViolation) }

var tracer = otel.Tracer("github.com/lanyard-id/lanyard/internal/store")

// clientSpan is allocated once: a span start must cost nothing when
// tracing is off.
var clientSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}

// startSpan begins the span of one transaction or one query outside a
// transaction. It carries the engine, never the SQL or its arguments.
func startSpan(ctx context.Context, name string, d Dialect) (context.Context, trace.Span) {
	ctx, span := tracer.Start(ctx, name, clientSpan...)
	if span.IsRecording() {
		system := "sqlite"
		if d == Postgres {
			system = "postgresql"
		}
		span.SetAttributes(attribute.String("db.system", system), attribute.String("db.system.name", system))
	}
	return ctx, span
}

// endSpan marks a failed transaction or query; the error's text stays
// out, as a driver may quote values in it.
func endSpan(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		kind := "error"
		switch {
		case errors.Is(err, ErrNotFound):
			kind = "not_found"
		case errors.Is(err, ErrUniqueViolation):
			kind = "unique_violation"
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			kind = "canceled"
		}
		span.SetStatus(codes.Error, kind)
	}
	span.End()
}
