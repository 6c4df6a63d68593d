package schema

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/lanyard-id/lanyard/internal/egress"
)

func TestLoadGuardedRefusesPrivateSchemaServer(t *testing.T) {
	const doc = `{"$id":"https://example.com/person","type":"object","properties":{"traits":{"type":"object","properties":{"email":{"type":"string"}}}}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(doc))
	}))
	t.Cleanup(srv.Close)
	sources := []Source{{ID: "person", URL: srv.URL + "/person.schema.json"}}
	ctx := context.Background()

	on, err := egress.New(true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadGuarded(ctx, sources, "", on); !errors.Is(err, egress.ErrPrivateAddress) {
		t.Errorf("a schema on 127.0.0.1 with the rule on: %v; want ErrPrivateAddress", err)
	}

	excepted, err := egress.New(true, []string{srv.URL + "/person.schema.json"})
	if err != nil {
		t.Fatal(err)
	}
	for name, load := range map[string]func() (*Registry, error){
		"exception": func() (*Registry, error) { return LoadGuarded(ctx, sources, "", excepted) },
		"rule off":  func() (*Registry, error) { return LoadGuarded(ctx, sources, "", nil) },
		"no guard":  func() (*Registry, error) { return Load(ctx, sources, "") },
	} {
		r, err := load()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if _, ok := r.Get("person"); !ok {
			t.Errorf("%s: the schema is not loaded", name)
		}
	}
}

// A $ref to a private address is refused too: the guard follows the load
// into the documents it references.
func TestLoadGuardedRefusesPrivateReference(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"type":"string"}`))
	}))
	t.Cleanup(srv.Close)
	root := `{"type":"object","properties":{"traits":{"type":"object","properties":{"email":{"$ref":"` + srv.URL + `/email.json"}}}}}`
	sources := []Source{{ID: "person", URL: b64(root)}}
	excepted, err := egress.New(true, []string{"http://example.com/*"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadGuarded(context.Background(), sources, "", excepted); err == nil {
		t.Error("a $ref on 127.0.0.1 with the rule on was loaded")
	}
	if _, err := Load(context.Background(), sources, ""); err != nil {
		t.Errorf("without the guard: %v", err)
	}
}
