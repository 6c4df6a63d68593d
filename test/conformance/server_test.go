package conformance

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	ory "github.com/ory/client-go"

	"github.com/lanyard-id/lanyard/test/testserver"
)

const (
	storeSQLite   = "sqlite"
	storePostgres = "postgres"

	requestTimeout = 30 * time.Second
)

// Server is one running `lanyard serve` process.
type Server struct {
	Store      string
	DSN        string
	Dir        string // private temp dir: config, data dir, SQLite file
	ConfigPath string
	PublicURL  string // base URL without the trailing slash
	AdminURL   string

	Admin  *ory.APIClient // SDK pointed at the admin listener
	Public *ory.APIClient // SDK pointed at the public listener
	HTTP   *http.Client   // plain client that never follows redirects

	proc *testserver.Process
}

// serverSpec describes a server to start; the zero value is a server on a
// fresh SQLite database with the generated default config.
type serverSpec struct {
	store string
	// dsn reuses an existing database instead of creating a fresh one.
	dsn string
	// set overrides keys of the generated config, by dotted path.
	set map[string]any
	// configFile is used as is instead of the generated config; the ports
	// and base URLs then come from the environment.
	configFile string
	// workDir is the process working directory (default: the server dir).
	workDir string
	env     map[string]string
	args    []string // extra `serve` arguments
}

// forEachStore runs fn as parallel subtests "sqlite" and "postgres".
func forEachStore(t *testing.T, fn func(t *testing.T, store string)) {
	t.Helper()
	for _, store := range []string{storeSQLite, storePostgres} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			fn(t, store)
		})
	}
}

// startServer migrates a database, starts `lanyard serve` on free loopback
// ports and waits until it is ready. The server is stopped with SIGTERM when
// the test ends, and a non-zero exit code fails the test.
func startServer(t *testing.T, spec serverSpec) *Server {
	t.Helper()
	if spec.store == "" {
		spec.store = storeSQLite
	}
	dir := t.TempDir()
	s := &Server{Store: spec.store, Dir: dir}

	switch {
	case spec.dsn != "":
		s.DSN = spec.dsn
	case spec.store == storePostgres:
		s.DSN = newPostgresDatabase(t)
	default:
		s.DSN = "sqlite://" + filepath.Join(dir, "db.sqlite") + "?_fk=true"
	}

	// Another process can grab a port between our probe and the server's
	// bind, so a failed bind is retried on fresh ports.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		lastErr = s.launch(t, spec)
		if lastErr == nil {
			break
		}
		if !strings.Contains(s.Stderr(), "address already in use") {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("starting lanyard (%s) failed: %v\nconfig:\n%s\nstderr:\n%s",
			s.Store, lastErr, readFileOrEmpty(s.ConfigPath), s.Stderr())
	}

	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() {
			t.Logf("lanyard (%s) stderr:\n%s", s.Store, s.Stderr())
		}
	})
	return s
}

func (s *Server) launch(t *testing.T, spec serverSpec) error {
	t.Helper()
	publicPort, adminPort := testserver.FreePort(t), testserver.FreePort(t)
	s.PublicURL = fmt.Sprintf("http://127.0.0.1:%d", publicPort)
	s.AdminURL = fmt.Sprintf("http://127.0.0.1:%d", adminPort)

	env := map[string]string{"LANYARD_DATA_DIR": filepath.Join(s.Dir, "data")}
	if spec.configFile != "" {
		s.ConfigPath = spec.configFile
		env["DSN"] = s.DSN
		env["SERVE_PUBLIC_PORT"] = strconv.Itoa(publicPort)
		env["SERVE_ADMIN_PORT"] = strconv.Itoa(adminPort)
		env["SERVE_PUBLIC_BASE_URL"] = s.PublicURL + "/"
		env["SERVE_ADMIN_BASE_URL"] = s.AdminURL + "/"
	} else {
		cfg := testserver.BaseConfig(s.DSN, publicPort, adminPort)
		for key, value := range spec.set {
			testserver.SetPath(cfg, key, value)
		}
		s.ConfigPath = filepath.Join(s.Dir, "lanyard.yml")
		if err := os.WriteFile(s.ConfigPath, testserver.RenderYAML(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range spec.env {
		env[k] = v
	}
	workDir := spec.workDir
	if workDir == "" {
		workDir = s.Dir
	}

	s.HTTP = &http.Client{
		Timeout: requestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	s.Admin = newSDK(s.AdminURL, s.HTTP)
	s.Public = newSDK(s.PublicURL, s.HTTP)

	var err error
	s.proc, err = testserver.Serve(testserver.Spec{
		Binary: binPath, Dir: workDir, Config: s.ConfigPath, DSN: s.DSN, Env: env, AdminURL: s.AdminURL, Args: spec.args,
	})
	return err
}

// stop sends SIGTERM and expects a clean exit (code 0) in time.
func (s *Server) stop(t *testing.T) {
	t.Helper()
	if exited, err := s.proc.Exited(); exited {
		t.Errorf("lanyard (%s) exited on its own before the test ended: %v", s.Store, err)
		return
	}
	if err := s.proc.Stop(); err != nil {
		t.Errorf("lanyard (%s) %v", s.Store, err)
	}
}

// Stderr is everything the server wrote so far.
func (s *Server) Stderr() string { return s.proc.Output.String() }

func newSDK(baseURL string, client *http.Client) *ory.APIClient {
	cfg := ory.NewConfiguration()
	cfg.Servers = ory.ServerConfigurations{{URL: baseURL}}
	cfg.HTTPClient = client
	return ory.NewAPIClient(cfg)
}

// runLanyard runs a short-lived lanyard command and returns its outcome.
func runLanyard(t *testing.T, dir string, env map[string]string, args ...string) testserver.Result {
	t.Helper()
	res, err := testserver.Run(binPath, dir, env, args...)
	if err != nil {
		t.Fatalf("running lanyard %v: %v", args, err)
	}
	return res
}

func readFileOrEmpty(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}
