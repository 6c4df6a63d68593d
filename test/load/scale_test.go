package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/lanyard-id/lanyard/internal/identity"
	"github.com/lanyard-id/lanyard/internal/identity/identitytest"
	"github.com/lanyard-id/lanyard/internal/session"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
	"github.com/lanyard-id/lanyard/internal/wire"
)

func TestSeededTokenIsStableAndDistinct(t *testing.T) {
	a, b := seededToken("s", 7), seededToken("s", 7)
	if a != b {
		t.Fatalf("token 7 differs between calls: %q, %q", a, b)
	}
	if !strings.HasPrefix(a, "ory_st_") || len(a) != len("ory_st_")+32 {
		t.Fatalf("token %q: want ory_st_ and 32 characters", a)
	}
	seen := map[string]bool{}
	for i := range 1000 {
		tok := seededToken("s", i)
		if seen[tok] {
			t.Fatalf("token %d repeats an earlier one", i)
		}
		seen[tok] = true
	}
	if seededToken("other", 7) == a {
		t.Fatal("another seed gave the same token")
	}
}

func TestSessionInsertPlaceholders(t *testing.T) {
	q := sessionInsert(3)
	if strings.Count(q, "(") != 4 { // the column list and three rows
		t.Fatalf("want three rows: %s", q)
	}
	if !strings.Contains(q, "($10, $11, $12, $13, $1,") || !strings.Contains(q, "($18, $19, $20, $21, $1,") {
		t.Fatalf("rows do not follow the nine shared parameters: %s", q)
	}
	if !strings.HasSuffix(q, "ON CONFLICT DO NOTHING") {
		t.Fatalf("a second seeding must not fail on existing tokens: %s", q)
	}
}

// The seeded sessions are the server's own: whoami's lookup finds them, and
// their logout token is the one the server derives.
func TestSeedSessionsAreFoundByTheServer(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ids, _ := identitytest.NewManager(t, s, "http://127.0.0.1:4433/")
		for i := range 3 {
			if _, err := ids.Create(ctx, identity.Draft{SchemaID: "default", Traits: json.RawMessage(fmt.Sprintf(`{"email":"user%d@example.org"}`, i))}); err != nil {
				t.Fatal(err)
			}
		}
		sessions, err := session.NewManager(s, ids, session.Config{Lifespan: time.Hour, Secrets: []string{"cookie-secret-0123456789"}})
		if err != nil {
			t.Fatal(err)
		}
		o := seedOptions{seed: "seed", n: 7, batch: 2, perTx: 2, lifespan: time.Hour, now: time.Now()}
		n, err := seedSessions(ctx, s, o)
		if err != nil || n != 7 {
			t.Fatalf("seeding: %d new, %v", n, err)
		}
		owners := map[uuid.UUID]int{}
		for i := range 7 {
			tok := seededToken("seed", i)
			got, err := sessions.ByToken(ctx, tok)
			if err != nil {
				t.Fatalf("session %d: %v", i, err)
			}
			owners[got.IdentityID]++
			if got.Identity == nil || !got.Active || got.AAL != "aal1" || len(got.Methods) != 1 || got.Methods[0].Method != "password" {
				t.Fatalf("session %d: %+v", i, got)
			}
			var stored string
			if err := s.Read().QueryRow(ctx, `SELECT logout_token_hash FROM sessions WHERE id = $1`, got.ID).Scan(&stored); err != nil {
				t.Fatal(err)
			}
			if stored != storedTokenHash(sessions.LogoutToken(tok)) {
				t.Fatalf("session %d: the stored logout token is not the server's", i)
			}
		}
		if len(owners) != 3 {
			t.Fatalf("sessions spread over %d identities, want all 3: %v", len(owners), owners)
		}
		if _, err := sessions.ByToken(ctx, seededToken("seed", 7)); err == nil {
			t.Fatal("token 7 was not seeded but is found")
		}

		o.n = 9
		if n, err := seedSessions(ctx, s, o); err != nil || n != 2 {
			t.Fatalf("seeding again to 9: %d new (want 2), %v", n, err)
		}
	})
}

// A turn's logins add sessions; pruning leaves exactly the seeded ones.
func TestPruneSessionsKeepsTheSeeded(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ids, _ := identitytest.NewManager(t, s, "http://127.0.0.1:4433/")
		id, err := ids.Create(ctx, identity.Draft{SchemaID: "default", Traits: json.RawMessage(`{"email":"user0@example.org"}`)})
		if err != nil {
			t.Fatal(err)
		}
		sessions, err := session.NewManager(s, ids, session.Config{Lifespan: time.Hour, Secrets: []string{"cookie-secret-0123456789"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := seedSessions(ctx, s, seedOptions{seed: "seed", n: 4, batch: 3, perTx: 1, lifespan: time.Hour, now: time.Now()}); err != nil {
			t.Fatal(err)
		}
		var logins []string
		for range 7 {
			err := s.Write(ctx, func(q *store.Q) error {
				got, err := sessions.Issue(ctx, q, id, "password", "aal1", httptest.NewRequest(http.MethodPost, "/self-service/login", nil))
				if err == nil {
					logins = append(logins, got.Token)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		deleted, err := pruneSessions(ctx, s, "seed", 4, 3)
		if err != nil || deleted != 7 {
			t.Fatalf("pruning: %d deleted (want 7), %v", deleted, err)
		}
		for i := range 4 {
			if _, err := sessions.ByToken(ctx, seededToken("seed", i)); err != nil {
				t.Fatalf("seeded session %d is gone: %v", i, err)
			}
		}
		for _, tok := range logins {
			if _, err := sessions.ByToken(ctx, tok); err == nil {
				t.Fatal("a login's session survived the pruning")
			}
		}
		if deleted, err := pruneSessions(ctx, s, "seed", 4, 3); err != nil || deleted != 0 {
			t.Fatalf("pruning again: %d deleted (want 0), %v", deleted, err)
		}
	})
}

func TestSeedSessionsNeedsIdentities(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	_, err := seedSessions(context.Background(), s, seedOptions{seed: "s", n: 1, batch: 1, perTx: 1, lifespan: time.Hour, now: time.Now()})
	if err == nil || !strings.Contains(err.Error(), "no identities") {
		t.Fatalf("want a clear error, got %v", err)
	}
}

func TestPageTokenIsTheServersFormat(t *testing.T) {
	id := uuid.New()
	r := httptest.NewRequest(http.MethodGet, "/admin/identities?page_size=5&page_token="+pageToken(id.String()), nil)
	p, err := wire.ParsePage(r)
	if err != nil {
		t.Fatal(err)
	}
	if p.After == nil || *p.After != id {
		t.Fatalf("the server reads %v, want %s", p.After, id)
	}

	w := httptest.NewRecorder()
	wire.SetLinkHeader(w, r, "http://127.0.0.1:4434/", 5, &id)
	if got := nextPageToken(w.Header().Get("Link")); got != pageToken(id.String()) {
		t.Fatalf("next token from %q: %q, want %q", w.Header().Get("Link"), got, pageToken(id.String()))
	}
	w = httptest.NewRecorder()
	wire.SetLinkHeader(w, r, "http://127.0.0.1:4434/", 5, nil)
	if got := nextPageToken(w.Header().Get("Link")); got != "" {
		t.Fatalf("the last page has no next link, got token %q", got)
	}
}

func TestPageURLKeepsTheSearch(t *testing.T) {
	kinds := pageKinds("name.last", "Scale", "user")
	if len(kinds) != 3 {
		t.Fatalf("want list, search and prefix: %v", kinds)
	}
	u, err := url.Parse(pageURL("http://127.0.0.1:4434/admin/identities", kinds[1], 100, "tok"))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get("trait") != "name.last" || q.Get("trait_value") != "Scale" || q.Get("page_size") != "100" || q.Get("page_token") != "tok" {
		t.Fatalf("query %v", q)
	}
	if got := pageKinds("", "", ""); len(got) != 1 || got[0].name != "list" {
		t.Fatalf("without searches only the list: %v", got)
	}
}

// The token the tool reads from the database starts page p where walking
// the server's pages does, for the list and both searches.
func TestTokenFromDBMatchesTheServersPages(t *testing.T) {
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ids, _ := identitytest.NewManager(t, s, "http://127.0.0.1:4433/")
		for i := range 23 {
			traits := fmt.Sprintf(`{"email":"user%d@example.org","name":{"last":"Scale"}}`, i)
			if i%4 == 0 { // some match neither search
				traits = fmt.Sprintf(`{"email":"other%d@example.org","name":{"last":"Else"}}`, i)
			}
			if _, err := ids.Create(ctx, identity.Draft{SchemaID: "default", Traits: json.RawMessage(traits), Password: ptr("a-long-enough-password-1")}); err != nil {
				t.Fatal(err)
			}
		}
		const size, page = 4, 3
		for _, k := range pageKinds("name.last", "SCALE", "USER") {
			o := identity.ListOptions{PageSize: size}
			switch k.name {
			case "search":
				o.Trait = &identity.TraitSearch{Path: "name.last", Value: "SCALE"}
			case "prefix":
				o.IdentifierPrefix = "USER"
			}
			for range page - 1 {
				got, more, err := ids.List(ctx, o)
				if err != nil || !more {
					t.Fatalf("%s: %v, more %v", k.name, err, more)
				}
				last := got[len(got)-1].ID
				o.After = &last
			}
			tok, err := tokenFromDB(ctx, s, k, page, size)
			if err != nil {
				t.Fatalf("%s: %v", k.name, err)
			}
			if want := pageToken(o.After.String()); tok != want {
				t.Fatalf("%s: token %q, want %q", k.name, tok, want)
			}
			if _, err := tokenFromDB(ctx, s, k, 100, size); err == nil || !strings.Contains(err.Error(), "does not exist") {
				t.Fatalf("%s: page 100 of 23 identities: %v", k.name, err)
			}
		}
	})
}

func ptr[T any](v T) *T { return &v }

func TestIdentifierFormat(t *testing.T) {
	for format, ok := range map[string]bool{"user%d@example.org": true, "user@example.org": false, "%s%d": false, "%d%d": false, "100%%-%d": false} {
		if validIdentifierFormat(format) != ok {
			t.Errorf("%q: valid %v, want %v", format, !ok, ok)
		}
	}
	if got := identifierOf("user%d@example.org", 42); got != "user42@example.org" {
		t.Fatal(got)
	}
}

func TestLikePatternEscapes(t *testing.T) {
	if got := likePattern(`a_b%c\`); got != `a\_b\%c\\%` {
		t.Fatal(got)
	}
}

func TestScaleScenarioUsage(t *testing.T) {
	for _, args := range [][]string{
		{"seed-sessions", "-n", "5"},
		{"seed-sessions", "-dsn", "sqlite:///tmp/x.db", "-tokens-seed", "s", "-n", "0"},
		{"seed-sessions", "-dsn", "memory", "-tokens-seed", "s", "-n", "5"},
		{"prune-sessions", "-dsn", "sqlite:///tmp/x.db", "-n", "5"},
		{"prune-sessions", "-dsn", "memory", "-tokens-seed", "s", "-n", "5"},
		{"whoami-many", "-public", "http://127.0.0.1:1", "-tokens-seed", "s"},
		{"login-many", "-public", "http://127.0.0.1:1", "-password", "p", "-users", "3", "-identifier-format", "x"},
		{"admin-pages", "-admin", "http://127.0.0.1:1", "-page", "1"},
		{"admin-pages", "-admin", "http://127.0.0.1:1", "-trait-value", "x"},
	} {
		var out, errOut strings.Builder
		if code := run(context.Background(), args, &out, &errOut); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (usage); %s", args, code, exitUsage, errOut.String())
		}
	}
}
