// Package storetest opens fresh, isolated databases for tests, so that every
// storage test runs on both SQLite and PostgreSQL.
//
// PostgreSQL comes from LANYARD_TEST_POSTGRES_DSN (scripts/test starts a
// throwaway server and sets it); each Open creates a database of its own
// there and drops it when the test ends.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, for CREATE/DROP DATABASE

	"github.com/lanyard-id/lanyard/internal/store"
)

// EnvPostgresDSN names the variable holding an administrative PostgreSQL DSN.
const EnvPostgresDSN = "LANYARD_TEST_POSTGRES_DSN"

// Dialects are the engines every storage test runs on.
var Dialects = []store.Dialect{store.SQLite, store.Postgres}

// Open returns a fresh, migrated store of dialect d, closed (and, on
// PostgreSQL, dropped) when t ends.
func Open(t testing.TB, d store.Dialect) *store.Store {
	t.Helper()
	s := OpenEmpty(t, d)
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("migrating %s: %v", s, err)
	}
	return s
}

// OpenEmpty is Open without migrations.
func OpenEmpty(t testing.TB, d store.Dialect) *store.Store {
	t.Helper()
	return open(t, DSN(t, d))
}

// DSN returns the DSN of a fresh, empty database of dialect d that is
// removed when t ends. Nothing has connected to it yet.
func DSN(t testing.TB, d store.Dialect) string {
	t.Helper()
	switch d {
	case store.SQLite:
		return "sqlite://" + filepath.Join(t.TempDir(), "lanyard.db")
	case store.Postgres:
		return postgresDatabase(t)
	default:
		t.Fatalf("storetest: unknown dialect %q", d)
		return ""
	}
}

// OpenTwice opens one fresh, migrated database of dialect d as two
// stores, as two servers would: each has its own connections, so one's
// commits reach the other only through the database.
func OpenTwice(t testing.TB, d store.Dialect) (first, second *store.Store) {
	t.Helper()
	dsn := DSN(t, d)
	first = open(t, dsn)
	if _, err := first.Migrate(context.Background()); err != nil {
		t.Fatalf("migrating %s: %v", first, err)
	}
	return first, open(t, dsn)
}

// Run runs fn as one subtest per dialect, each with a fresh migrated store.
func Run(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	for _, d := range Dialects {
		t.Run(string(d), func(t *testing.T) {
			fn(t, Open(t, d))
		})
	}
}

func open(t testing.TB, dsn string) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("storetest: opening the test database: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// postgresDatabase creates a database with a random name and registers its
// removal. A missing server is a failure, not a skip: the storage rules say
// every storage test runs on PostgreSQL too.
func postgresDatabase(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(EnvPostgresDSN)
	if admin == "" {
		t.Fatalf("%s is not set: PostgreSQL tests need a server; run them with scripts/test, which starts one", EnvPostgresDSN)
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("%s is not a URL: %v", EnvPostgresDSN, err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := "lanyard_test_" + hex.EncodeToString(b[:])

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	defer db.Close()
	// The name is ours and made of [a-z0-9_], so quoting is not needed.
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("storetest: creating database on %s: %v (is the server from scripts/test running?)", u.Host, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		db, err := sql.Open("pgx", admin)
		if err != nil {
			t.Errorf("storetest: %v", err)
			return
		}
		defer db.Close()
		// FORCE: a test that failed half-way may leave connections open.
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("storetest: dropping database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}
