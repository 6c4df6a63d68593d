package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

//go:embed migrations
var migrationFiles embed.FS

// Migration is one versioned schema change.
type Migration struct {
	Version string // file name without extension, e.g. "0001_identities"
	Applied bool
}

// migrationLock is an arbitrary key for PostgreSQL's advisory lock, so that
// servers started together do not migrate at the same time.
const migrationLock = 7104310423

func (s *Store) migrations() ([]string, error) {
	dir := path.Join("migrations", string(s.dialect))
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".sql") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// Migrate applies every migration not applied yet, all in one transaction:
// a failure leaves the database as it was. Running it again is a no-op.
func (s *Store) Migrate(ctx context.Context) (applied []string, err error) {
	names, err := s.migrations()
	if err != nil {
		return nil, err
	}
	err = s.Write(ctx, func(q *Q) error {
		if s.dialect == Postgres {
			if _, err := q.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLock); err != nil {
				return err
			}
		}
		done, err := appliedVersions(ctx, q, true)
		if err != nil {
			return err
		}
		for _, name := range names {
			version := strings.TrimSuffix(name, ".sql")
			if done[version] {
				continue
			}
			body, err := migrationFiles.ReadFile(path.Join("migrations", string(s.dialect), name))
			if err != nil {
				return err
			}
			if _, err := q.Exec(ctx, string(body)); err != nil {
				return fmt.Errorf("migration %s: %w", version, err)
			}
			if _, err := q.Exec(ctx, "INSERT INTO lanyard_migrations (version, applied_at) VALUES ($1, $2)", version, Now()); err != nil {
				return err
			}
			applied = append(applied, version)
		}
		return nil
	})
	return applied, err
}

// MigrationStatus lists every known migration and whether it was applied.
func (s *Store) MigrationStatus(ctx context.Context) ([]Migration, error) {
	names, err := s.migrations()
	if err != nil {
		return nil, err
	}
	done, err := appliedVersions(ctx, s.Read(), false)
	if err != nil {
		return nil, err
	}
	out := make([]Migration, 0, len(names))
	for _, name := range names {
		v := strings.TrimSuffix(name, ".sql")
		out = append(out, Migration{Version: v, Applied: done[v]})
	}
	return out, nil
}

// Pending reports whether migrations remain to be applied.
func (s *Store) Pending(ctx context.Context) (bool, error) {
	status, err := s.MigrationStatus(ctx)
	if err != nil {
		return false, err
	}
	for _, m := range status {
		if !m.Applied {
			return true, nil
		}
	}
	return false, nil
}

func appliedVersions(ctx context.Context, q *Q, create bool) (map[string]bool, error) {
	if create {
		timeType := "TEXT"
		if q.dialect == Postgres {
			timeType = "TIMESTAMPTZ"
		}
		if _, err := q.Exec(ctx, "CREATE TABLE IF NOT EXISTS lanyard_migrations (version TEXT PRIMARY KEY, applied_at "+timeType+" NOT NULL)"); err != nil {
			return nil, err
		}
	} else if exists, err := tableExists(ctx, q, "lanyard_migrations"); err != nil || !exists {
		return map[string]bool{}, err
	}
	rows, err := q.Query(ctx, "SELECT version FROM lanyard_migrations")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	done := map[string]bool{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		done[v] = true
	}
	return done, rows.Err()
}

func tableExists(ctx context.Context, q *Q, name string) (bool, error) {
	var n int
	var err error
	if q.dialect == Postgres {
		err = q.QueryRow(ctx, "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1", name).Scan(&n)
	} else {
		err = q.QueryRow(ctx, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $1", name).Scan(&n)
	}
	return n > 0, err
}
