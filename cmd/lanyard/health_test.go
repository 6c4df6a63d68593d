package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

func TestHealthCommand_RealServer(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			admin, public := startCLIServer(t, d)
			for _, endpoint := range []string{admin, admin + "/admin/", public} {
				if out := mustCLI(t, "health", "-e", endpoint); out != "ok\n" {
					t.Errorf("health -e %s printed %q, want ok", endpoint, out)
				}
			}
			mustCLI(t, "health", "--alive", "-e", admin)

			t.Setenv("LANYARD_ADMIN_URL", admin)
			mustCLI(t, "health")
		})
	}
}

func TestHealthCommand_Failures(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	notReady := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.Path)
		mu.Unlock()
		if r.URL.Path == "/health/alive" {
			return
		}
		if r.URL.Path == "/moved/health/ready" {
			http.Redirect(w, r, "/health/alive", http.StatusTemporaryRedirect)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer notReady.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	goneURL := gone.URL
	gone.Close()

	for _, tc := range []struct {
		name, endpoint, want string
	}{
		{"not ready", notReady.URL, "503"},
		{"redirect not followed", notReady.URL + "/moved", "307"},
		{"nothing listening", goneURL, "not answering"},
		{"not a URL", "127.0.0.1:4434", "not an http(s) URL"},
		{"other scheme", "file:///etc/passwd", "not an http(s) URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCLI(t, "", "health", "-e", tc.endpoint, "--timeout", "10s")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("health -e %s: error %v, want one containing %q", tc.endpoint, err, tc.want)
			}
		})
	}
	// The alive probe of the same server is fine: only the ready one fails.
	mustCLI(t, "health", "--alive", "-e", notReady.URL)
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(asked, " "); got != "/health/ready /moved/health/ready /health/alive" {
		t.Errorf("paths asked: %s", got)
	}
}

func TestHealthEndpoint_Default(t *testing.T) {
	t.Setenv("LANYARD_ADMIN_URL", "")
	t.Setenv("KRATOS_ADMIN_URL", "")
	if got := healthEndpoint(""); got != defaultHealthEndpoint {
		t.Errorf("healthEndpoint() = %q, want %q", got, defaultHealthEndpoint)
	}
	t.Setenv("KRATOS_ADMIN_URL", "http://kratos:4434")
	if got := healthEndpoint(""); got != "http://kratos:4434" {
		t.Errorf("with KRATOS_ADMIN_URL: %q", got)
	}
	if got := healthEndpoint("http://flag:1"); got != "http://flag:1" {
		t.Errorf("the flag should win: %q", got)
	}
}
