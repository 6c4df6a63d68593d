package conformance

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lanyard-id/lanyard/test/testserver"
)

// TestConfigReload changes the config file of a running server and sees
// each change applied without a restart: a live key takes effect, the
// revision at /admin/health/config follows, an invalid file is refused
// with the old config kept, and a listener port keeps its value with a
// warning.
func TestConfigReload(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		s := startServer(t, serverSpec{store: store, set: map[string]any{
			"revision":                         "r1",
			"selfservice.flows.login.lifespan": "10m",
		}})
		if got := configRevision(t, s, "/admin/health/config"); got != "r1" {
			t.Fatalf("/admin/health/config: %q, want r1", got)
		}
		if got := configRevision(t, s, "/health/config"); got != "r1" {
			t.Fatalf("/health/config: %q, want r1", got)
		}
		if got := loginLifespan(t, s); got != 10*time.Minute {
			t.Fatalf("login flow lifespan %v, want 10m", got)
		}

		at := time.Now()
		rewriteConfig(t, s, &at, map[string]any{"revision": "r2", "selfservice.flows.login.lifespan": "25m"})
		waitForRevision(t, s, func(r string) bool { return r == "r2" })
		if got := loginLifespan(t, s); got != 25*time.Minute {
			t.Fatalf("after the reload: login flow lifespan %v, want 25m", got)
		}

		// Without a revision key: a hash of the effective config.
		rewriteConfig(t, s, &at, map[string]any{"selfservice.flows.login.lifespan": "25m"})
		hex64 := regexp.MustCompile(`^[0-9a-f]{64}$`)
		hash := waitForRevision(t, s, hex64.MatchString)
		rewriteConfig(t, s, &at, map[string]any{"selfservice.flows.login.lifespan": "30m"})
		waitForRevision(t, s, func(r string) bool { return hex64.MatchString(r) && r != hash })
		if got := loginLifespan(t, s); got != 30*time.Minute {
			t.Fatalf("after the second reload: login flow lifespan %v, want 30m", got)
		}
		hash = configRevision(t, s, "/admin/health/config")

		// An invalid file changes nothing.
		rewriteConfig(t, s, &at, map[string]any{"selfservice.flows.login.lifespan": "forever"})
		waitForLogLine(t, s, "the changed config is invalid")
		if !strings.Contains(s.Stderr(), "selfservice.flows.login.lifespan") {
			t.Errorf("the refusal does not name the bad key:\n%s", s.Stderr())
		}
		if got := configRevision(t, s, "/admin/health/config"); got != hash {
			t.Errorf("after an invalid file: revision %q, want the previous %q", got, hash)
		}
		if got := loginLifespan(t, s); got != 30*time.Minute {
			t.Errorf("after an invalid file: login flow lifespan %v, want the previous 30m", got)
		}

		// A listener's port cannot change while the server runs: the rest
		// of the change applies, the port stays and a warning says so.
		rewriteConfig(t, s, &at, map[string]any{"revision": "r3", "selfservice.flows.login.lifespan": "40m", "serve.public.port": testserver.FreePort(t)})
		waitForRevision(t, s, func(r string) bool { return r == "r3" })
		waitForLogLine(t, s, "serve.public.port")
		if got := loginLifespan(t, s); got != 40*time.Minute { // through the old port
			t.Errorf("after a port change: login flow lifespan %v, want 40m", got)
		}
	})
}

// rewriteConfig replaces the server's config file with the base config on
// its ports plus set, stepping the file's modification time on so that no
// two versions share one.
func rewriteConfig(t *testing.T, s *Server, at *time.Time, set map[string]any) {
	t.Helper()
	cfg := testserver.BaseConfig(s.DSN, urlPort(t, s.PublicURL), urlPort(t, s.AdminURL))
	for k, v := range set {
		testserver.SetPath(cfg, k, v)
	}
	if err := os.WriteFile(s.ConfigPath, testserver.RenderYAML(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	*at = at.Add(time.Second)
	if err := os.Chtimes(s.ConfigPath, *at, *at); err != nil {
		t.Fatal(err)
	}
}

func urlPort(t *testing.T, raw string) int {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// configRevision reads a health/config endpoint of the admin listener.
func configRevision(t *testing.T, s *Server, path string) string {
	t.Helper()
	res, err := s.HTTP.Get(s.AdminURL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("GET %s: %d %s: %s", path, res.StatusCode, res.Header.Get("Content-Type"), b)
	}
	return string(b)
}

// waitForRevision polls /admin/health/config until ok accepts its answer.
func waitForRevision(t *testing.T, s *Server, ok func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := configRevision(t, s, "/admin/health/config")
		if ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("the config was not reloaded: /admin/health/config still answers %q\nstderr:\n%s", r, s.Stderr())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func loginLifespan(t *testing.T, s *Server) time.Duration {
	t.Helper()
	f, res, err := s.Public.FrontendAPI.CreateNativeLoginFlow(context.Background()).Execute()
	if err != nil {
		t.Fatalf("creating a login flow: %v (status %v)", err, res)
	}
	return f.ExpiresAt.Sub(f.IssuedAt).Round(time.Second)
}
