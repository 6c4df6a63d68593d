package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	ory "github.com/ory/client-go"
)

const (
	storeSQLite   = "sqlite"
	storePostgres = "postgres"

	readyTimeout    = 60 * time.Second
	shutdownTimeout = 20 * time.Second
	requestTimeout  = 30 * time.Second
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

	cmd     *exec.Cmd
	stderr  *syncBuffer
	done    chan struct{}
	waitErr error
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
		if !strings.Contains(s.stderr.String(), "address already in use") {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("starting lanyard (%s) failed: %v\nconfig:\n%s\nstderr:\n%s",
			s.Store, lastErr, readFileOrEmpty(s.ConfigPath), s.stderr.String())
	}

	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() {
			t.Logf("lanyard (%s) stderr:\n%s", s.Store, s.stderr.String())
		}
	})
	return s
}

func (s *Server) launch(t *testing.T, spec serverSpec) error {
	t.Helper()
	publicPort, adminPort := freePort(t), freePort(t)
	s.PublicURL = fmt.Sprintf("http://127.0.0.1:%d", publicPort)
	s.AdminURL = fmt.Sprintf("http://127.0.0.1:%d", adminPort)
	s.stderr = &syncBuffer{}

	env := map[string]string{"LANYARD_DATA_DIR": filepath.Join(s.Dir, "data")}
	if spec.configFile != "" {
		s.ConfigPath = spec.configFile
		env["DSN"] = s.DSN
		env["SERVE_PUBLIC_PORT"] = strconv.Itoa(publicPort)
		env["SERVE_ADMIN_PORT"] = strconv.Itoa(adminPort)
		env["SERVE_PUBLIC_BASE_URL"] = s.PublicURL + "/"
		env["SERVE_ADMIN_BASE_URL"] = s.AdminURL + "/"
	} else {
		cfg := baseConfig(s.DSN, publicPort, adminPort)
		for key, value := range spec.set {
			setPath(cfg, key, value)
		}
		s.ConfigPath = filepath.Join(s.Dir, "lanyard.yml")
		if err := os.WriteFile(s.ConfigPath, renderYAML(cfg), 0o600); err != nil {
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

	// migrate -e reads the DSN from the environment; serve reads it from
	// the config file unless configFile mode put it into env already.
	migrateEnv := map[string]string{"DSN": s.DSN}
	for k, v := range env {
		migrateEnv[k] = v
	}
	res := runLanyard(t, workDir, migrateEnv, "migrate", "sql", "-e", "--yes", "-c", s.ConfigPath)
	if res.code != 0 {
		s.stderr.WriteString(res.stderr)
		return fmt.Errorf("migrate sql exited with %d", res.code)
	}

	args := append([]string{"serve", "-c", s.ConfigPath}, spec.args...)
	s.cmd = exec.Command(binPath, args...)
	s.cmd.Dir = workDir
	s.cmd.Env = processEnv(env)
	s.cmd.Stdout = s.stderr // logs may go to either stream; keep them together
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		return err
	}
	s.done = make(chan struct{})
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()

	s.HTTP = &http.Client{
		Timeout: requestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	s.Admin = newSDK(s.AdminURL, s.HTTP)
	s.Public = newSDK(s.PublicURL, s.HTTP)

	if err := s.waitReady(); err != nil {
		s.kill()
		return err
	}
	return nil
}

func (s *Server) waitReady() error {
	deadline := time.Now().Add(readyTimeout)
	probe := &http.Client{Timeout: 2 * time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("lanyard serve exited before it was ready: %v", s.waitErr)
		default:
		}
		res, err := probe.Get(s.AdminURL + "/health/ready")
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				// A server that failed to bind may still be exiting while
				// something else answered on its port.
				time.Sleep(20 * time.Millisecond)
				select {
				case <-s.done:
					return fmt.Errorf("lanyard serve exited right after start: %v", s.waitErr)
				default:
					return nil
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("lanyard serve was not ready within %s (GET %s/health/ready)", readyTimeout, s.AdminURL)
}

func (s *Server) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}

// stop sends SIGTERM and expects a clean exit (code 0) in time.
func (s *Server) stop(t *testing.T) {
	t.Helper()
	select {
	case <-s.done:
		t.Errorf("lanyard (%s) exited on its own before the test ended: %v", s.Store, s.waitErr)
		return
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("sending SIGTERM: %v", err)
	}
	select {
	case <-s.done:
		if s.waitErr != nil {
			t.Errorf("lanyard (%s) did not shut down gracefully on SIGTERM: %v (want exit code 0)", s.Store, s.waitErr)
		}
	case <-time.After(shutdownTimeout):
		s.kill()
		t.Errorf("lanyard (%s) did not exit within %s of SIGTERM", s.Store, shutdownTimeout)
	}
}

// Stderr is everything the server wrote so far.
func (s *Server) Stderr() string { return s.stderr.String() }

func newSDK(baseURL string, client *http.Client) *ory.APIClient {
	cfg := ory.NewConfiguration()
	cfg.Servers = ory.ServerConfigurations{{URL: baseURL}}
	cfg.HTTPClient = client
	return ory.NewAPIClient(cfg)
}

func baseConfig(dsn string, publicPort, adminPort int) map[string]any {
	return map[string]any{
		"dsn": dsn,
		"dev": true,
		"serve": map[string]any{
			"public": map[string]any{
				"host":     "127.0.0.1",
				"port":     publicPort,
				"base_url": fmt.Sprintf("http://127.0.0.1:%d/", publicPort),
			},
			"admin": map[string]any{
				"host":     "127.0.0.1",
				"port":     adminPort,
				"base_url": fmt.Sprintf("http://127.0.0.1:%d/", adminPort),
			},
		},
		"hashers": map[string]any{
			"algorithm": "bcrypt",
			"bcrypt":    map[string]any{"cost": 4},
		},
		"secrets": map[string]any{
			"cookie": []any{"conformance-cookie-secret-0123456789"},
			// Shared by every server of a test, as by a deployment's
			// instances: they open each other's sealed secrets.
			"cipher": []any{"conformance-cipher-secret-32byte"},
		},
	}
}

// setPath sets a dotted key such as "serve.public.port" in a nested map.
func setPath(m map[string]any, path string, value any) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = value
}

// renderYAML writes maps as block YAML with sorted keys and everything else
// as JSON, which YAML reads as flow style.
func renderYAML(m map[string]any) []byte {
	var b bytes.Buffer
	writeYAMLMap(&b, m, 0)
	return b.Bytes()
}

func writeYAMLMap(b *bytes.Buffer, m map[string]any, indent int) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteString(strings.Repeat(" ", indent))
		b.WriteString(k)
		b.WriteString(":")
		if sub, ok := m[k].(map[string]any); ok && len(sub) > 0 {
			b.WriteString("\n")
			writeYAMLMap(b, sub, indent+2)
			continue
		}
		enc, err := json.Marshal(m[k])
		if err != nil {
			panic(err) // only test-authored values end up here
		}
		b.WriteString(" ")
		b.Write(enc)
		b.WriteString("\n")
	}
}

// handedOut remembers every port given to a server in this run: the kernel
// happily returns a just-released port again, and two parallel servers on
// one port would make one test talk to the other's server.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

func freePort(t *testing.T) int {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	for i := 0; i < 100; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if !handedOut.ports[port] {
			handedOut.ports[port] = true
			return port
		}
	}
	t.Fatal("no unused loopback port found")
	return 0
}

// processEnv gives the server a minimal environment so that variables of
// the developer's shell (DSN, SERVE_*, ...) cannot change its config.
func processEnv(extra map[string]string) []string {
	var env []string
	for _, k := range []string{"PATH", "TMPDIR", "GORACE", "GOCOVERDIR", "LANG", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	return env
}

type cliResult struct {
	code   int
	stdout string
	stderr string
}

// runLanyard runs a short-lived lanyard command and returns its outcome.
func runLanyard(t *testing.T, dir string, env map[string]string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Dir = dir
	cmd.Env = processEnv(env)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	res := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		res.code = exitErr.ExitCode()
	default:
		t.Fatalf("running lanyard %v: %v", args, err)
	}
	return res
}

func readFileOrEmpty(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// syncBuffer collects process output written from another goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) WriteString(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(s)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
