package identity

import (
	"fmt"
	"strings"
	"testing"

	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

// planRows is how many identities the plan tests store: enough that a
// scan of identities costs the planner far more than the indexes.
const planRows = 20000

// fillForPlans stores planRows identities with an email trait (userN@
// example.org, mixed case in the document), its password identifier and its
// search rows, in a few statements, and refreshes the planner's statistics.
func fillForPlans(t *testing.T, s *store.Store) {
	t.Helper()
	n := fmt.Sprint(planRows)
	var stmts []string
	switch s.Dialect() {
	case store.Postgres:
		stmts = []string{
			`INSERT INTO identities (id, schema_id, state, traits, created_at, updated_at)
			 SELECT gen_random_uuid(), 'default', 'active',
			        jsonb_build_object('email', 'User' || g || '@Example.org', 'name', jsonb_build_object('last', 'Last' || (g % 1000))),
			        now(), now()
			   FROM generate_series(1, ` + n + `) g`,
			`INSERT INTO identity_credentials (id, identity_id, type, config, created_at, updated_at)
			 SELECT gen_random_uuid(), id, 'password', '{}', now(), now() FROM identities`,
			`INSERT INTO identity_credential_identifiers (id, identity_id, credential_id, type, identifier, created_at, updated_at)
			 SELECT gen_random_uuid(), c.identity_id, c.id, 'password', lower(i.traits->>'email'), now(), now()
			   FROM identity_credentials c JOIN identities i ON i.id = c.identity_id`,
			`INSERT INTO identity_trait_search (identity_id, path, value_lower)
			 SELECT id, 'email', lower(traits->>'email') FROM identities
			 UNION ALL SELECT id, 'name.last', lower(traits#>>'{name,last}') FROM identities`,
			`ANALYZE`,
		}
	case store.SQLite:
		ids := `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < ` + n + `) `
		stmts = []string{
			ids + `INSERT INTO identities (id, schema_id, state, traits, created_at, updated_at)
			 SELECT printf('%08x-0000-4000-8000-%012x', (n * 2654435761) % 4294967296, n), 'default', 'active',
			        json_object('email', 'User' || n || '@Example.org', 'name', json_object('last', 'Last' || (n % 1000))),
			        '2025-01-01T00:00:00.000000Z', '2025-01-01T00:00:00.000000Z'
			   FROM g`,
			`INSERT INTO identity_credentials (id, identity_id, type, config, created_at, updated_at)
			 SELECT 'c' || id, id, 'password', '{}', created_at, created_at FROM identities`,
			`INSERT INTO identity_credential_identifiers (id, identity_id, credential_id, type, identifier, created_at, updated_at)
			 SELECT 'x' || i.id, i.id, 'c' || i.id, 'password', lower(json_extract(i.traits, '$.email')), i.created_at, i.created_at
			   FROM identities i`,
			`INSERT INTO identity_trait_search (identity_id, path, value_lower)
			 SELECT id, 'email', lower(json_extract(traits, '$.email')) FROM identities
			 UNION ALL SELECT id, 'name.last', lower(json_extract(traits, '$.name.last')) FROM identities`,
			`ANALYZE`,
		}
	}
	err := s.Write(ctx, func(q *store.Q) error {
		for _, stmt := range stmts {
			if _, err := q.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("%s: %w", stmt, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// queryPlan answers the plan of the list query for p, one line per node.
func queryPlan(t *testing.T, s *store.Store, p listParams) string {
	t.Helper()
	q := s.Read()
	query, args := listQuery(q, p)
	explain := "EXPLAIN "
	if s.Dialect() == store.SQLite {
		explain = "EXPLAIN QUERY PLAN "
	}
	rows, err := q.Query(ctx, explain+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var lines []string
	for rows.Next() {
		dest := make([]any, len(cols))
		vals := make([]any, len(cols))
		for k := range dest {
			dest[k] = &vals[k]
		}
		if err := rows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		line, _ := vals[len(vals)-1].(string)
		if b, ok := vals[len(vals)-1].([]byte); ok {
			line = string(b)
		}
		lines = append(lines, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

func TestSearchQueryPlansUseIndexes(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		fillForPlans(t, s)
		cases := map[string]listParams{
			"trait email":            {Limit: 251, Trait: &TraitSearch{Path: "email", Value: "USER12345@example.org"}},
			"trait name.last":        {Limit: 251, Trait: &TraitSearch{Path: "name.last", Value: "last77"}},
			"identifier prefix":      {Limit: 251, IdentifierPrefix: "User1234"},
			"both, next page":        {Limit: 251, After: ptr(mustUUID(t, "00000000-0000-4000-8000-000000000000")), Trait: &TraitSearch{Path: "name.last", Value: "last77"}, IdentifierPrefix: "user1"},
			"trait, far page":        {Limit: 101, After: ptr(mustUUID(t, "f0000000-0000-4000-8000-000000000000")), Trait: &TraitSearch{Path: "name.last", Value: "last77"}},
			"dense prefix, far page": {Limit: 101, After: ptr(mustUUID(t, "f0000000-0000-4000-8000-000000000000")), IdentifierPrefix: "user", DensePrefix: true},
		}
		for name, p := range cases {
			plan := queryPlan(t, s, p)
			t.Logf("%s:\n%s", name, plan)
			switch s.Dialect() {
			case store.Postgres:
				if strings.Contains(plan, "Seq Scan") || !strings.Contains(plan, "Index") {
					t.Errorf("%s: the plan scans a table instead of using indexes:\n%s", name, plan)
				}
			case store.SQLite:
				for _, line := range strings.Split(plan, "\n") {
					if strings.HasPrefix(line, "SCAN ") {
						t.Errorf("%s: the plan scans a table (%q):\n%s", name, line, plan)
					}
				}
				if !strings.Contains(plan, "SEARCH ") || !strings.Contains(plan, "INDEX") {
					t.Errorf("%s: the plan does not search an index:\n%s", name, plan)
				}
			}
		}
	})
}
