package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const helperAddrEnv = "LOAD_TEST_HELPER_ADDR"

// TestMain doubles as a fake server for the startup scenario: started with
// LOAD_TEST_HELPER_ADDR set, the test binary waits a little, then serves
// /ready on that address until SIGTERM.
func TestMain(m *testing.M) {
	if addr := os.Getenv(helperAddrEnv); addr != "" {
		os.Exit(fakeServer(addr))
	}
	os.Exit(m.Run())
}

func fakeServer(addr string) int {
	dir := os.Getenv("LANYARD_DATA_DIR")
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		fmt.Fprintf(os.Stderr, "data dir %q not fresh: %v\n", dir, err)
		return 3
	}
	if err := os.WriteFile(filepath.Join(dir, "used"), nil, 0o600); err != nil {
		return 3
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	time.Sleep(30 * time.Millisecond)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	go func() {
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/ready" {
				http.NotFound(w, r)
			}
		}))
	}()
	<-term
	return 0
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestStartup(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	t.Setenv(helperAddrEnv, addr)
	root := t.TempDir()
	code, res, out := invoke(t, "startup", "-ready", "http://"+addr+"/ready", "-runs", "3", "-data-root", root, "--", exe, "-test.run=^$")
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, out)
	}
	runs, _ := res["runs_ms"].([]any)
	if len(runs) != 3 {
		t.Fatalf("runs = %v", res["runs_ms"])
	}
	for _, r := range runs {
		if ms := r.(float64); ms < 30 || ms > 10000 {
			t.Errorf("run took %v ms; the helper sleeps 30 ms first", ms)
		}
	}
	if m := res["median_ms"].(float64); m < 30 {
		t.Errorf("median %v", m)
	}
	for i := 1; i <= 3; i++ {
		if _, err := os.Stat(filepath.Join(root, fmt.Sprintf("run-%d", i), "used")); err != nil {
			t.Errorf("run %d did not get its own data dir: %v", i, err)
		}
	}

	// A command that exits at once is reported, not waited on for -timeout:
	// without -data-root the helper finds no data dir and exits.
	t.Setenv("LANYARD_DATA_DIR", "")
	start := time.Now()
	code, res, _ = invoke(t, "startup", "-ready", "http://"+freeAddr(t)+"/ready", "-runs", "1", "-timeout", "20s", "--", exe, "-test.run=^$")
	if code != exitFailed || !strings.Contains(fmt.Sprint(res["error"]), "exited before it was ready") || time.Since(start) > 10*time.Second {
		t.Errorf("early exit: code %d, %v", code, res)
	}
}
