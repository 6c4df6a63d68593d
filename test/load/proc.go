package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// memory is what /proc/<pid>/status says about resident memory, in KiB.
type memory struct {
	rss int64 // VmRSS: resident now
	hwm int64 // VmHWM: peak resident since start
}

func readMemory(pid int) (memory, error) {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return memory{}, fmt.Errorf("no process with pid %d", pid)
		}
		return memory{}, err
	}
	defer f.Close()
	return parseStatus(f)
}

// parseStatus reads the VmRSS and VmHWM lines ("VmRSS:\t  1234 kB").
func parseStatus(r io.Reader) (memory, error) {
	var m memory
	var seenRSS bool
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) != 2 || fields[1] != "kB" {
			return memory{}, fmt.Errorf("unexpected %s line %q", name, sc.Text())
		}
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil || n < 0 {
			return memory{}, fmt.Errorf("unexpected %s value %q", name, fields[0])
		}
		if name == "VmRSS" {
			m.rss, seenRSS = n, true
		} else {
			m.hwm = n
		}
	}
	if err := sc.Err(); err != nil {
		return memory{}, err
	}
	if !seenRSS {
		// Kernel threads and zombies have no VmRSS line.
		return memory{}, errors.New("no VmRSS line (kernel thread or exited process?)")
	}
	return m, nil
}

// userHZ is the unit of the CPU times in /proc/<pid>/stat. The kernel
// reports them in USER_HZ, which is 100 on every Linux architecture Go
// supports, whatever the kernel's internal tick rate.
const userHZ = 100

// readCPU returns the user plus system CPU time a process (all its threads)
// has used so far.
func readCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	return parseStat(b)
}

// parseStat reads utime and stime, fields 14 and 15 of /proc/<pid>/stat.
// The command name (field 2) may hold spaces and parentheses, so fields
// are counted from its closing parenthesis.
func parseStat(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc/<pid>/stat: no command name")
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 13 {
		return 0, errors.New("unexpected /proc/<pid>/stat: too few fields")
	}
	var ticks int64
	for _, f := range fields[11:13] { // fields[0] is field 3 (state)
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("unexpected /proc/<pid>/stat CPU time %q", f)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

func runIdleRSS(_ context.Context, args []string, errOut io.Writer) (*result, error) {
	fs := newFlagSet("idle-rss", errOut)
	pid := fs.Int("pid", 0, "process id to read /proc/<pid>/status of")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if *pid <= 0 {
		return nil, fmt.Errorf("%w: -pid is required and must be positive", errUsage)
	}
	res := &result{Scenario: "idle-rss", PID: *pid}
	m, err := readMemory(*pid)
	if err != nil {
		return res, err
	}
	res.RSSKiB, res.HWMKiB = m.rss, m.hwm
	return res, nil
}

// rssSampler polls a process's VmRSS and keeps the highest value; it also
// notes the CPU time the process used while it ran.
type rssSampler struct {
	pid      int
	cpuStart time.Duration
	max      atomic.Int64
	quit     chan struct{}
	wg       sync.WaitGroup
}

func startRSSSampler(pid int, every time.Duration) (*rssSampler, error) {
	m, err := readMemory(pid)
	if err != nil {
		return nil, fmt.Errorf("-pid: %w", err)
	}
	cpu, err := readCPU(pid)
	if err != nil {
		return nil, fmt.Errorf("-pid: %w", err)
	}
	s := &rssSampler{pid: pid, cpuStart: cpu, quit: make(chan struct{})}
	s.max.Store(m.rss)
	s.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.quit:
				return
			case <-t.C:
				if m, err := readMemory(pid); err == nil && m.rss > s.max.Load() {
					s.max.Store(m.rss)
				}
			}
		}
	})
	return s, nil
}

// stop ends sampling and returns the highest VmRSS seen, in KiB, and the
// CPU time used since the start (-1 if the process is gone).
func (s *rssSampler) stop() (int64, time.Duration) {
	close(s.quit)
	s.wg.Wait()
	cpu, err := readCPU(s.pid)
	if err != nil {
		return s.max.Load(), -1
	}
	return s.max.Load(), cpu - s.cpuStart
}

func runStartup(ctx context.Context, args []string, errOut io.Writer) (*result, error) {
	fs := newFlagSet("startup", errOut)
	ready := fs.String("ready", "", "URL that answers 200 once the server is ready, e.g. http://127.0.0.1:4434/health/ready (loopback only)")
	runs := fs.Int("runs", 5, "how many times to start the command")
	interval := fs.Duration("interval", 5*time.Millisecond, "how often to poll -ready")
	timeout := fs.Duration("timeout", 30*time.Second, "give up on a run after this long")
	dataRoot := fs.String("data-root", "", "if set, each run gets LANYARD_DATA_DIR=<data-root>/run-N, a fresh directory")
	fs.Usage = func() {
		fmt.Fprintln(errOut, "usage: load startup -ready URL [flags] -- command [args...]")
		fs.PrintDefaults()
	}
	// Flags stop at "--"; the rest is the command to start.
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	command := fs.Args()
	switch {
	case len(command) == 0:
		return nil, fmt.Errorf("%w: give the command to start after --", errUsage)
	case *runs < 1 || *runs > 100:
		return nil, fmt.Errorf("%w: -runs must be between 1 and 100", errUsage)
	case *interval <= 0 || *timeout <= 0:
		return nil, fmt.Errorf("%w: -interval and -timeout must be positive", errUsage)
	}
	u, err := parseTarget("ready", *ready)
	if err != nil {
		return nil, err
	}
	readyURL := u.String()

	res := &result{Scenario: "startup", Target: readyURL}
	res.notes = append(res.notes, fmt.Sprintf("time from exec to the first 200 from -ready, polled every %s", *interval))
	hc := newClient(1, time.Second)
	defer hc.CloseIdleConnections()
	if answersOK(ctx, hc, readyURL) {
		return res, fmt.Errorf("%s already answers before the command starts: something else listens there", readyURL)
	}
	for i := range *runs {
		env := os.Environ()
		var logPath string
		if *dataRoot != "" {
			dir := filepath.Join(*dataRoot, fmt.Sprintf("run-%d", i+1))
			if _, err := os.Stat(dir); err == nil {
				return res, fmt.Errorf("%s exists: -data-root must give fresh directories", dir)
			}
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return res, err
			}
			env = append(env, "LANYARD_DATA_DIR="+dir)
			logPath = filepath.Join(*dataRoot, fmt.Sprintf("run-%d.log", i+1))
		}
		d, err := startOnce(ctx, hc, command, env, logPath, readyURL, *interval, *timeout)
		if err != nil {
			return res, fmt.Errorf("run %d: %w", i+1, err)
		}
		res.RunsMS = append(res.RunsMS, ms(d))
	}
	sorted := slices.Clone(res.RunsMS)
	slices.Sort(sorted)
	if len(sorted)%2 == 1 {
		res.MedianMS = sorted[len(sorted)/2]
	} else {
		res.MedianMS = round3((sorted[len(sorted)/2-1] + sorted[len(sorted)/2]) / 2)
	}
	return res, nil
}

// startOnce starts command, polls readyURL until it answers 200 and stops
// the process again with SIGTERM (SIGKILL if it lingers).
func startOnce(ctx context.Context, hc *http.Client, command, env []string, logPath, readyURL string, interval, timeout time.Duration) (time.Duration, error) {
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if logPath != "" {
			_ = os.WriteFile(logPath, out.Bytes(), 0o600)
		}
	}

	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if answersOK(ctx, hc, readyURL) {
			d := time.Since(start)
			stop()
			return d, nil
		}
		select {
		case err := <-exited:
			// out is no longer written once Wait has returned.
			return 0, fmt.Errorf("the command exited before it was ready (%v); output:\n%s", err, snippet(out.Bytes()))
		case <-deadline.C:
			stop()
			return 0, fmt.Errorf("not ready after %s; output:\n%s", timeout, snippet(out.Bytes()))
		case <-ctx.Done():
			stop()
			return 0, ctx.Err()
		case <-tick.C:
		}
	}
}

func answersOK(ctx context.Context, hc *http.Client, u string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
