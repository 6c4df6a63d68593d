package identity

import (
	"encoding/json"
	"net/url"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

func TestTraitRows(t *testing.T) {
	got := traitRows(json.RawMessage(`{"email":"Ada@Example.org","name":{"last":"Lovelace","first":"ADA"},
		"tags":["X","x",{"k":"V"}],"age":36,"ok":true,"bad key":"v","long":"` + strings.Repeat("a", maxSearchValue+1) + `"}`))
	want := []traitRow{{"email", "ada@example.org"}, {"name.first", "ada"}, {"name.last", "lovelace"}, {"tags", "x"}, {"tags.k", "v"}}
	if len(got) != len(want) {
		t.Fatalf("traitRows = %v; want %v", got, want)
	}
	for k := range want {
		if got[k] != want[k] {
			t.Errorf("row %d = %v; want %v", k, got[k], want[k])
		}
	}
	if rows := traitRows(json.RawMessage(`"not an object"`)); rows != nil {
		t.Errorf("traitRows of a string = %v; want none", rows)
	}

	many := map[string]any{}
	for k := 0; k < 2*maxSearchRows; k++ {
		many["k"+string(rune('a'+k%26))+strings.Repeat("x", k/26)] = "v"
	}
	raw, _ := json.Marshal(many)
	if n := len(traitRows(raw)); n != maxSearchRows {
		t.Errorf("traitRows of %d strings = %d rows; want the cap %d", len(many), n, maxSearchRows)
	}
}

func TestPrefixRange(t *testing.T) {
	for _, c := range []struct {
		in, high string
		hasHigh  bool
	}{
		{"ada", "adb", true},
		{"ad\U0010FFFF", "ae", true},
		{"\U0010FFFF", "", false},
		{"a\uD7FF", "a\uE000", true},
		{"é", "ê", true},
	} {
		low, high, ok := prefixRange(c.in)
		if low != c.in || high != c.high || ok != c.hasHigh {
			t.Errorf("prefixRange(%q) = %q, %q, %v; want %q, %q, %v", c.in, low, high, ok, c.in, c.high, c.hasHigh)
		}
		if ok && !utf8.ValidString(high) {
			t.Errorf("prefixRange(%q): high bound %q is not UTF-8", c.in, high)
		}
	}
	if got := likePrefix(`a_b%c\`); got != `a\_b\%c\\%` {
		t.Errorf("likePrefix = %q", got)
	}
}

func TestSearchOptionsRejectBadInput(t *testing.T) {
	long := strings.Repeat("a", 257)
	for _, raw := range []string{
		"trait=", "trait=" + long, "trait=na%20me&trait_value=x", "trait=email;drop&trait_value=x", "trait=%C3%A9&trait_value=x",
		"trait=email", "trait_value=x", "trait=email&trait_value=" + long,
		"identifier_prefix=", "identifier_prefix=" + long, "identifier_prefix=%FF",
	} {
		q, _ := url.ParseQuery(raw)
		var o ListOptions
		if err := searchOptions(q, &o); code(err) != 400 {
			t.Errorf("%s: %v; want a 400", raw, err)
		}
	}
	for _, raw := range []string{
		"", "trait=email&trait_value=", "trait=name.last&trait_value=Lovelace", "trait=a-b_C.9&trait_value=x",
		"identifier_prefix=a", "identifier_prefix=" + long[:256], "trait=" + long[:256] + "&trait_value=" + long[:256],
	} {
		q, _ := url.ParseQuery(raw)
		var o ListOptions
		if err := searchOptions(q, &o); err != nil {
			t.Errorf("%s: %v; want it accepted", raw, err)
		}
	}
}

// searchIDs lists every identity matching o, page by page, in id order.
func searchIDs(t *testing.T, m *Manager, o ListOptions) []string {
	t.Helper()
	var out []string
	for pages := 0; ; pages++ {
		page, more, err := m.List(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range page {
			out = append(out, i.ID.String())
		}
		if !more || pages > 100 {
			return out
		}
		o.After = &page[len(page)-1].ID
	}
}

func TestListSearch(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		m := newManager(t, s)
		named := func(email, last string) *Identity {
			return mustCreate(t, m, Draft{
				Traits:   json.RawMessage(`{"email":"` + email + `","name":{"first":"Ada","last":"` + last + `"}}`),
				Password: ptr("a-long-enough-passphrase"),
			})
		}
		ada := named("Ada@Example.org", "Lovelace")
		lovelaces := []string{ada.ID.String()}
		var adab string
		for k := 0; k < 4; k++ {
			i := named("ada"+string(rune('a'+k))+"@example.net", "LOVELACE")
			lovelaces = append(lovelaces, i.ID.String())
			if k == 1 {
				adab = i.ID.String()
			}
		}
		other := named("grace@example.org", "Hopper")
		sort.Strings(lovelaces)

		if got := searchIDs(t, m, ListOptions{PageSize: 10, Trait: &TraitSearch{"email", "ADA@example.ORG"}}); len(got) != 1 || got[0] != ada.ID.String() {
			t.Errorf("trait email = %v; want Ada alone", got)
		}
		for _, size := range []int{1, 2, 5, 10} {
			got := searchIDs(t, m, ListOptions{PageSize: size, Trait: &TraitSearch{"name.last", "lovelace"}})
			if strings.Join(got, ",") != strings.Join(lovelaces, ",") {
				t.Errorf("size %d: trait name.last = %v; want %v", size, got, lovelaces)
			}
		}
		if got := searchIDs(t, m, ListOptions{PageSize: 10, Trait: &TraitSearch{"name.last", "lovelac"}}); len(got) != 0 {
			t.Errorf("trait value is equality, yet a part matched %v", got)
		}
		if got := searchIDs(t, m, ListOptions{PageSize: 10, Trait: &TraitSearch{"name", "lovelace"}}); len(got) != 0 {
			t.Errorf("trait name (an object) matched %v", got)
		}

		got := searchIDs(t, m, ListOptions{PageSize: 2, IdentifierPrefix: "ADA"})
		if strings.Join(got, ",") != strings.Join(lovelaces, ",") {
			t.Errorf("identifier_prefix ADA = %v; want %v", got, lovelaces)
		}
		if got := searchIDs(t, m, ListOptions{PageSize: 10, IdentifierPrefix: "ada@example.o"}); len(got) != 1 || got[0] != ada.ID.String() {
			t.Errorf("identifier_prefix ada@example.o = %v; want Ada", got)
		}
		if got := searchIDs(t, m, ListOptions{PageSize: 10, IdentifierPrefix: "%"}); len(got) != 0 {
			t.Errorf("identifier_prefix %% is no wildcard, yet matched %v", got)
		}
		if got := searchIDs(t, m, ListOptions{PageSize: 10, IdentifierPrefix: "ada", Identifier: "adab@example.net", Trait: &TraitSearch{"name.last", "lovelace"}}); len(got) != 1 || got[0] != adab {
			t.Errorf("combined filters = %v; want the one identity", got)
		}

		// A change of traits moves the search rows with it, in its
		// transaction; deleting the identity removes them.
		if _, err := m.Replace(ctx, other.ID, Draft{State: StateActive, Traits: json.RawMessage(`{"email":"grace@example.org","name":{"last":"Murray Hopper"}}`)}); err != nil {
			t.Fatal(err)
		}
		if got := searchIDs(t, m, ListOptions{PageSize: 10, Trait: &TraitSearch{"name.last", "hopper"}}); len(got) != 0 {
			t.Errorf("old trait value still found: %v", got)
		}
		if got := searchIDs(t, m, ListOptions{PageSize: 10, Trait: &TraitSearch{"name.last", "MURRAY hopper"}}); len(got) != 1 || got[0] != other.ID.String() {
			t.Errorf("new trait value = %v; want Grace", got)
		}
		if err := m.Delete(ctx, other.ID); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := s.Read().QueryRow(ctx, `SELECT count(*) FROM identity_trait_search WHERE identity_id = $1`, other.ID).Scan(&n); err != nil || n != 0 {
			t.Errorf("search rows after delete: %d, %v", n, err)
		}

		// Letters beyond ASCII fold too, on both stores: the rows are
		// lower-cased by Lanyard, not by the database.
		ode := named("ODE@example.org", "ÆSIR")
		if got := searchIDs(t, m, ListOptions{PageSize: 10, Trait: &TraitSearch{"name.last", "æsir"}}); len(got) != 1 || got[0] != ode.ID.String() {
			t.Errorf("non-ASCII trait = %v; want the one identity", got)
		}
		if got := searchIDs(t, m, ListOptions{PageSize: 10, IdentifierPrefix: "Ode@"}); len(got) != 1 || got[0] != ode.ID.String() {
			t.Errorf("prefix = %v; want the one identity", got)
		}

		// Bad input is refused by the manager as well as the handler.
		if _, _, err := m.List(ctx, ListOptions{PageSize: 1, Trait: &TraitSearch{"a b", "x"}}); code(err) != 400 {
			t.Errorf("bad path: %v; want a 400", err)
		}
		if _, _, err := m.List(ctx, ListOptions{PageSize: 1, IdentifierPrefix: strings.Repeat("a", 257)}); code(err) != 400 {
			t.Errorf("long prefix: %v; want a 400", err)
		}
	})
}

// TestSearchMigrationBackfills stores identities the way a database
// migrated before 0009 holds them, then applies 0009: their traits are
// searchable.
func TestSearchMigrationBackfills(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		m := newManager(t, s)
		i := mustCreate(t, m, Draft{Traits: json.RawMessage(`{"email":"Ada@Example.org","name":{"last":"Lovelace"}}`)})
		err := s.Write(ctx, func(q *store.Q) error {
			stmts := []string{`DELETE FROM identity_trait_search`, `DELETE FROM lanyard_migrations WHERE version = '0009_identity_search'`,
				`DROP TABLE identity_trait_search`}
			if s.Dialect() == store.Postgres {
				stmts = append(stmts, `DROP INDEX identity_credential_identifiers_prefix_idx`)
			}
			for _, stmt := range stmts {
				if _, err := q.Exec(ctx, stmt); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		for _, ts := range []TraitSearch{{"email", "ada@example.org"}, {"name.last", "LOVELACE"}} {
			if got := searchIDs(t, m, ListOptions{PageSize: 10, Trait: &ts}); len(got) != 1 || got[0] != i.ID.String() {
				t.Errorf("after the migration, %v = %v; want the identity", ts, got)
			}
		}
	})
}
