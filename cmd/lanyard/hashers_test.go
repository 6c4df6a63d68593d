package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lanyard-id/lanyard/internal/config"
)

// fakeMachine hashes one KiB-pass in perKiB, split over at most cores
// lanes: a model simple enough to know the right answer.
func fakeMachine(perKiB time.Duration, cores uint8, calls *int) measureFunc {
	return func(memory, iterations uint32, parallelism uint8) time.Duration {
		*calls++
		return time.Duration(memory) * time.Duration(iterations) * perKiB / time.Duration(min(parallelism, cores))
	}
}

func TestCalibrate_FindsMemoryThenIterations(t *testing.T) {
	var calls int
	c := calibration{target: 500 * time.Millisecond, maxMemoryKiB: 1 << 20, parallelism: 4, runs: 2, measure: fakeMachine(time.Microsecond, 4, &calls)}
	// 1 µs per KiB over 4 lanes: 1 GiB, one pass, is 262ms, under 500ms;
	// so memory is the maximum and two passes (524ms) are too many.
	memory, iterations, err := c.run()
	if err != nil {
		t.Fatal(err)
	}
	if memory != 1<<20 || iterations != 1 {
		t.Errorf("got %s × %d, want 1GiB × 1", formatKiB(memory), iterations)
	}

	// A slower machine: 16 µs per KiB over 4 lanes is 4 µs per KiB-pass;
	// 500ms allows 125000 KiB at one pass. Bisection stops within 1 MiB.
	c.measure = fakeMachine(16*time.Microsecond, 4, &calls)
	memory, iterations, err = c.run()
	if err != nil {
		t.Fatal(err)
	}
	if memory > 125000 || memory < 125000-1024 || iterations != 1 {
		t.Errorf("got %d KiB × %d, want just under 125000 KiB × 1", memory, iterations)
	}

	// A fast machine with little memory allowed: passes fill the time.
	c.measure, c.maxMemoryKiB = fakeMachine(time.Microsecond, 4, &calls), 16<<10
	memory, iterations, err = c.run()
	if err != nil {
		t.Fatal(err)
	}
	// 16 MiB is 4.096ms a pass: 122 passes fit, the hasher reads at most 100.
	if memory != 16<<10 || iterations != 100 {
		t.Errorf("got %s × %d, want 16MiB × 100", formatKiB(memory), iterations)
	}
	// Starting high on a slow machine halves down until one pass fits:
	// 4 µs per KiB-pass allows 125000 KiB, so 128 MiB is too much and
	// 64 MiB is the first that fits.
	c.measure, c.maxMemoryKiB, c.startMemoryKiB = fakeMachine(16*time.Microsecond, 4, &calls), 1<<20, 1<<20
	if memory, _, err = c.run(); err != nil || memory != 64<<10 {
		t.Errorf("from 1GiB down: %s, %v; want 64MiB", formatKiB(memory), err)
	}
	c.startMemoryKiB = 0
	c.maxMemoryKiB = 2 << 20
	c.measure = fakeMachine(time.Nanosecond, 4, &calls)
	memory, iterations, _ = c.run()
	if uint64(memory)*uint64(iterations) > maxArgon2Work {
		t.Errorf("%s × %d exceeds what the hasher accepts", formatKiB(memory), iterations)
	}
}

func TestCalibrate_TooSlowAndTooLittleMemory(t *testing.T) {
	var calls int
	c := calibration{target: time.Millisecond, maxMemoryKiB: 1 << 20, parallelism: 1, runs: 1, measure: fakeMachine(time.Second, 1, &calls)}
	if _, _, err := c.run(); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("an impossible target: %v", err)
	}
	c.maxMemoryKiB, c.parallelism = 8, 4
	if _, _, err := c.run(); err == nil {
		t.Error("less memory than argon2 needs was accepted")
	}
}

func TestHashersArgon2Calibrate_PrintsALoadableConfig(t *testing.T) {
	var calls int
	old := argon2Measure
	argon2Measure = fakeMachine(4*time.Microsecond, 2, &calls)
	t.Cleanup(func() { argon2Measure = old })

	out, errOut, err := runCLI(t, "", "hashers", "argon2", "calibrate", "500ms", "--max-memory", "256MB", "--parallelism", "2", "--probe-runs", "1")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if !strings.Contains(errOut, "iterations") {
		t.Errorf("no measurements on stderr: %q", errOut)
	}
	// 2 µs per KiB-pass: 256 MiB is 524ms, so memory bisects below it.
	path := filepath.Join(t.TempDir(), "hashers.yml")
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Load(config.LoadOptions{Files: []string{path}, Dev: true, LookupEnv: func(string) (string, bool) { return "", false }, WorkDir: t.TempDir()})
	if err != nil {
		t.Fatalf("the printed config does not load: %v\n%s", err, out)
	}
	a := cfg.Hashers.Argon2
	if cfg.Hashers.Algorithm != "argon2" || a.Parallelism != 2 || a.Iterations != 1 || a.Memory > 250000 || a.Memory < 250000-1024 || a.ExpectedDuration != 500*time.Millisecond || a.ExpectedDeviation != 500*time.Millisecond || a.DedicatedMemory != 1<<30 {
		t.Errorf("loaded %+v from\n%s", a, out)
	}

	quiet, errOut, err := runCLI(t, "", "hashers", "argon2", "calibrate", "500ms", "-q", "--max-memory", "256MB", "--parallelism", "2", "-r", "1")
	if err != nil || errOut != "" || quiet != out {
		t.Errorf("--quiet: %v, stderr %q, out %q", err, errOut, quiet)
	}
	for _, args := range [][]string{{"0s"}, {"soon"}, {"500ms", "--max-memory", "lots"}, {"500ms", "-m", "0"}, {"500ms", "--dedicated-memory", "x"}, {"500ms", "--parallelism", "0"}, {"500ms", "-r", "0"}} {
		if _, _, err := runCLI(t, "", append([]string{"hashers", "argon2", "calibrate"}, args...)...); err == nil {
			t.Errorf("calibrate %v succeeded", args)
		}
	}
}

func TestHashersArgon2Calibrate_RealHashes(t *testing.T) {
	// The real measurement, kept small: 256 KiB and a target that one
	// pass of it meets even on a loaded machine under the race detector.
	out, _, err := runCLI(t, "", "hashers", "argon2", "calibrate", "1s", "-q", "--max-memory", "256KB", "--parallelism", "1", "-r", "1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "memory: 256KiB") || !strings.Contains(out, "parallelism: 1") {
		t.Errorf("got\n%s", out)
	}
}

func TestParseBytesAndFormatKiB(t *testing.T) {
	for in, want := range map[string]uint64{"1GB": 1 << 30, "512MiB": 512 << 20, "64kb": 64 << 10, "100": 100} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "GB", "1XB", "-1GB", "99999999999999999999TB"} {
		if _, err := parseBytes(bad); err == nil {
			t.Errorf("parseBytes(%q) succeeded", bad)
		}
	}
	for kib, want := range map[uint32]string{1 << 20: "1GiB", 64 << 10: "64MiB", 1500: "1500KiB"} {
		if got := formatKiB(kib); got != want {
			t.Errorf("formatKiB(%d) = %q", kib, got)
		}
	}
}
