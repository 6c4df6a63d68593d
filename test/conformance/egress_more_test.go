package conformance

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lanyard-id/lanyard/test/testserver"
)

// clients.http.disallow_private_ip_ranges for the last outgoing clients:
// remote identity schemas and the breached-password range API.

const remoteSchema = `{
  "$id": "https://example.com/remote.schema.json",
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "properties": {
    "traits": {
      "type": "object",
      "properties": {
        "email": {
          "type": "string", "format": "email",
          "ory.sh/kratos": {"credentials": {"password": {"identifier": true}}}
        }
      },
      "required": ["email"]
    }
  }
}`

// schemaHost serves remoteSchema over http:// on 127.0.0.1, counting the
// requests it answers.
func schemaHost(t *testing.T) (schemaURL string, fetched *atomic.Int32) {
	t.Helper()
	fetched = &atomic.Int32{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetched.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, remoteSchema)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/remote.schema.json", fetched
}

func TestEgressMore_RemoteSchemaFollowsThePrivateIPRule(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		schemaURL, fetched := schemaHost(t)
		schemas := []any{map[string]any{"id": "remote", "url": schemaURL}}

		// The rule on and no exception: the schema cannot be fetched, so
		// the server does not start, naming the schema and the rule.
		dir := t.TempDir()
		dsn := "sqlite://" + filepath.Join(dir, "db.sqlite") + "?_fk=true"
		if store == storePostgres {
			dsn = newPostgresDatabase(t)
		}
		cfg := testserver.BaseConfig(dsn, testserver.FreePort(t), testserver.FreePort(t))
		testserver.SetPath(cfg, "identity.default_schema_id", "remote")
		testserver.SetPath(cfg, "identity.schemas", schemas)
		testserver.SetPath(cfg, "clients.http.disallow_private_ip_ranges", true)
		path := filepath.Join(dir, "lanyard.yml")
		if err := os.WriteFile(path, testserver.RenderYAML(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		env := map[string]string{"DSN": dsn, "LANYARD_DATA_DIR": filepath.Join(dir, "data")}
		if res := runLanyard(t, dir, env, "migrate", "sql", "-e", "--yes", "-c", path); res.Code != 0 {
			t.Fatalf("migrate: exit %d\n%s", res.Code, res.Stderr)
		}
		res := runLanyard(t, dir, env, "serve", "-c", path)
		if res.Code == 0 || !strings.Contains(res.Stderr, `identity schema "remote"`) || !strings.Contains(res.Stderr, "disallow_private_ip_ranges") {
			t.Errorf("serve with a schema on 127.0.0.1 and the rule on: exit %d; stderr:\n%s", res.Code, res.Stderr)
		}
		if n := fetched.Load(); n != 0 {
			t.Errorf("the refused schema server was asked %d times", n)
		}

		// The schema's URL as an exception: it loads and is served.
		s := startServer(t, serverSpec{store: store, set: map[string]any{
			"identity.default_schema_id":              "remote",
			"identity.schemas":                        schemas,
			"clients.http.disallow_private_ip_ranges": true,
			"clients.http.private_ip_exception_urls":  []any{schemaURL},
		}})
		got := sendRequest(t, plain(s), http.MethodGet, s.PublicURL+"/schemas/remote", nil, nil)
		if got.status != http.StatusOK || !strings.Contains(string(got.body), "https://example.com/remote.schema.json") {
			t.Errorf("GET /schemas/remote: %d %s", got.status, got.body)
		}
		if fetched.Load() == 0 {
			t.Error("the excepted schema server was never asked")
		}
	})
}

// With the rule on, a range API on 127.0.0.1 cannot be reached: as with
// any unreachable API, ignore_network_errors true lets the password
// through unchecked and false refuses it with a 502. An exception for the
// API's URLs lets the check happen.
func TestEgressMore_BreachRangeFollowsThePrivateIPRule(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		pr := newPwnedRange(t, map[string]int{breachedPassword: 3})
		on := map[string]any{"clients.http.disallow_private_ip_ranges": true}

		ignored := breachServer(t, store, pr.URL, on) // ignore_network_errors defaults to true
		if res := registerWith(t, ignored, uniqueEmail("egress-breach-ignored"), breachedPassword); res.status != http.StatusOK {
			t.Errorf("a refused range API, errors ignored: %d %s, want 200", res.status, res.body)
		}

		strict := breachServer(t, store, pr.URL, map[string]any{
			"clients.http.disallow_private_ip_ranges":                   true,
			"selfservice.methods.password.config.ignore_network_errors": false,
		})
		requireGatewayError(t, registerWith(t, strict, uniqueEmail("egress-breach-strict"), testPassword), "a refused range API, errors not ignored")
		strict.requireCount(t, 0, "a registration whose password could not be checked")

		if seen := pr.seen(); len(seen) != 0 {
			t.Errorf("the refused range API was asked %v", seen)
		}

		excepted := breachServer(t, store, pr.URL, map[string]any{
			"clients.http.disallow_private_ip_ranges": true,
			"clients.http.private_ip_exception_urls":  []any{pr.URL + "/range/*"},
		})
		requireBreached(t, registerWith(t, excepted, uniqueEmail("egress-breach-excepted"), breachedPassword), "registration", 3)
		requireNoSecretsLogged(t, ignored, breachedPassword)
	})
}
