// Package testserver builds the lanyard binary and runs it for the
// end-to-end suites (test/conformance, test/browser): a config of the
// test's own on free loopback ports, a clean environment, readiness, and a
// stop by SIGTERM that expects exit code 0. Only tests import it.
package testserver

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// RepoRoot is the module root above the working directory, where go.mod
// lives.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod found above the working directory")
		}
		dir = parent
	}
}

// Build compiles ./cmd/lanyard of the module at root into out. A
// race-enabled test run builds a racing server too, so that data races in
// the server fail the test through its exit code.
func Build(root, out string, race bool) error {
	args := []string{"build", "-o", out}
	if race {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/lanyard")
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %v: %v\n%s", args, err, output)
	}
	return nil
}

// handedOut remembers every port handed out in this run: the kernel happily
// returns a just-released port again, and two parallel servers on one port
// would make one test talk to the other's server.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// FreePort answers a loopback port no one listened on a moment ago and that
// this run has not handed out before. It is drawn from below the kernel's
// ephemeral range where it can: a port from listening on :0 is one the
// kernel also gives to outgoing connections, and between this check and the
// server's own listen, any client on the machine (another test's, a load
// generator's) can take it.
func FreePort(t testing.TB) int {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	low := ephemeralLow()
	for range 200 {
		addr := "127.0.0.1:0"
		if low > fixedPortsFrom+1000 {
			addr = fmt.Sprintf("127.0.0.1:%d", fixedPortsFrom+rand.IntN(low-fixedPortsFrom))
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue // taken: draw again
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

// fixedPortsFrom is where FreePort's ports start: above the well-known and
// the commonly configured ones.
const fixedPortsFrom = 20000

// ephemeralLow is the first port of Linux's ephemeral range, 0 where it
// cannot be read; read once per run.
var ephemeralLow = sync.OnceValue(func() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	var low, high int
	if _, err := fmt.Sscan(string(b), &low, &high); err != nil {
		return 0
	}
	return low
})

// CleanEnv is a minimal process environment plus extra, so that variables
// of the developer's shell (DSN, SERVE_*, ...) cannot change a server's
// config.
func CleanEnv(extra map[string]string) []string {
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

// Buffer collects process output written from other goroutines.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) WriteString(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(s)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
