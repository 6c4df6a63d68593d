package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/argon2"
)

func hashersCommand() *cobra.Command {
	hashers := &cobra.Command{Use: "hashers", Short: "Password hasher tools"}
	argon := &cobra.Command{Use: "argon2", Short: "Argon2 tools"}
	var (
		maxMemory  string
		startMem   string
		dedicated  string
		deviation  time.Duration
		p          calibration
		parallel   int
		quiet      bool
		keyLength  uint32
		saltLength uint32
	)
	calibrate := &cobra.Command{
		Use:   "calibrate MAX_DURATION",
		Short: "Find argon2id parameters that hash within MAX_DURATION on this machine",
		Long: `Measure argon2id on this machine and print the hashers configuration that
hashes one password in at most MAX_DURATION (e.g. 500ms): first the most
memory, up to --max-memory, that one pass can use in time, then as many
passes as still fit. Run it on the hardware that will serve, while it is
otherwise idle; every sign-in and sign-up pays this time once.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			target, err := time.ParseDuration(args[0])
			if err != nil || target <= 0 {
				return fmt.Errorf("%q is not a positive duration such as 500ms", args[0])
			}
			mem, err := parseBytes(maxMemory)
			if err != nil {
				return fmt.Errorf("--max-memory: %w", err)
			}
			start, err := parseBytes(startMem)
			if err != nil || start < 1<<10 {
				return fmt.Errorf("--start-memory: %q is not a size of at least 1KB", startMem)
			}
			pool, err := parseBytes(dedicated)
			if err != nil {
				return fmt.Errorf("--dedicated-memory: %w", err)
			}
			p.startMemoryKiB = uint32(min(start>>10, maxArgon2Memory))
			if parallel < 1 || parallel > math.MaxUint8 {
				return fmt.Errorf("--parallelism: %d is not between 1 and 255", parallel)
			}
			p.target, p.maxMemoryKiB, p.parallelism = target, uint32(min(mem>>10, maxArgon2Memory)), uint8(parallel)
			if p.runs < 1 {
				return fmt.Errorf("--probe-runs: %d is not positive", p.runs)
			}
			if !quiet {
				p.log = cmd.ErrOrStderr()
			}
			p.measure = argon2Measure
			memory, iterations, err := p.run()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), `hashers:
  algorithm: argon2
  argon2:
    memory: %s
    iterations: %d
    parallelism: %d
    salt_length: %d
    key_length: %d
    expected_duration: %s
    expected_deviation: %s
    dedicated_memory: %s
`, formatKiB(memory), iterations, p.parallelism, saltLength, keyLength, target, deviation, formatKiB(uint32(min(max(pool, uint64(memory)<<10)>>10, math.MaxUint32))))
			return nil
		},
	}
	f := calibrate.Flags()
	f.StringVar(&maxMemory, "max-memory", "1GB", "the most memory one hash may use")
	f.StringVarP(&startMem, "start-memory", "m", "64MB", "the memory the search starts from")
	f.StringVar(&dedicated, "dedicated-memory", "1GB", "memory for all hashes at once, printed as hashers.argon2.dedicated_memory")
	f.DurationVar(&deviation, "expected-deviation", 500*time.Millisecond, "printed as hashers.argon2.expected_deviation")
	f.IntVar(&parallel, "parallelism", min(2*runtime.NumCPU(), math.MaxUint8), "threads per hash")
	f.IntVarP(&p.runs, "probe-runs", "r", 2, "measurements per try; the slowest counts")
	f.Uint32Var(&saltLength, "salt-length", 16, "salt length in bytes, printed as is")
	f.Uint32Var(&keyLength, "key-length", 32, "key length in bytes, printed as is")
	f.BoolVarP(&quiet, "quiet", "q", false, "print only the configuration")
	argon.AddCommand(calibrate)
	hashers.AddCommand(argon)
	return hashers
}

// measureFunc answers how long one argon2id hash takes with these
// parameters; tests put a model of a machine in its place.
type measureFunc func(memoryKiB, iterations uint32, parallelism uint8) time.Duration

func measureArgon2(memoryKiB, iterations uint32, parallelism uint8) time.Duration {
	var salt [16]byte
	_, _ = rand.Read(salt[:])
	start := time.Now()
	argon2.IDKey([]byte("calibration password"), salt[:], iterations, memoryKiB, parallelism, 32)
	return time.Since(start)
}

// calibration searches the parameters. Memory comes first because it is
// what makes guessing on GPUs expensive; passes fill the rest of the time.
type calibration struct {
	target         time.Duration
	startMemoryKiB uint32
	maxMemoryKiB   uint32
	parallelism    uint8
	runs           int
	measure        measureFunc
	log            io.Writer
}

// The most passes, and memory × passes in KiB, that internal/hasher accepts
// in a stored hash: a calibration must not produce hashes it refuses.
const (
	maxArgon2Memory     = 4 << 20
	maxArgon2Iterations = 100
	maxArgon2Work       = 8 << 20
)

// argon2Measure is swapped by tests for a model of a machine.
var argon2Measure measureFunc = measureArgon2

func (c *calibration) took(memory, iterations uint32) time.Duration {
	var worst time.Duration
	for range c.runs {
		worst = max(worst, c.measure(memory, iterations, c.parallelism))
	}
	if c.log != nil {
		fmt.Fprintf(c.log, "memory %s, %d iterations: %s\n", formatKiB(memory), iterations, worst)
	}
	return worst
}

func (c *calibration) run() (memory, iterations uint32, err error) {
	floor := 8 * uint32(c.parallelism) // argon2's least memory
	if c.maxMemoryKiB < floor {
		return 0, 0, fmt.Errorf("--max-memory must be at least %s for parallelism %d", formatKiB(floor), c.parallelism)
	}
	// 64 MiB, the default start, is under the config's default of 128 MiB
	// and hashes in well under 500ms on most machines.
	start := c.startMemoryKiB
	if start == 0 {
		start = 64 << 10
	}
	memory = max(min(start, c.maxMemoryKiB), floor)
	fits := c.took(memory, 1) <= c.target
	if fits {
		// Double while the next step still fits, then bisect the gap.
		lo, hi := memory, uint32(0)
		for lo < c.maxMemoryKiB {
			next := uint32(min(uint64(lo)*2, uint64(c.maxMemoryKiB)))
			if c.took(next, 1) > c.target {
				hi = next
				break
			}
			lo = next
		}
		if hi != 0 {
			lo = c.bisect(lo, hi, func(m uint32) bool { return c.took(m, 1) <= c.target })
		}
		memory = lo
	} else {
		// Halve until one pass fits.
		for memory > floor {
			memory = max(memory/2, floor)
			if c.took(memory, 1) <= c.target {
				fits = true
				break
			}
		}
		if !fits {
			return 0, 0, fmt.Errorf("even %s and one iteration take longer than %s on this machine", formatKiB(floor), c.target)
		}
	}
	// Passes: double, then bisect, as for memory, up to what the hasher
	// accepts when it reads a hash back (internal/hasher's limits).
	maxIterations := min(maxArgon2Iterations, maxArgon2Work/memory)
	lo, hi := uint32(1), uint32(0)
	for lo < maxIterations {
		next := min(lo*2, maxIterations)
		if c.took(memory, next) > c.target {
			hi = next
			break
		}
		lo = next
	}
	if hi != 0 {
		lo = c.bisect(lo, hi, func(t uint32) bool { return c.took(memory, t) <= c.target })
	}
	return memory, lo, nil
}

// bisect answers the largest x in [lo, hi) with ok(x), given ok(lo) and
// not ok(hi); memory is searched to within 1 MiB, passes exactly.
func (c *calibration) bisect(lo, hi uint32, ok func(uint32) bool) uint32 {
	step := uint32(1)
	if hi > 1<<14 {
		step = 1 << 10
	}
	for hi-lo > step {
		mid := lo + (hi-lo)/2
		if ok(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// formatKiB renders KiB as the config's byte sizes read them.
func formatKiB(kib uint32) string {
	switch {
	case kib%(1<<20) == 0:
		return strconv.FormatUint(uint64(kib>>20), 10) + "GiB"
	case kib%(1<<10) == 0:
		return strconv.FormatUint(uint64(kib>>10), 10) + "MiB"
	default:
		return strconv.FormatUint(uint64(kib), 10) + "KiB"
	}
}

// parseBytes reads sizes as the config does: 1GB, 512MiB, 65536KB, with
// binary units.
func parseBytes(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	if i == 0 {
		return 0, fmt.Errorf("%q is not a size such as 1GB", s)
	}
	num, unit := s, ""
	if i > 0 {
		num, unit = s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size such as 1GB", s)
	}
	shift := map[string]uint{"": 0, "b": 0, "k": 10, "kb": 10, "kib": 10, "m": 20, "mb": 20, "mib": 20, "g": 30, "gb": 30, "gib": 30, "t": 40, "tb": 40, "tib": 40}
	sh, ok := shift[unit]
	if !ok {
		return 0, fmt.Errorf("%q has an unknown unit", s)
	}
	if n > math.MaxUint64>>sh {
		return 0, errors.New("too large")
	}
	return n << sh, nil
}
