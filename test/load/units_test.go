package main

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestPercentileNearestRank(t *testing.T) {
	d := make([]time.Duration, 100)
	for i := range d {
		d[i] = time.Duration(100-i) * time.Millisecond // unsorted on purpose
	}
	got := summarize(d)
	want := latencySummary{P50: 50, P90: 90, P99: 99, Max: 100}
	if got != want {
		t.Errorf("summarize = %+v, want %+v", got, want)
	}
	if one := summarize([]time.Duration{1500 * time.Microsecond}); one.P50 != 1.5 || one.Max != 1.5 {
		t.Errorf("single sample: %+v", one)
	}
	if empty := summarize(nil); empty != (latencySummary{}) {
		t.Errorf("empty: %+v", empty)
	}
}

func TestSortedStatuses(t *testing.T) {
	got := sortedStatuses(map[string]int{"timeout": 1, "500": 1, "201": 1, "connection reset": 1, "404": 1})
	want := "201,404,500,connection reset,timeout"
	if strings.Join(got, ",") != want {
		t.Errorf("got %v, want %s", got, want)
	}
}

func TestParseTarget(t *testing.T) {
	for _, ok := range []string{"http://127.0.0.1:4434", "http://127.0.0.1:4434/", "http://localhost:1/base/", "https://[::1]:443", "http://127.1.2.3"} {
		u, err := parseTarget("admin", ok)
		if err != nil {
			t.Errorf("%s: %v", ok, err)
			continue
		}
		if strings.HasSuffix(u.String(), "/") {
			t.Errorf("%s: trailing slash kept: %s", ok, u)
		}
	}
	for _, bad := range []string{"", "127.0.0.1:4434", "ftp://127.0.0.1", "http://10.0.0.1", "http://example.org", "http://0.0.0.0:4434", "http://127.0.0.1/?x=1", "http://%zz"} {
		if _, err := parseTarget("admin", bad); !errors.Is(err, errUsage) {
			t.Errorf("%q: err = %v, want a usage error", bad, err)
		}
	}
}

func TestLoopbackOnly(t *testing.T) {
	if err := loopbackOnly("tcp", "127.0.0.1:80", nil); err != nil {
		t.Error(err)
	}
	if err := loopbackOnly("tcp6", "[::1]:80", nil); err != nil {
		t.Error(err)
	}
	for _, addr := range []string{"192.168.1.1:80", "[2001:db8::1]:80", "nonsense"} {
		if err := loopbackOnly("tcp", addr, nil); err == nil {
			t.Errorf("%s accepted", addr)
		}
	}
}

func TestBoundsValidate(t *testing.T) {
	if err := (bounds{n: 1}).validate(1); err != nil {
		t.Error(err)
	}
	if err := (bounds{d: time.Second}).validate(8); err != nil {
		t.Error(err)
	}
	for _, tc := range []struct {
		b bounds
		c int
	}{{bounds{}, 1}, {bounds{n: 1}, 0}, {bounds{n: -1}, 1}, {bounds{d: -1}, 1}, {bounds{n: 1}, 5000}} {
		if err := tc.b.validate(tc.c); !errors.Is(err, errUsage) {
			t.Errorf("%+v c=%d: err = %v", tc.b, tc.c, err)
		}
	}
}

func TestParseStatus(t *testing.T) {
	const status = "Name:\tlanyard\nVmPeak:\t 1000 kB\nVmHWM:\t   30000 kB\nVmRSS:\t   28108 kB\nThreads:\t7\n"
	m, err := parseStatus(strings.NewReader(status))
	if err != nil {
		t.Fatal(err)
	}
	if m.rss != 28108 || m.hwm != 30000 {
		t.Errorf("got %+v", m)
	}
	for _, bad := range []string{"Name:\tkthreadd\n", "VmRSS:\t12 MB\n", "VmRSS:\tx kB\n", "VmRSS:\t-5 kB\n"} {
		if _, err := parseStatus(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestReadMemoryOfSelf(t *testing.T) {
	m, err := readMemory(os.Getpid())
	if err != nil {
		t.Fatalf("reading /proc (the load tool measures Linux processes): %v", err)
	}
	if m.rss <= 0 {
		t.Errorf("VmRSS of this test = %d KiB", m.rss)
	}
	if _, err := readMemory(1 << 30); err == nil {
		t.Error("a pid that cannot exist was read")
	}
}

func TestDescribeBody(t *testing.T) {
	for body, want := range map[string]string{
		`{"error":{"id":"session_inactive","code":401,"message":"no session","reason":"expired"}}`:                                   "error: session_inactive: no session (expired)",
		`{"id":"f","ui":{"messages":[{"id":4000006,"text":"bad creds"}],"nodes":[{"messages":[{"id":4000002,"text":"required"}]}]}}`: `flow messages: 4000006 "bad creds"; 4000002 "required"`,
		`not json`: "not json",
		``:         "(empty body)",
	} {
		if got := describeBody([]byte(body)); got != want {
			t.Errorf("describeBody(%s) = %q, want %q", body, got, want)
		}
	}
	if got := describeBody([]byte(strings.Repeat("x", 1000))); len(got) > 310 {
		t.Errorf("long body not shortened: %d bytes", len(got))
	}
}

func TestParseStat(t *testing.T) {
	// The command name holds a space and a parenthesis on purpose.
	const stat = "1234 (lan yard) x) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 150 0 0 20 0 9 0 100 1000000 7000 18446744073709551615"
	cpu, err := parseStat([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	if cpu != 4*time.Second {
		t.Errorf("cpu = %s, want 4s (400 ticks)", cpu)
	}
	for _, bad := range []string{"", "1234 (x) S 1 2", "1234 (x) S 1 1 1 0 -1 0 0 0 0 0 abc 1 0"} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if _, err := readCPU(os.Getpid()); err != nil {
		t.Fatalf("reading /proc (the load tool measures Linux processes): %v", err)
	}
}
