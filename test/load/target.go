package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// parseTarget checks that raw is an http(s) URL of a loopback host and
// returns it without a trailing slash, ready for appending paths.
func parseTarget(flagName, raw string) (*url.URL, error) {
	if raw == "" {
		return nil, fmt.Errorf("%w: -%s is required", errUsage, flagName)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: -%s: %v", errUsage, flagName, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%w: -%s %q: want an http:// or https:// URL", errUsage, flagName, raw)
	}
	if !isLoopbackHost(u.Hostname()) {
		return nil, fmt.Errorf("%w: -%s %q: only loopback hosts (127.0.0.0/8, ::1, localhost) may be targeted", errUsage, flagName, raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%w: -%s %q: give the base URL without query or fragment", errUsage, flagName, raw)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

var errNotLoopback = errors.New("refusing to connect to a non-loopback address")

// loopbackOnly runs just before each connect: whatever a name resolved to,
// the socket may only reach this machine.
func loopbackOnly(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%w: %s", errNotLoopback, address)
	}
	return nil
}

// newClient returns a client that keeps one idle connection per worker,
// never uses a proxy, never follows redirects and only dials loopback.
func newClient(workers int, timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, Control: loopbackOnly}
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         dialer.DialContext,
		MaxIdleConns:        workers + 4,
		MaxIdleConnsPerHost: workers + 4,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		TLSHandshakeTimeout: 5 * time.Second,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
