package conformance

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	ory "github.com/ory/client-go"
)

// peakRSSKiB is the server process's VmHWM: the most memory it has had
// resident since it started.
func (s *Server) peakRSSKiB(t *testing.T) int64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.proc.Pid()))
	if err != nil {
		t.Fatalf("reading the server's memory: %v", err)
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM line %q: %v", line, err)
			}
			return kib
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", s.proc.Pid())
	return 0
}

// nativeLogin signs in through the SDK; it may run on any goroutine.
func (s *Server) nativeLogin(ctx context.Context, identifier, password string) error {
	f, res, err := s.Public.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
	if err != nil {
		return fmt.Errorf("creating a login flow: %v", err)
	}
	_ = res.Body.Close()
	body := ory.UpdateLoginFlowWithPasswordMethodAsUpdateLoginFlowBody(ory.NewUpdateLoginFlowWithPasswordMethod(identifier, "password", password))
	_, res, err = s.Public.FrontendAPI.UpdateLoginFlow(ctx).Flow(f.Id).UpdateLoginFlowBody(body).Execute()
	if err != nil {
		return fmt.Errorf("submitting the login: %v", err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("login answered %d, want 200", res.StatusCode)
	}
	return nil
}

// TestArgon2_DedicatedMemoryBoundsConcurrentLogins lets many clients sign
// in at once with an argon2 budget of one hash: the server's peak memory
// must grow by about one hash, not by one per client. Memory, not time, is
// what the test compares.
func TestArgon2_DedicatedMemoryBoundsConcurrentLogins(t *testing.T) {
	t.Parallel()
	const (
		hashMiB = 32
		clients = 16
	)
	forEachStore(t, func(t *testing.T, store string) {
		s := startServer(t, serverSpec{store: store, set: map[string]any{
			"hashers.algorithm": "argon2",
			"hashers.argon2": map[string]any{
				"memory": fmt.Sprintf("%dMB", hashMiB), "iterations": 1, "parallelism": 1,
				"salt_length": 16, "key_length": 32, "dedicated_memory": fmt.Sprintf("%dMB", hashMiB),
			},
			// Sixteen sign-ins at once from one client would be slowed by
			// the brute-force delays, which count attempts in flight.
			"protection.attempts.free_failures": 100,
		}})
		email := uniqueEmail("argon2-gate")
		s.createIdentity(t, withPassword(identityBody(email), testPassword))
		// One login alone, so that the baseline has seen a whole hash.
		if err := s.nativeLogin(context.Background(), email, testPassword); err != nil {
			t.Fatal(err)
		}
		before := s.peakRSSKiB(t)

		var wg sync.WaitGroup
		errs := make(chan error, clients)
		for range clients {
			wg.Go(func() { errs <- s.nativeLogin(context.Background(), email, testPassword) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}

		grown := (s.peakRSSKiB(t) - before) >> 10
		t.Logf("%s: peak RSS grew by %d MiB over %d MiB with %d concurrent logins of %d MiB each",
			store, grown, before>>10, clients, hashMiB)
		// Without the budget the clients hash side by side: about
		// clients × hashMiB more (measured: 780-980 MiB). Within it the
		// growth is a hash or two (measured: 11-85 MiB; freed buffers are
		// not always reused at once). Half the unbounded figure keeps both
		// far from the line.
		if limit := int64(clients * hashMiB / 2); grown > limit {
			t.Errorf("peak RSS grew by %d MiB with %d concurrent logins, want at most %d MiB: dedicated_memory (%d MiB) does not bound hashing",
				grown, clients, limit, hashMiB)
		}
	})
}

func TestConfig_Argon2MemoryAboveDedicatedMemoryFails(t *testing.T) {
	t.Parallel()
	stderr := startFailing(t, map[string]any{
		"hashers.algorithm": "argon2",
		"hashers.argon2":    map[string]any{"memory": "64MB", "dedicated_memory": "32MB"},
	})
	for _, key := range []string{"hashers.argon2.memory", "hashers.argon2.dedicated_memory"} {
		if !strings.Contains(stderr, key) {
			t.Errorf("the error does not name %s:\n%s", key, stderr)
		}
	}
}
