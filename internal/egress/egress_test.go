package egress

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestPrivate(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1": true, "127.8.9.10": true, "::1": true,
		"10.1.2.3": true, "172.16.0.1": true, "172.31.255.255": true, "192.168.1.1": true,
		"fc00::1": true, "fd12:3456::1": true,
		"169.254.169.254": true, "fe80::1": true,
		"0.0.0.0": true, "::": true, "0.1.2.3": true,
		"100.64.0.1": true, "100.127.255.254": true,
		"::ffff:127.0.0.1": true, "::ffff:10.0.0.1": true, "::ffff:169.254.169.254": true,
		"64:ff9b::7f00:1": true, "64:ff9b::a00:1": true,
		"224.0.0.1": true, "ff02::1": true, "255.255.255.255": true,
		"8.8.8.8": false, "1.1.1.1": false, "100.128.0.1": false, "172.32.0.1": false,
		"2606:4700:4700::1111": false, "::ffff:8.8.8.8": false, "64:ff9b::808:808": false,
	} {
		if got := Private(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Private(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestRefusePrivateDialControl(t *testing.T) {
	for addr, refused := range map[string]bool{"127.0.0.1:80": true, "[::1]:443": true, "[::ffff:192.168.0.1]:80": true, "93.184.216.34:443": false, "not-an-ip:80": true} {
		err := RefusePrivate("tcp", addr, nil)
		if refused != errors.Is(err, ErrPrivateAddress) {
			t.Errorf("RefusePrivate(%s) = %v", addr, err)
		}
	}
}

func TestExceptionGlobs(t *testing.T) {
	cases := []struct {
		glob, url string
		want      bool
	}{
		{"http://127.0.0.1:4000/hook", "http://127.0.0.1:4000/hook", true},
		{"http://127.0.0.1:4000/hook", "http://127.0.0.1:4000/hook?token=x#f", true},
		{"http://127.0.0.1:4000/hook", "http://127.0.0.1:4000/hook/more", false},
		{"http://127.0.0.1:4000/hook", "http://127.0.0.1:4000/Hook", false},
		{"http://127.0.0.1:4000/exception/*", "http://127.0.0.1:4000/exception/foo", true},
		{"http://127.0.0.1:4000/exception/*", "http://127.0.0.1:4000/exception/foo/bar", false},
		{"http://127.0.0.1:4000/exception/**", "http://127.0.0.1:4000/exception/foo/bar", true},
		{"http://*.internal/hook", "http://a.internal/hook", true},
		{"http://*.internal/hook", "http://a.b.internal/hook", false},
		{"http://{a,b}.internal/h?", "http://b.internal/h1", true},
		{"http://[ab].internal/h", "http://c.internal/h", false},
		{"http://[!ab].internal/h", "http://c.internal/h", true},
		{"http://[a-c].internal/h", "http://b.internal/h", true},
		{`http://x.internal/\*`, "http://x.internal/*", true},
		{`http://x.internal/\*`, "http://x.internal/a", false},
		{"http://x.internal/a+b", "http://x.internal/a+b", true},
		{"http://x.internal/a+b", "http://x.internal/aab", false},
	}
	for _, c := range cases {
		g, err := New(true, []string{c.glob})
		if err != nil {
			t.Fatalf("New(%q): %v", c.glob, err)
		}
		if got := g.Excepted(c.url); got != c.want {
			t.Errorf("%q matches %q = %v, want %v", c.glob, c.url, got, c.want)
		}
	}
	for _, bad := range []string{"http://x/{a,b", "http://x/[ab", `http://x/\`, "http://x/[]"} {
		if _, err := New(true, []string{bad}); err == nil {
			t.Errorf("New(%q) accepted an invalid glob", bad)
		}
	}
}

func TestOffGuardIsNil(t *testing.T) {
	g, err := New(false, []string{"http://x/{"})
	if err != nil || g != nil {
		t.Fatalf("New(false) = %v, %v", g, err)
	}
	if !g.Excepted("http://127.0.0.1/") {
		t.Error("a nil guard refuses nothing")
	}
	if c := g.Client(time.Second); c.Transport != nil || c.Timeout != time.Second {
		t.Errorf("nil guard's client = %+v", c)
	}
}

func TestClientRefusesLoopbackUnlessExcepted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/private", http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	g, err := New(true, []string{srv.URL + "/allowed", srv.URL + "/redirect"})
	if err != nil {
		t.Fatal(err)
	}
	c := g.Client(5 * time.Second)
	if _, err := c.Get(srv.URL + "/private"); !errors.Is(err, ErrPrivateAddress) {
		t.Errorf("a loopback call was not refused: %v", err)
	}
	// The error names no more than the address dialled.
	if _, err := c.Get(srv.URL + "/private?api_key=s3cret"); err != nil && strings.Contains(errors.Unwrap(err).Error(), "s3cret") {
		t.Errorf("the dial error repeats the query: %v", err)
	}
	res, err := c.Get(srv.URL + "/allowed?x=1")
	if err != nil || res.StatusCode != http.StatusNoContent {
		t.Fatalf("an excepted URL: %v %v", res, err)
	}
	res.Body.Close()
	// A redirect from an excepted URL to one that is not is dialled and
	// refused again.
	if _, err := c.Get(srv.URL + "/redirect"); !errors.Is(err, ErrPrivateAddress) {
		t.Errorf("the redirect to a private URL was followed: %v", err)
	}
	// A name that resolves to loopback is refused after resolution.
	u := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/private"
	if _, err := c.Get(u); !errors.Is(err, ErrPrivateAddress) {
		t.Errorf("localhost was not refused: %v", err)
	}
}
