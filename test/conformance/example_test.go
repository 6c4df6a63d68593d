package conformance

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ory "github.com/ory/client-go"
)

// TestKratosExampleConfig_StartsUnchanged runs the documented Kratos
// quick start against Lanyard: the example kratos.yml (a copy of
// /work/shared/examples lives in testdata) is used byte for byte; only the
// environment moves the database and ports.
func TestKratosExampleConfig_StartsUnchanged(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		dir := t.TempDir()
		for _, name := range []string{"kratos.yml", "identity.schema.json"} {
			data, err := os.ReadFile(filepath.Join("testdata", "kratos-example", name))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		spec := serverSpec{
			store:      store,
			configFile: filepath.Join(dir, "kratos.yml"),
			workDir:    dir,
			args:       []string{"--dev", "--watch-courier"},
		}
		if store == storeSQLite {
			spec.dsn = "sqlite://" + filepath.Join(dir, "k.sqlite") + "?_fk=true"
		}
		s := startServer(t, spec)

		body := ory.CreateIdentityBody{
			SchemaId: "default",
			Traits: map[string]any{
				"email": "ada@example.org",
				"name":  map[string]any{"first": "Ada", "last": "Lovelace"},
			},
		}
		created := s.createIdentity(t, withPassword(body, testPassword))
		got := s.getIdentity(t, created.Id)
		if !sameJSON(got.Traits, body.Traits) {
			t.Errorf("traits = %s, want %s", asJSON(got.Traits), asJSON(body.Traits))
		}
		if len(got.VerifiableAddresses) != 1 || got.VerifiableAddresses[0].Via != "email" {
			t.Errorf("verifiable_addresses = %s, want one via email", asJSON(got.VerifiableAddresses))
		}

		schema, res, err := s.Public.IdentityAPI.GetIdentitySchema(context.Background(), "default").Execute()
		requireOK(t, res, err, http.StatusOK)
		if schema["title"] != "Person" {
			t.Errorf("schema default has title %v, want the example's Person", schema["title"])
		}

		// The example schema rejects unknown traits like Kratos does.
		bad := ory.CreateIdentityBody{SchemaId: "default", Traits: map[string]any{"email": "x@example.org", "age": 3}}
		status, errBody := createFailure(t, s, bad)
		e := requireError(t, status, errBody, http.StatusBadRequest)
		if !strings.Contains(e.Error.Reason, "age") {
			t.Errorf("error.reason %q does not name the field age", e.Error.Reason)
		}
	})
}
