// Command load drives a running Lanyard server with a bounded amount of
// traffic and reports throughput, latency percentiles and status codes.
//
// It talks to loopback addresses only: it is a measuring tool for a server on
// the same machine, not a way to load somebody else's service.
//
//	go run ./test/load create-identities -admin http://127.0.0.1:4434 -n 10000 -c 8 [-password]
//	go run ./test/load whoami -public http://127.0.0.1:4433 -token T -d 10s -c 16
//	go run ./test/load login -public http://127.0.0.1:4433 -identifier E -password P -d 10s -c 4
//	go run ./test/load idle-rss -pid P
//	go run ./test/load startup -ready http://127.0.0.1:4434/health/ready -runs 5 -data-root DIR -- lanyard serve -c cfg.yml
//
// Each run prints one human-readable block and, as its last line, one JSON
// object for scripts. The exit code is 0 when every request got the expected
// answer, 1 when any did not (or the run was aborted), 2 for a usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

// errUsage marks errors caused by the command line rather than the server.
var errUsage = errors.New("usage")

// scenario is one sub-command.
type scenario struct {
	name    string
	summary string
	// run parses args (flag errors go to errOut) and measures.
	run func(ctx context.Context, args []string, errOut io.Writer) (*result, error)
}

func scenarios() []scenario {
	return []scenario{
		{"create-identities", "POST /admin/identities with unique emails", runCreateIdentities},
		{"whoami", "GET /sessions/whoami with an X-Session-Token", runWhoami},
		{"login", "native password login: GET /self-service/login/api, then POST /self-service/login", runLogin},
		{"idle-rss", "print the resident memory (VmRSS) of a process", runIdleRSS},
		{"startup", "start a command repeatedly and time it until a URL answers 200", runStartup},
		{"bare-server", "serve a copy of one whoami answer from a bare net/http handler, the ceiling to compare with", runBareServer},
		{"mixed", "whoami, login and registration in a mix, with RSS and goroutine series", runMixed},
		{"check-registrations", "check that every registration in mixed -acked files exists", runCheckRegistrations},
		{"seed-sessions", "write N sessions with seeded tokens straight into the server's database", runSeedSessions},
		{"prune-sessions", "delete every session but the N seeded ones (those a run's logins added)", runPruneSessions},
		{"whoami-many", "whoami with a random one of N seeded session tokens per request", runWhoamiMany},
		{"login-many", "native password login as a random one of N users per login", runLoginMany},
		{"admin-pages", "GET /admin/identities and its searches at page 1 and at page P", runAdminPages},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, out, errOut io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		usage(errOut)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, s := range scenarios() {
		if s.name != args[0] {
			continue
		}
		res, err := s.run(ctx, args[1:], errOut)
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		if errors.Is(err, errUsage) {
			fmt.Fprintf(errOut, "load %s: %v\n", s.name, err)
			return exitUsage
		}
		if res == nil {
			// Nothing was measured: the failure is the whole report.
			res = &result{Scenario: s.name}
		}
		if err != nil {
			res.Error = err.Error()
		}
		res.Pass = res.Error == "" && res.Failed == 0
		writeReport(out, res)
		if !res.Pass {
			return exitFailed
		}
		return exitOK
	}
	fmt.Fprintf(errOut, "load: unknown scenario %q\n\n", args[0])
	usage(errOut)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: go run ./test/load <scenario> [flags]   (flags: go run ./test/load <scenario> -h)")
	fmt.Fprintln(w, "\nscenarios:")
	for _, s := range scenarios() {
		fmt.Fprintf(w, "  %-18s %s\n", s.name, s.summary)
	}
}

// newFlagSet returns a flag set that reports errors instead of exiting, so
// that a bad flag is a usage error with exit code 2.
func newFlagSet(name string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	return fs
}

// parseFlags parses args and rejects stray positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}
