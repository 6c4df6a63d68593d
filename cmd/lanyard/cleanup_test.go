package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

func TestCleanupSQL(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := context.Background()
			dsn := storetest.DSN(t, d)

			// An unmigrated database is refused, not half cleaned.
			if _, _, err := runCLI(t, "", "cleanup", "sql", dsn); err == nil || !strings.Contains(err.Error(), "migrations") {
				t.Fatalf("an unmigrated database: %v", err)
			}

			db, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			now := store.Now()
			flow := func(expires time.Time) string {
				id := uuid.NewString()
				if err := db.Write(ctx, func(q *store.Q) error {
					_, err := q.Exec(ctx, `INSERT INTO selfservice_flows (id, kind, type, state, request_url, issued_at, expires_at, ui, created_at, updated_at)
VALUES ($1, 'login', 'browser', 'choose_method', 'http://x/', $2, $3, '{}', $2, $2)`, id, now.Add(-72*time.Hour), expires)
					return err
				}); err != nil {
					t.Fatal(err)
				}
				return id
			}
			for range 5 {
				flow(now.Add(-48 * time.Hour))
			}
			recent := flow(now.Add(-time.Hour))
			live := flow(now.Add(time.Hour))

			out, errOut, err := runCLI(t, "", "cleanup", "sql", dsn, "--keep-last", "24h", "-b", "2")
			if err != nil {
				t.Fatalf("%v\n%s", err, errOut)
			}
			if !strings.Contains(out, "selfservice_flows") || !strings.Contains(out, "5 rows deleted") {
				t.Errorf("output:\n%s", out)
			}
			var left []string
			rows, err := db.Read().Query(ctx, "SELECT CAST(id AS TEXT) FROM selfservice_flows ORDER BY expires_at")
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					t.Fatal(err)
				}
				left = append(left, id)
			}
			rows.Close()
			if len(left) != 2 || left[0] != recent || left[1] != live {
				t.Errorf("left %v, want the recent and the live flow", left)
			}

			// -e reads the DSN from the environment, as migrate sql does;
			// keep-last 0 takes the recently expired flow too.
			t.Setenv("DSN", dsn)
			out, errOut, err = runCLI(t, "", "cleanup", "sql", "-e", "--database.cleanup.batch_size", "1", "--database.cleanup.sleep.tables", "1ms")
			if err != nil || !strings.Contains(out, "1 rows deleted") {
				t.Errorf("cleanup sql -e: %v\n%s%s", err, out, errOut)
			}
			var n int
			if err := db.Read().QueryRow(ctx, "SELECT COUNT(*) FROM selfservice_flows").Scan(&n); err != nil || n != 1 {
				t.Errorf("%d flows left (%v), want the live one", n, err)
			}

			// The config's dsn, with -c.
			t.Setenv("DSN", "")
			cfgFile := filepath.Join(t.TempDir(), "lanyard.yml")
			if err := os.WriteFile(cfgFile, []byte("dsn: "+strconv.Quote(dsn)+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if out, errOut, err := runCLI(t, "", "cleanup", "sql", "-c", cfgFile); err != nil || !strings.Contains(out, "0 rows deleted") {
				t.Errorf("cleanup sql -c: %v\n%s%s", err, out, errOut)
			}
		})
	}
}

func TestCleanupSQL_RefusesBadFlags(t *testing.T) {
	t.Setenv("DSN", "")
	for _, args := range [][]string{
		{"cleanup", "sql", "memory", "--batch-size", "0"},
		{"cleanup", "sql", "memory", "--keep-last", "-1h"},
		{"cleanup", "sql", "memory", "--keep-last", "forever"},
		{"cleanup", "sql"},             // no DSN, no config
		{"cleanup", "sql", "-e=false"}, // no DSN argument
	} {
		if _, _, err := runCLI(t, "", args...); err == nil {
			t.Errorf("lanyard %v succeeded", args)
		}
	}
}
