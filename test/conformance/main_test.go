// Package conformance drives the real lanyard binary over HTTP, through the
// official Ory Go SDK where it can express the call, and checks that the
// server keeps Kratos's wire contract on both SQLite and PostgreSQL.
package conformance

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/lanyard-id/lanyard/test/testserver"
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
	repoRoot, err = testserver.RepoRoot()
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
		if err := testserver.Build(repoRoot, binPath, raceEnabled); err != nil {
			fmt.Fprintln(os.Stderr, "conformance:", err)
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
