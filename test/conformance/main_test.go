// Package conformance drives the real lanyard binary over HTTP, through the
// official Ory Go SDK where it can express the call, and checks that the
// server keeps Kratos's wire contract on both SQLite and PostgreSQL.
package conformance

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// binPath is the lanyard binary under test, built once in TestMain.
var binPath string

// repoRoot is the module root, where go.mod lives.
var repoRoot string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	flag.Parse()
	// Most of the time goes into waiting on server processes, not CPU, so
	// the default parallelism (GOMAXPROCS) would leave the machine idle.
	if !flagWasSet("test.parallel") {
		_ = flag.Set("test.parallel", "8")
	}

	var err error
	repoRoot, err = findRepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		return 1
	}

	tmp, err := os.MkdirTemp("", "lanyard-conformance-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		return 1
	}
	defer os.RemoveAll(tmp)

	if p := os.Getenv("LANYARD_TEST_BINARY"); p != "" {
		binPath = p
	} else {
		binPath = filepath.Join(tmp, "lanyard")
		args := []string{"build", "-o", binPath}
		// A race-enabled test run also races the server: data races in the
		// server then fail the test through a non-zero exit code.
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "./cmd/lanyard")
		cmd := exec.Command("go", args...)
		cmd.Dir = repoRoot
		cmd.Stdout = os.Stderr
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "conformance: go %v failed: %v\n", args, err)
			return 1
		}
	}

	return m.Run()
}

func flagWasSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

func findRepoRoot() (string, error) {
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
