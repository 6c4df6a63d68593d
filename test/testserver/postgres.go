package testserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresDSNEnv names the PostgreSQL server the tests make their
// databases on; scripts/test starts a throwaway one and sets it.
const PostgresDSNEnv = "LANYARD_TEST_POSTGRES_DSN"

// PostgresDatabase creates an empty database on the server named by
// LANYARD_TEST_POSTGRES_DSN and returns a DSN for it. The database is
// dropped when the test ends (after its servers have stopped).
func PostgresDatabase(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PostgresDSNEnv)
	if base == "" {
		t.Fatalf("%s is not set: PostgreSQL tests need a server. Run scripts/test, which starts a throwaway PostgreSQL, "+
			"or set %s=postgres://user@host:port/postgres?sslmode=disable", PostgresDSNEnv, PostgresDSNEnv)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s is not a URL: %v", PostgresDSNEnv, err)
	}

	var raw [6]byte
	if _, err := rand.Read(raw[:]); err != nil {
		t.Fatal(err)
	}
	name := "lanyard_" + hex.EncodeToString(raw[:])

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connecting to %s: %v", PostgresDSNEnv, err)
	}
	defer conn.Close(context.Background())
	// name is generated above, never user input, so quoting it is enough.
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("creating database %s: %v", name, err)
	}

	// Registered before any server's cleanup, so it runs after them.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Logf("dropping database %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Logf("dropping database %s: %v", name, err)
		}
	})

	u.Path = "/" + name
	return u.String()
}
