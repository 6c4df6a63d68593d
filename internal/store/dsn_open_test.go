package store

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// These tests open real databases, so they live inside the package to see
// the pools; the PostgreSQL one connects to the administrative database of
// LANYARD_TEST_POSTGRES_DSN and only reads (storetest cannot be imported
// from here: it imports this package).

func TestOpenKratosDSN(t *testing.T) {
	ctx := context.Background()
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		s, err := Open(ctx, "sqlite://"+filepath.Join(dir, "k.sqlite")+"?_fk=true&mode=rwc&max_conns=20&max_idle_conns=20&max_conn_lifetime=1h&_journal_mode=DELETE&_busy_timeout=5000")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if got := s.reader.Stats().MaxOpenConnections; got != 20 {
			t.Errorf("read pool max open = %d, want 20", got)
		}
		if got := s.writer.Stats().MaxOpenConnections; got != 1 {
			t.Errorf("writer max open = %d, want 1", got)
		}
		for pragma, want := range map[string]string{"journal_mode": "delete", "busy_timeout": "5000", "foreign_keys": "1"} {
			var got string
			if err := s.writer.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil || got != want {
				t.Errorf("PRAGMA %s = %q, %v; want %q", pragma, got, err, want)
			}
		}
		if _, err := s.Migrate(ctx); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
		if err := s.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("sqlite defaults", func(t *testing.T) {
		// With no pool or cache options: one reader per core, at least four,
		// each with its own larger page cache; the writer keeps SQLite's.
		s, err := Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "d.sqlite"))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if got := s.reader.Stats().MaxOpenConnections; got != sqliteReaders || got < 4 {
			t.Errorf("read pool max open = %d, want %d (at least 4)", got, sqliteReaders)
		}
		for _, c := range []struct {
			name string
			pool *sql.DB
			want int
		}{{"reader", s.reader, -readerCacheKiB}, {"writer", s.writer, -2000}} {
			var got int
			if err := c.pool.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&got); err != nil || got != c.want {
				t.Errorf("%s: PRAGMA cache_size = %d, %v; want %d", c.name, got, err, c.want)
			}
		}

		// A DSN's _cache_size is every connection's.
		s2, err := Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "c.sqlite")+"?_cache_size=-4000")
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		for _, pool := range []*sql.DB{s2.reader, s2.writer} {
			var got int
			if err := pool.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&got); err != nil || got != -4000 {
				t.Errorf("PRAGMA cache_size = %d, %v; want -4000", got, err)
			}
		}
	})
	t.Run("postgres", func(t *testing.T) {
		base := os.Getenv("LANYARD_TEST_POSTGRES_DSN")
		if base == "" {
			t.Fatal("LANYARD_TEST_POSTGRES_DSN is not set: PostgreSQL tests need a server; run them with scripts/test, which starts one")
		}
		sep := "?"
		if strings.Contains(base, "?") {
			sep = "&"
		}
		s, err := Open(ctx, base+sep+"max_conns=20&max_idle_conns=20&max_conn_lifetime=1h&max_conn_idle_time=10m&application_name=lanyard-test")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if got := s.writer.Stats().MaxOpenConnections; got != 20 {
			t.Errorf("max open = %d, want 20", got)
		}
		// The server saw the DSN without Kratos's options (it would refuse
		// max_conns as an unknown run-time parameter), but with the rest.
		var app string
		if err := s.Read().QueryRow(ctx, `SELECT current_setting('application_name')`).Scan(&app); err != nil || app != "lanyard-test" {
			t.Errorf("application_name = %q, %v", app, err)
		}
	})
}

func TestOpenRefusesUnknownDSNOptions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "k.sqlite")
		s, err := Open(ctx, "sqlite://"+path+"?_fk=true&max_connections=20")
		if err == nil {
			s.Close()
			t.Fatal("opened")
		}
		if !strings.Contains(err.Error(), `unknown option "max_connections"`) {
			t.Errorf("err = %v", err)
		}
		if _, err := os.Stat(path); err == nil {
			t.Error("a refused DSN created the database file")
		}
	})
	t.Run("postgres", func(t *testing.T) {
		// Refused before connecting: no server needed, nothing changes.
		s, err := Open(ctx, "postgres://u:secret-pw@127.0.0.1:1/x?sslmode=disable&max_connections=20")
		if err == nil {
			s.Close()
			t.Fatal("opened")
		}
		if !strings.Contains(err.Error(), `unknown option "max_connections"`) || strings.Contains(err.Error(), "secret-pw") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestOpenSQLiteModeRW(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "existing.sqlite")
	if s, err := Open(ctx, "sqlite://"+path+"?mode=rw"); err == nil {
		s.Close()
		t.Fatal("mode=rw created a missing database")
	}
	s, err := Open(ctx, "sqlite://"+path+"?mode=rwc")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(ctx, "sqlite://"+path+"?mode=rw&_fk=true")
	if err != nil {
		t.Fatalf("mode=rw on an existing database: %v", err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
}
