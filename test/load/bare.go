package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// runBareServer serves, until interrupted, the bytes a real whoami answered:
// the same status, headers and body from a net/http handler that does
// nothing else. Measured with the whoami scenario like Lanyard itself, it
// is the ceiling whoami's figures are compared with: what this machine's
// HTTP stack, loopback and load generator allow.
func runBareServer(ctx context.Context, args []string, errOut io.Writer) (*result, error) {
	fs := newFlagSet("bare-server", errOut)
	listen := fs.String("listen", "127.0.0.1:0", "loopback address to serve on")
	public := fs.String("copy", "", "public API base URL of a running Lanyard whose whoami answer is copied (loopback only)")
	token := fs.String("token", "", "session token for that one whoami (default: $LANYARD_SESSION_TOKEN); never printed")
	ready := fs.String("ready-file", "", "write the listening address to this file once serving")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	base, err := parseTarget("copy", *public)
	if err != nil {
		return nil, err
	}
	if *token == "" {
		*token = os.Getenv("LANYARD_SESSION_TOKEN")
	}
	if *token == "" {
		return nil, fmt.Errorf("%w: -token (or $LANYARD_SESSION_TOKEN) is required", errUsage)
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil || !isLoopbackHost(host) {
		return nil, fmt.Errorf("%w: -listen must be a loopback host:port", errUsage)
	}

	answer, err := copyWhoami(ctx, base.String()+"/sessions/whoami", *token)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return nil, err
	}
	if *ready != "" {
		if err := os.WriteFile(*ready, []byte(ln.Addr().String()), 0o600); err != nil {
			ln.Close()
			return nil, err
		}
	}
	var served atomic.Int64
	srv := &http.Server{
		// The same limits as Lanyard's listeners, so that only the
		// handler differs.
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			for k, v := range answer.header {
				h[k] = v
			}
			w.WriteHeader(answer.status)
			_, _ = w.Write(answer.body)
			served.Add(1)
		}),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		return nil, err
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return nil, err
	}
	return &result{Scenario: "bare-server", Target: "http://" + ln.Addr().String(), Operations: int(served.Load()),
		OK: int(served.Load()), Unit: "requests served"}, nil
}

type copiedAnswer struct {
	status int
	header http.Header
	body   []byte
}

// copyWhoami fetches one whoami answer, keeping the headers a server sets
// itself (Date, Content-Length) out: net/http adds its own.
func copyWhoami(ctx context.Context, target, token string) (*copiedAnswer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Session-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fatalf("copying whoami: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fatalf("copying whoami: status %d", resp.StatusCode)
	}
	h := resp.Header.Clone()
	h.Del("Date")
	h.Del("Content-Length")
	return &copiedAnswer{status: resp.StatusCode, header: h, body: body}, nil
}
