package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/courier"
	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
	"github.com/lanyard-id/lanyard/test/testserver"
)

// TestCourierWatch_ExposesMetrics runs `courier watch` in this process
// against an SMTP address nobody listens on: the metrics port shows the
// message waiting in the queue and the failed attempts, beside the Go and
// process collectors and the health checks.
func TestCourierWatch_ExposesMetrics(t *testing.T) {
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			dsn := storetest.DSN(t, d)
			cfg := testserver.BaseConfig(dsn, testserver.FreePort(t), testserver.FreePort(t))
			cfg["courier"] = map[string]any{
				"smtp":   map[string]any{"connection_uri": "smtp://127.0.0.1:" + watchClosedPort(t) + "/?disable_starttls=true"},
				"worker": map[string]any{"pull_wait": "50ms"},
			}
			dir := t.TempDir()
			path := filepath.Join(dir, "lanyard.yml")
			if err := os.WriteFile(path, testserver.RenderYAML(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			opts := config.LoadOptions{Files: []string{path}, LookupEnv: func(string) (string, bool) { return "", false }, WorkDir: dir}
			port := testserver.FreePort(t)
			base := fmt.Sprintf("http://127.0.0.1:%d", port)

			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- watchCourier(ctx, opts, port) }()
			t.Cleanup(func() {
				cancel()
				if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
					t.Errorf("courier watch: %v", err)
				}
			})
			watchWait(t, "the worker's health check", func() bool { return watchStatus(t, base+"/health/ready") == http.StatusOK })
			if watchStatus(t, base+"/health/alive") != http.StatusOK {
				t.Error("/health/alive is not 200")
			}

			watchQueue(t, opts, "watch@example.org")
			var body string
			watchWait(t, "a failed send and a queued message in the metrics", func() bool {
				body = watchScrape(t, base+"/metrics/prometheus")
				return strings.Contains(body, `lanyard_courier_messages{status="queued"} 1`) &&
					watchPositive(body, `lanyard_courier_sends_total{result="failed"}`)
			})
			for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", `lanyard_courier_messages{status="sent"} 0`} {
				if !strings.Contains(body, name) {
					t.Errorf("the scrape has no %s:\n%s", name, body)
				}
			}
			if strings.Contains(body, "watch@example.org") {
				t.Error("the scrape names the recipient")
			}
		})
	}
}

func TestCourierWatch_RefusesBadPort(t *testing.T) {
	for _, port := range []int{-1, 65536} {
		err := watchCourier(context.Background(), config.LoadOptions{}, port)
		if err == nil || !strings.Contains(err.Error(), "--expose-metrics-port") {
			t.Errorf("port %d: error %v, want one naming --expose-metrics-port", port, err)
		}
	}
}

// watchClosedPort is a loopback port that was free a moment ago.
func watchClosedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	return port
}

// watchQueue queues one email through a store handle of its own, as an
// API process sharing the database would.
func watchQueue(t *testing.T, opts config.LoadOptions, to string) {
	t.Helper()
	cfg, _, err := config.Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, cfg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := courier.New(cfg.Courier, cfg.Dev, db)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Write(ctx, func(q *store.Q) error {
		_, err := c.Enqueue(ctx, q, courier.Message{Template: courier.VerificationCodeValid, To: to, Code: "123456"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func watchStatus(t *testing.T, url string) int {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

func watchScrape(t *testing.T, url string) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, res.StatusCode, err)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want the text format", ct)
	}
	return string(b)
}

// watchPositive reports whether the text format has series with a value
// above zero.
func watchPositive(body, series string) bool {
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v != "0"
		}
	}
	return false
}

func watchWait(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 30s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
