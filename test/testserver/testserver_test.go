package testserver

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSetPathAndRenderYAML(t *testing.T) {
	cfg := map[string]any{"dsn": "memory", "serve": map[string]any{"public": map[string]any{"port": 1}}}
	SetPath(cfg, "serve.public.base_url", "http://localhost:1/")
	SetPath(cfg, "selfservice.methods.passkey.config.rp.origins", []any{"http://localhost:1"})
	SetPath(cfg, "dsn", "sqlite://x")
	want := `dsn: "sqlite://x"
selfservice:
  methods:
    passkey:
      config:
        rp:
          origins: ["http://localhost:1"]
serve:
  public:
    base_url: "http://localhost:1/"
    port: 1
`
	if got := string(RenderYAML(cfg)); got != want {
		t.Errorf("RenderYAML =\n%s\nwant\n%s", got, want)
	}
}

func TestFreePort_NeverTheSameTwice(t *testing.T) {
	seen := map[int]bool{}
	for range 50 {
		p := FreePort(t)
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
}

func TestCleanEnv_LeavesTheShellOut(t *testing.T) {
	t.Setenv("DSN", "postgres://from-the-shell")
	t.Setenv("SERVE_PUBLIC_PORT", "1")
	env := CleanEnv(map[string]string{"LANYARD_DATA_DIR": "/tmp/x"})
	if !slices.Contains(env, "LANYARD_DATA_DIR=/tmp/x") {
		t.Errorf("extra variable missing: %v", env)
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, "DSN=") || strings.HasPrefix(kv, "SERVE_") {
			t.Errorf("the shell's %s reached the environment", kv)
		}
	}
}

func TestRun_AnswersOutputAndExitCode(t *testing.T) {
	res, err := Run("/bin/sh", t.TempDir(), nil, "-c", "echo out; echo err >&2; exit 3")
	if err != nil {
		t.Fatal(err)
	}
	if res.Code != 3 || res.Stdout != "out\n" || res.Stderr != "err\n" {
		t.Errorf("Run = %+v, want code 3, stdout out, stderr err", res)
	}
	if _, err := Run("/nonexistent/lanyard", t.TempDir(), nil); err == nil {
		t.Error("running a missing binary answered no error")
	}
}

// waitExited waits for a process that is bound to end by itself.
func waitExited(t *testing.T, p *Process) error {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if exited, err := p.Exited(); exited {
			return err
		}
	}
	t.Fatal("the process did not end")
	return nil
}

func TestProcess_StopWantsExitCodeZero(t *testing.T) {
	for _, c := range []struct {
		onTerm string
		clean  bool
	}{{"exit 0", true}, {"exit 4", false}} {
		p, err := Start("/bin/sh", t.TempDir(), nil, "-c", "trap '"+c.onTerm+"' TERM; echo started; while :; do sleep 0.05; done")
		if err != nil {
			t.Fatal(err)
		}
		// The trap must be set before the signal comes.
		for deadline := time.Now().Add(time.Minute); !strings.Contains(p.Output.String(), "started"); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the shell did not start")
			}
		}
		if exited, _ := p.Exited(); exited {
			t.Fatal("the process ended before it was stopped")
		}
		if err := p.Stop(); (err == nil) != c.clean {
			t.Errorf("Stop of a process that answers SIGTERM with %s: %v", c.onTerm, err)
		}
		if exited, _ := p.Exited(); !exited {
			t.Errorf("after Stop the process still runs")
		}
	}
}

func TestProcess_WaitReady(t *testing.T) {
	ready := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health/ready" {
			http.NotFound(w, r)
		}
	}))
	defer ready.Close()

	p, err := Start("/bin/sh", t.TempDir(), nil, "-c", "trap 'exit 0' TERM; while :; do sleep 0.05; done")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WaitReady(ready.URL); err != nil {
		t.Errorf("WaitReady on a ready server: %v", err)
	}
	if err := p.Stop(); err != nil {
		t.Error(err)
	}

	gone, err := Start("/bin/sh", t.TempDir(), nil, "-c", "exit 2")
	if err != nil {
		t.Fatal(err)
	}
	if err := waitExited(t, gone); err == nil {
		t.Fatal("exit 2 ended without an error")
	}
	if err := gone.WaitReady(ready.URL); err == nil || !strings.Contains(err.Error(), "exited before it was ready") {
		t.Errorf("WaitReady of an ended process: %v, want exited before it was ready", err)
	}
}

func TestServe_AFailedMigrationEndsWithItsOutput(t *testing.T) {
	p, err := Serve(Spec{Binary: "/bin/sh", Dir: t.TempDir(), Config: "/dev/null", DSN: "sqlite://x", Args: []string{"unused"}})
	// /bin/sh reads "migrate" as a script it cannot open: exit 127.
	if err == nil || !strings.Contains(err.Error(), "migrate sql exited with") {
		t.Fatalf("Serve with a failing migration: %v", err)
	}
	if p == nil {
		t.Fatal("Serve answered no process")
	}
	if exited, _ := p.Exited(); !exited {
		t.Error("the process of a failed Serve has not ended")
	}
	if !strings.Contains(p.Output.String(), "migrate") {
		t.Errorf("the output does not say what failed: %q", p.Output.String())
	}
	if err := p.Stop(); err == nil {
		t.Error("Stop of a failed Serve answered no error")
	}
}
