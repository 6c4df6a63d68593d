package store_test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

// migrateBefore applies the migrations older than version by hand and
// records them, so that Migrate then applies version (and later ones) to
// a database holding data.
func migrateBefore(t *testing.T, s *store.Store, version string) {
	t.Helper()
	dir := filepath.Join("migrations", string(s.Dialect()))
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".sql") && strings.TrimSuffix(e.Name(), ".sql") < version {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	timeType := "TEXT"
	if s.Dialect() == store.Postgres {
		timeType = "TIMESTAMPTZ"
	}
	err = s.Write(ctx, func(q *store.Q) error {
		if _, err := q.Exec(ctx, "CREATE TABLE lanyard_migrations (version TEXT PRIMARY KEY, applied_at "+timeType+" NOT NULL)"); err != nil {
			return err
		}
		for _, name := range names {
			body, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				return err
			}
			if _, err := q.Exec(ctx, string(body)); err != nil {
				return err
			}
			if _, err := q.Exec(ctx, "INSERT INTO lanyard_migrations (version, applied_at) VALUES ($1, $2)", strings.TrimSuffix(name, ".sql"), store.Now()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

type codeRow struct {
	id, purpose, method, flowID, via, value, hash string
	identityID                                    *string
	attempts                                      int
	expires                                       time.Time
	used                                          *time.Time
}

func insertCodeRow(q *store.Q, c codeRow) error {
	_, err := q.Exec(ctx, `INSERT INTO selfservice_codes (id, purpose, method, flow_id, identity_id, address_via, address_value, code_hash, attempts, expires_at, used_at, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		c.id, c.purpose, c.method, c.flowID, c.identityID, c.via, c.value, c.hash, c.attempts, c.expires, c.used, c.expires.Add(-time.Hour))
	return err
}

// Migration 0007 lets login and registration codes in, keeping the codes
// stored before it, the table's indexes and its foreign keys.
func TestMigrationLoginCodes(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			s := storetest.OpenEmpty(t, d)
			migrateBefore(t, s, "0007")

			identityID := uuid.NewString()
			flowID := uuid.NewString()
			now := store.Now()
			used := now.Add(-time.Minute)
			before := []codeRow{
				{id: uuid.NewString(), purpose: "recovery", method: "code", flowID: flowID, identityID: &identityID, via: "email", value: "a@example.org", hash: "h1", attempts: 3, expires: now.Add(time.Hour)},
				{id: uuid.NewString(), purpose: "verification", method: "link", flowID: flowID, via: "sms", value: "+4915112345678", hash: "h2", expires: now.Add(2 * time.Hour), used: &used},
			}
			err := s.Write(ctx, func(q *store.Q) error {
				if _, err := q.Exec(ctx, `INSERT INTO identities (id, schema_id, state, traits, created_at, updated_at) VALUES ($1, 'default', 'active', '{}', $2, $2)`, identityID, now); err != nil {
					return err
				}
				if _, err := q.Exec(ctx, `INSERT INTO selfservice_flows (id, kind, type, state, request_url, issued_at, expires_at, ui, created_at, updated_at)
VALUES ($1, 'login', 'api', 'choose_method', 'http://x/', $2, $2, '{}', $2, $2)`, flowID, now); err != nil {
					return err
				}
				for _, c := range before {
					if err := insertCodeRow(q, c); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}

			applied, err := s.Migrate(ctx)
			if err != nil {
				t.Fatalf("migrating over stored codes: %v", err)
			}
			if len(applied) == 0 || !strings.HasPrefix(applied[0], "0007_") {
				t.Fatalf("applied %v; want 0007 first", applied)
			}

			for _, want := range before {
				var got codeRow
				var identity *string
				var expires store.Time
				var usedAt store.NullTime
				err := s.Read().QueryRow(ctx, `SELECT purpose, method, flow_id, identity_id, address_via, address_value, code_hash, attempts, expires_at, used_at
FROM selfservice_codes WHERE id = $1`, want.id).Scan(&got.purpose, &got.method, &got.flowID, &identity, &got.via, &got.value, &got.hash, &got.attempts, &expires, &usedAt)
				if err != nil {
					t.Fatalf("code %s after the migration: %v", want.id, err)
				}
				if got.purpose != want.purpose || got.method != want.method || got.flowID != want.flowID || got.via != want.via ||
					got.value != want.value || got.hash != want.hash || got.attempts != want.attempts || !expires.Equal(want.expires) ||
					(identity == nil) != (want.identityID == nil) || (usedAt.Ptr() == nil) != (want.used == nil) {
					t.Errorf("code %s changed by the migration: %+v (identity %v, used %v); want %+v", want.id, got, identity, usedAt.Ptr(), want)
				}
			}

			// The new purposes go in; a registration code has no identity.
			err = s.Write(ctx, func(q *store.Q) error {
				if err := insertCodeRow(q, codeRow{id: uuid.NewString(), purpose: "login", method: "code", flowID: flowID, identityID: &identityID, via: "email", value: "a@example.org", hash: "h3", expires: now.Add(time.Hour)}); err != nil {
					return err
				}
				return insertCodeRow(q, codeRow{id: uuid.NewString(), purpose: "registration", method: "code", flowID: flowID, via: "email", value: "new@example.org", hash: "h4", expires: now.Add(time.Hour)})
			})
			if err != nil {
				t.Fatalf("login and registration codes: %v", err)
			}
			// Anything else still does not.
			err = s.Write(ctx, func(q *store.Q) error {
				return insertCodeRow(q, codeRow{id: uuid.NewString(), purpose: "settings", method: "code", flowID: flowID, via: "email", value: "x@example.org", hash: "h5", expires: now})
			})
			if err == nil {
				t.Error("a code of an unknown purpose was stored")
			}
			// The unique index of link tokens is back.
			err = s.Write(ctx, func(q *store.Q) error {
				return insertCodeRow(q, codeRow{id: uuid.NewString(), purpose: "recovery", method: "link", flowID: flowID, via: "email", value: "x@example.org", hash: "h2", expires: now})
			})
			if !store.IsUniqueViolation(err) {
				t.Errorf("a second link token with a stored hash: %v; want a unique violation", err)
			}
			// So are the foreign keys: deleting the identity takes its
			// codes, deleting the flow all the others.
			countCodes := func() int {
				var n int
				if err := s.Read().QueryRow(ctx, `SELECT count(*) FROM selfservice_codes`).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			if n := countCodes(); n != 4 {
				t.Fatalf("%d codes stored; want 4", n)
			}
			if err := s.Write(ctx, func(q *store.Q) error {
				_, err := q.Exec(ctx, `DELETE FROM identities WHERE id = $1`, identityID)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if n := countCodes(); n != 2 {
				t.Errorf("%d codes after deleting their identity; want the 2 without one", n)
			}
			if err := s.Write(ctx, func(q *store.Q) error {
				_, err := q.Exec(ctx, `DELETE FROM selfservice_flows WHERE id = $1`, flowID)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if n := countCodes(); n != 0 {
				t.Errorf("%d codes after deleting their flow; want none", n)
			}
			err = s.Write(ctx, func(q *store.Q) error {
				return insertCodeRow(q, codeRow{id: uuid.NewString(), purpose: "login", method: "code", flowID: uuid.NewString(), via: "email", value: "x@example.org", hash: "h6", expires: now})
			})
			if err == nil {
				t.Error("a code of a flow that does not exist was stored")
			}
		})
	}
}
