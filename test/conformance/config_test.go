package conformance

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lanyard-id/lanyard/test/testserver"
)

func TestCLI_VersionPrintsVersion(t *testing.T) {
	t.Parallel()
	res := runLanyard(t, t.TempDir(), nil, "version")
	if res.Code != 0 {
		t.Fatalf("lanyard version exited %d: %s", res.Code, res.Stderr)
	}
	if strings.TrimSpace(res.Stdout+res.Stderr) == "" {
		t.Fatal("lanyard version printed nothing")
	}
}

func TestMigrate_IsIdempotentAndReadsDSNFromEnv(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		dir := t.TempDir()
		fileDB := filepath.Join(dir, "from-file.sqlite")
		envDSN := "sqlite://" + filepath.Join(dir, "from-env.sqlite") + "?_fk=true"
		if store == storePostgres {
			envDSN = newPostgresDatabase(t)
		}
		cfg := testserver.BaseConfig("sqlite://"+fileDB+"?_fk=true", 4433, 4434)
		path := filepath.Join(dir, "lanyard.yml")
		if err := os.WriteFile(path, testserver.RenderYAML(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		env := map[string]string{"DSN": envDSN, "LANYARD_DATA_DIR": filepath.Join(dir, "data")}
		for i := 1; i <= 2; i++ {
			res := runLanyard(t, dir, env, "migrate", "sql", "-e", "--yes", "-c", path)
			if res.Code != 0 {
				t.Fatalf("migrate run %d exited %d:\n%s%s", i, res.Code, res.Stdout, res.Stderr)
			}
		}
		if _, err := os.Stat(fileDB); err == nil {
			t.Errorf("migrate -e used the config file's dsn instead of $DSN")
		}
		if store == storeSQLite {
			if _, err := os.Stat(filepath.Join(dir, "from-env.sqlite")); err != nil {
				t.Errorf("migrate -e did not create the database named by $DSN: %v", err)
			}
		}
	})
}

// startFailing starts `lanyard serve` with a config that must be refused,
// and returns its stderr once it has exited with a non-zero code.
func startFailing(t *testing.T, set map[string]any) string {
	t.Helper()
	dir := t.TempDir()
	cfg := testserver.BaseConfig("sqlite://"+filepath.Join(dir, "db.sqlite")+"?_fk=true", testserver.FreePort(t), testserver.FreePort(t))
	for k, v := range set {
		testserver.SetPath(cfg, k, v)
	}
	path := filepath.Join(dir, "lanyard.yml")
	if err := os.WriteFile(path, testserver.RenderYAML(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, "serve", "-c", path)
	cmd.Dir = dir
	cmd.Env = testserver.CleanEnv(map[string]string{"LANYARD_DATA_DIR": filepath.Join(dir, "data")})
	var out testserver.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("lanyard serve kept running with an invalid config %v; output:\n%s", set, out.String())
	}
	if err == nil {
		t.Fatalf("lanyard serve exited 0 with an invalid config %v; output:\n%s", set, out.String())
	}
	return out.String()
}

func TestConfig_InvalidValuesFailNamingTheKey(t *testing.T) {
	t.Parallel()
	cases := map[string]any{
		"serve.public.port": 70000,
		"log.level":         "loud",
		"hashers.algorithm": "rot13",
	}
	for key, value := range cases {
		t.Run(key, func(t *testing.T) {
			t.Parallel()
			stderr := startFailing(t, map[string]any{key: value})
			if !strings.Contains(stderr, key) {
				t.Errorf("the error does not name %s:\n%s", key, stderr)
			}
		})
	}
}

func TestConfig_UnsupportedKeyWarnsAndStarts(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverSpec{set: map[string]any{"tracing.provider": "jaeger"}})
	if !strings.Contains(s.Stderr(), "tracing.provider") {
		t.Errorf("no warning naming tracing.provider; stderr:\n%s", s.Stderr())
	}
}

func TestConfig_EnvironmentOverridesFile(t *testing.T) {
	t.Parallel()
	port := testserver.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	s := startServer(t, serverSpec{env: map[string]string{
		"SERVE_PUBLIC_PORT":     strconv.Itoa(port),
		"SERVE_PUBLIC_BASE_URL": base + "/",
	}})
	res := s.do(t, http.MethodGet, base+"/health/alive", nil, nil)
	if res.status != http.StatusOK {
		t.Fatalf("SERVE_PUBLIC_PORT=%d was not used: GET /health/alive: %d", port, res.status)
	}
	// The new public base URL shows up where the server builds public URLs.
	created := s.createIdentity(t, identityBody("env@example.org"))
	if !strings.HasPrefix(created.SchemaUrl, base+"/") {
		t.Errorf("schema_url = %q, want it under SERVE_PUBLIC_BASE_URL %s", created.SchemaUrl, base)
	}
}
