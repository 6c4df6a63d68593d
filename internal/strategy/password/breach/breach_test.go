package breach

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var ctx = context.Background()

// rangeServer is a Pwned Passwords range API over a fixed table of
// passwords and counts, recording every request path it sees.
type rangeServer struct {
	*httptest.Server
	mu    sync.Mutex
	paths []string
	// lines are extra raw lines per prefix, for odd formats.
	lines map[string][]string
}

func hashOf(password string) (prefix, suffix string) {
	sum := sha1.Sum([]byte(password))
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	return h[:5], h[5:]
}

func newRangeServer(t *testing.T, counts map[string]string) *rangeServer {
	t.Helper()
	rs := &rangeServer{lines: map[string][]string{}}
	for password, count := range counts {
		p, s := hashOf(password)
		rs.lines[p] = append(rs.lines[p], s+count)
	}
	rs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs.mu.Lock()
		rs.paths = append(rs.paths, r.URL.RequestURI())
		lines := rs.lines[strings.TrimPrefix(r.URL.Path, "/range/")]
		rs.mu.Unlock()
		if !strings.HasPrefix(r.URL.Path, "/range/") || r.Header.Get("Add-Padding") != "true" {
			http.NotFound(w, r)
			return
		}
		// Other suffixes and padding around the real ones, CRLF as the API sends.
		fmt.Fprint(w, "0000000000000000000000000000000000A:12\r\n")
		for _, l := range lines {
			fmt.Fprint(w, l+"\r\n")
		}
		fmt.Fprint(w, "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF:0")
	}))
	t.Cleanup(rs.Close)
	return rs
}

func (rs *rangeServer) requests() []string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]string(nil), rs.paths...)
}

func newClient(t *testing.T, host string, o Options) *Client {
	t.Helper()
	c, err := New(host, o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCheckCounts(t *testing.T) {
	rs := newRangeServer(t, map[string]string{
		"password1":       ":2,413,945",
		"hunter2":         ":17",
		"listed no count": "",
		"padding only":    ":0",
	})
	c := newClient(t, rs.URL, Options{})
	for password, want := range map[string]int{
		"password1":              2413945,
		"hunter2":                17,
		"listed no count":        1,
		"padding only":           0,
		"a passphrase never hit": 0,
	} {
		got, err := c.Check(ctx, password)
		if err != nil || got != want {
			t.Errorf("Check(%q) = %d, %v; want %d", password, got, err, want)
		}
	}
	// k-anonymity: each request names a 5-character upper-case hex prefix and nothing else.
	for _, path := range rs.requests() {
		prefix, ok := strings.CutPrefix(path, "/range/")
		if !ok || len(prefix) != 5 || strings.ToUpper(prefix) != prefix {
			t.Errorf("request %q is not /range/<5 hex>", path)
		}
		if _, err := hex.DecodeString(prefix + "0"); err != nil {
			t.Errorf("request %q: prefix is not hex", path)
		}
	}
}

func TestSuffixMustMatchExactly(t *testing.T) {
	prefix, suffix := hashOf("hunter2")
	rs := newRangeServer(t, nil)
	rs.mu.Lock()
	rs.lines[prefix] = []string{
		suffix[:34] + ":99",                    // one digit short
		suffix[:34] + "0:98",                   // another hash
		strings.ToLower(suffix) + ":5",         // the right one, in lower case
		"not-a-suffix-at-all-xxxxxxxxxxxxxx:7", // garbage
	}
	rs.mu.Unlock()
	c := newClient(t, rs.URL, Options{})
	if n, err := c.Check(ctx, "hunter2"); err != nil || n != 5 {
		t.Errorf("Check = %d, %v; want 5", n, err)
	}
}

func TestParseCount(t *testing.T) {
	for in, want := range map[string]int{
		"0": 0, "1": 1, "1,234": 1234, " 42 ": 42, "junk": 1, "-3": 1,
		"99999999999999999999999": 1<<31 - 1,
	} {
		if got := parseCount(in); got != want {
			t.Errorf("parseCount(%q) = %d; want %d", in, got, want)
		}
	}
}

func TestCache(t *testing.T) {
	rs := newRangeServer(t, map[string]string{"hunter2": ":17"})
	c := newClient(t, rs.URL, Options{CacheSize: 2, CacheTTL: time.Hour})
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c.cache.now = func() time.Time { return now }

	for range 3 {
		if n, err := c.Check(ctx, "hunter2"); err != nil || n != 17 {
			t.Fatalf("Check = %d, %v", n, err)
		}
	}
	if got := len(rs.requests()); got != 1 {
		t.Errorf("%d requests for one prefix; want 1 (cached)", got)
	}

	// After the TTL the range is asked for again.
	now = now.Add(time.Hour)
	if _, err := c.Check(ctx, "hunter2"); err != nil {
		t.Fatal(err)
	}
	if got := len(rs.requests()); got != 2 {
		t.Errorf("%d requests after the TTL; want 2", got)
	}

	// The size bound: the oldest prefix goes first.
	for _, p := range []string{"second password", "third password"} {
		if _, err := c.Check(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if c.cache.len() != 2 {
		t.Errorf("cache holds %d prefixes; bound 2", c.cache.len())
	}
	before := len(rs.requests())
	if _, err := c.Check(ctx, "third password"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Check(ctx, "hunter2"); err != nil {
		t.Fatal(err)
	}
	if got := len(rs.requests()) - before; got != 1 {
		t.Errorf("%d requests for a kept and an evicted prefix; want 1", got)
	}
}

func TestFailuresAreUnavailable(t *testing.T) {
	prefix, suffix := hashOf("hunter2")
	noLeak := func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("error %v does not wrap ErrUnavailable", err)
		}
		if err != nil && (strings.Contains(strings.ToUpper(err.Error()), prefix) || strings.Contains(err.Error(), suffix) || strings.Contains(err.Error(), "hunter2")) {
			t.Errorf("error %q names the password or its hash", err)
		}
	}
	serve := func(t *testing.T, h http.HandlerFunc) string {
		s := httptest.NewServer(h)
		t.Cleanup(s.Close)
		return s.URL
	}

	for _, status := range []int{http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusNotFound, http.StatusFound} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			url := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Location", "/elsewhere")
				w.WriteHeader(status)
			})
			n, err := newClient(t, url, Options{}).Check(ctx, "hunter2")
			if n != 0 {
				t.Errorf("count %d", n)
			}
			noLeak(t, err)
		})
	}

	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		url := serve(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		})
		defer close(release)
		_, err := newClient(t, url, Options{Timeout: 50 * time.Millisecond}).Check(ctx, "hunter2")
		noLeak(t, err)
	})

	t.Run("refused", func(t *testing.T) {
		s := httptest.NewServer(http.NotFoundHandler())
		url := s.URL
		s.Close()
		_, err := newClient(t, url, Options{}).Check(ctx, "hunter2")
		noLeak(t, err)
	})

	t.Run("too large", func(t *testing.T) {
		url := serve(t, func(w http.ResponseWriter, r *http.Request) {
			line := strings.Repeat("A", 35) + ":1\r\n"
			for range maxBody/len(line) + 2 {
				fmt.Fprint(w, line)
			}
		})
		_, err := newClient(t, url, Options{}).Check(ctx, "hunter2")
		noLeak(t, err)
	})

	t.Run("not cached", func(t *testing.T) {
		var calls atomic.Int32
		url := serve(t, func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			w.WriteHeader(http.StatusBadGateway)
		})
		c := newClient(t, url, Options{})
		_, _ = c.Check(ctx, "hunter2")
		_, _ = c.Check(ctx, "hunter2")
		if n := calls.Load(); n != 2 {
			t.Errorf("%d calls: a failure must not be cached", n)
		}
	})
}

func TestParseHost(t *testing.T) {
	for in, want := range map[string]string{
		"api.pwnedpasswords.com":       "https://api.pwnedpasswords.com",
		"hibp.internal:8443":           "https://hibp.internal:8443",
		"http://127.0.0.1:9999":        "http://127.0.0.1:9999",
		"https://mirror.example/hibp/": "https://mirror.example/hibp",
		" https://mirror.example ":     "https://mirror.example",
		"http://[::1]:8080":            "http://[::1]:8080",
	} {
		got, err := ParseHost(in)
		if err != nil || got != want {
			t.Errorf("ParseHost(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "ftp://example.org", "https://", "https://u:p@example.org", "https://example.org/?x=1", "https://example.org/#f", "http://exa mple.org"} {
		if got, err := ParseHost(bad); err == nil {
			t.Errorf("ParseHost(%q) = %q; want an error", bad, got)
		}
	}
}
