package conformance

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// kratosDSN is the DSN of a fresh database as a Kratos deployment writes
// it: with the pool options Kratos takes out of the query string.
func kratosDSN(t *testing.T, store, dir string) string {
	t.Helper()
	if store == storePostgres {
		// The harness's DSN already has ?sslmode=disable.
		return newPostgresDatabase(t) + "&max_conns=20&max_idle_conns=20&max_conn_lifetime=1h"
	}
	return "sqlite://" + filepath.Join(dir, "kratos.sqlite") + "?_fk=true&mode=rwc&max_conns=20&max_idle_conns=20&max_conn_lifetime=1h"
}

func TestDSN_KratosOptionsStartTheServer(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		spec := selfserviceSpec(store, nil)
		spec.dsn = kratosDSN(t, store, t.TempDir())
		s := startServer(t, spec)
		created := s.createIdentity(t, withPassword(identityBody("dsn@example.org"), testPassword))
		if got := s.getIdentity(t, created.Id); got.Id != created.Id {
			t.Errorf("identity %s read back as %s", created.Id, got.Id)
		}
		reg := s.registerNative(t, uniqueEmail("dsn"))
		if status, _, res := s.whoami(t, plain(s), tokenHeader(reg.SessionToken)); status != 200 {
			t.Errorf("whoami = %d: %s", status, res.body)
		}
		if strings.Contains(s.Stderr(), "max_conns") {
			t.Errorf("the server complained about max_conns:\n%s", s.Stderr())
		}
	})
}

func TestDSN_UnknownOptionFailsStartupNamingIt(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		dir := t.TempDir()
		dsn := kratosDSN(t, store, dir) + "&max_connections=20&pool_size=hunter2"
		for _, args := range [][]string{{"migrate", "sql", "-e", "--yes"}, {"migrate", "sql", "status", "-e"}} {
			res := runLanyard(t, dir, map[string]string{"DSN": dsn}, args...)
			if res.Code == 0 {
				t.Errorf("lanyard %v accepted the DSN:\n%s%s", args, res.Stdout, res.Stderr)
			}
			if !strings.Contains(res.Stderr, `"max_connections"`) || !strings.Contains(res.Stderr, `"pool_size"`) {
				t.Errorf("lanyard %v: the error does not name the options:\n%s", args, res.Stderr)
			}
			if strings.Contains(res.Stdout+res.Stderr, "hunter2") {
				t.Errorf("lanyard %v printed an option's value:\n%s", args, res.Stderr)
			}
		}
		out := startFailing(t, map[string]any{"dsn": dsn})
		if !strings.Contains(out, `unknown options "max_connections", "pool_size"`) {
			t.Errorf("serve: the error does not name the options:\n%s", out)
		}
		if strings.Contains(out, "hunter2") {
			t.Errorf("serve printed an option's value:\n%s", out)
		}

		// Refused before anything touched the database.
		if store == storeSQLite {
			if _, err := os.Stat(filepath.Join(dir, "kratos.sqlite")); err == nil {
				t.Error("the refused DSN created the SQLite database")
			}
			return
		}
		if n := postgresTableCount(t, strings.SplitN(dsn, "&max_conns", 2)[0]); n != 0 {
			t.Errorf("the refused DSN left %d tables in the database", n)
		}
	})
}

// postgresTableCount counts the tables in the public schema of dsn.
func postgresTableCount(t *testing.T, dsn string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connecting to the test database: %v", err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
