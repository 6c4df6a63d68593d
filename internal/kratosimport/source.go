// Package kratosimport copies users from an Ory Kratos database (SQLite or
// PostgreSQL) into Lanyard's: identities with their credentials and
// addresses, and the sessions still valid, so that people keep their
// passwords, second factors and signed-in apps. The Kratos database is
// only read.
package kratosimport

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
	_ "modernc.org/sqlite"             // the "sqlite" driver
)

// Source is a Kratos database opened for reading.
type Source struct {
	db *sql.DB
}

// OpenSource opens the Kratos database named by a Kratos DSN: sqlite://,
// sqlite3://, file: or postgres:// (cockroach:// too). A SQLite file is
// opened read-only, so that its journal mode and contents stay Kratos's.
func OpenSource(ctx context.Context, dsn string) (*Source, error) {
	driver, name, err := sourceDSN(dsn)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open(driver, name)
	if err != nil {
		return nil, fmt.Errorf("kratos dsn: %w", err)
	}
	db.SetMaxOpenConns(4)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connecting to the Kratos database: %w", err)
	}
	s := &Source{db: db}
	var tables int
	for _, t := range []string{"identities", "identity_credentials", "identity_credential_types", "sessions"} {
		// A missing table fails the query; Kratos's databases have them all.
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+t+` WHERE 1 = 0`).Scan(&tables); err != nil {
			db.Close()
			return nil, fmt.Errorf("the Kratos database has no table %s (is it a Kratos database, migrated?): %w", t, err)
		}
	}
	// Lanyard serves one tenant; rows of several Kratos networks could
	// collide on identifiers that are unique only per network.
	var networks int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM networks`).Scan(&networks); err == nil && networks > 1 {
		db.Close()
		return nil, fmt.Errorf("the Kratos database holds %d networks (tenants); Lanyard imports a database of one", networks)
	}
	return s, nil
}

// Close closes the database.
func (s *Source) Close() error { return s.db.Close() }

// poolOptions are Kratos's DSN options for its connection pool, which the
// drivers would take for database settings.
var poolOptions = []string{"max_conns", "max_idle_conns", "max_conn_lifetime", "max_conn_idle_time"}

func sourceDSN(dsn string) (driver, name string, err error) {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"),
		strings.HasPrefix(dsn, "cockroach://"), strings.HasPrefix(dsn, "cockroachdb://"), strings.HasPrefix(dsn, "crdb://"):
		u, err := url.Parse(dsn)
		if err != nil {
			return "", "", errors.New("kratos dsn: not a URL")
		}
		u.Scheme = "postgres"
		q := u.Query()
		for _, o := range poolOptions {
			q.Del(o)
		}
		u.RawQuery = q.Encode()
		return "pgx", u.String(), nil
	case strings.HasPrefix(dsn, "sqlite://"), strings.HasPrefix(dsn, "sqlite3://"), strings.HasPrefix(dsn, "file:"):
		path := dsn
		for _, p := range []string{"sqlite://", "sqlite3://", "file:"} {
			path = strings.TrimPrefix(path, p)
		}
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path = path[:i]
		}
		if path == "" || path == ":memory:" {
			return "", "", errors.New("kratos dsn: name the SQLite file of the Kratos database")
		}
		return "sqlite", "file:" + path + "?mode=ro&_pragma=busy_timeout(10000)", nil
	default:
		return "", "", errors.New("kratos dsn: unsupported database (use sqlite:// or postgres://)")
	}
}

// placeholders answers "$from, $from+1, ..." for n values.
func placeholders(from, n int) string {
	var b strings.Builder
	for k := 0; k < n; k++ {
		if k > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(from+k))
	}
	return b.String()
}

// idArgs are ids as query arguments.
func idArgs(ids []uuid.UUID) []any {
	args := make([]any, len(ids))
	for k, id := range ids {
		args[k] = id.String()
	}
	return args
}

// kratosTime scans a Kratos timestamp: a time on PostgreSQL; on SQLite
// whatever text its driver wrote, in one of a few layouts.
type kratosTime struct {
	Time  time.Time
	Valid bool
}

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05",
	"2006-01-02",
}

// Scan implements sql.Scanner.
func (t *kratosTime) Scan(src any) error {
	var s string
	switch v := src.(type) {
	case nil:
		t.Valid = false
		return nil
	case time.Time:
		t.Time, t.Valid = v.UTC().Truncate(time.Microsecond), true
		return nil
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		return fmt.Errorf("kratos: cannot read %T as a time", src)
	}
	s = strings.TrimSpace(s)
	// Go's time.Time.String form, which some drivers store.
	if i := strings.Index(s, " +0000 UTC"); i >= 0 {
		s = s[:i]
	}
	for _, layout := range timeLayouts {
		if v, err := time.Parse(layout, s); err == nil {
			t.Time, t.Valid = v.UTC().Truncate(time.Microsecond), true
			return nil
		}
	}
	return fmt.Errorf("kratos: %q is not a time", s)
}

func (t kratosTime) ptr() *time.Time {
	if !t.Valid {
		return nil
	}
	v := t.Time
	return &v
}

// kratosUUID scans a uuid column: text on SQLite, uuid on PostgreSQL.
type kratosUUID struct{ uuid.UUID }

// Scan implements sql.Scanner.
func (u *kratosUUID) Scan(src any) error {
	switch v := src.(type) {
	case string:
		return u.parse(v)
	case []byte:
		if len(v) == 16 {
			copy(u.UUID[:], v)
			return nil
		}
		return u.parse(string(v))
	case [16]byte:
		u.UUID = v
		return nil
	default:
		return fmt.Errorf("kratos: cannot read %T as a uuid", src)
	}
}

func (u *kratosUUID) parse(s string) error {
	v, err := uuid.Parse(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("kratos: %q is not a uuid", s)
	}
	u.UUID = v
	return nil
}

// kratosBool scans a boolean: 0/1 on SQLite, boolean on PostgreSQL,
// NULL as false.
type kratosBool bool

// Scan implements sql.Scanner.
func (b *kratosBool) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*b = false
	case bool:
		*b = kratosBool(v)
	case int64:
		*b = v != 0
	case float64:
		*b = v != 0
	case string, []byte:
		s := strings.ToLower(strings.TrimSpace(fmt.Sprint(asString(v))))
		*b = s == "1" || s == "t" || s == "true"
	default:
		return fmt.Errorf("kratos: cannot read %T as a boolean", src)
	}
	return nil
}

func asString(v any) string {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return v.(string)
}

// kratosText scans text or JSON, NULL as "".
type kratosText string

// Scan implements sql.Scanner.
func (t *kratosText) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*t = ""
	case string:
		*t = kratosText(v)
	case []byte:
		*t = kratosText(v)
	default:
		return fmt.Errorf("kratos: cannot read %T as text", src)
	}
	return nil
}
