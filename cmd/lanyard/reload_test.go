package main

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/lanyard-id/lanyard/internal/config"
)

func testConfig(port int, lifespan string) *config.Config {
	c := &config.Config{DSN: "postgres://db/one"}
	c.Serve.Public = config.Listener{Host: "127.0.0.1", Port: port, BaseURL: &url.URL{Scheme: "http", Host: "127.0.0.1:" + lifespan, Path: "/"}}
	c.Serve.Admin = config.Listener{Port: 4434, BaseURL: &url.URL{Scheme: "http", Host: "127.0.0.1:4434", Path: "/"}}
	c.Revision = lifespan
	return c
}

func TestKeepFixedCopiesKeysThatNeedARestart(t *testing.T) {
	old, next := testConfig(4433, "a"), testConfig(5555, "a")
	next.DSN = "postgres://db/two"
	next.Log.Level = "debug"
	next.Courier.SMTP.ConnectionURI = "smtp://mail:25"
	next.Selfservice.Flows.Login.UIURL = "https://app.example/login" // a live key
	kept := keepFixed(old, next)
	if got, want := strings.Join(kept, ", "), "dsn, serve.public.port, log.*, courier.*"; got != want {
		t.Errorf("named %q, want %q", got, want)
	}
	if next.DSN != old.DSN || next.Serve.Public.Port != 4433 || next.Log.Level != "" || next.Courier.SMTP.ConnectionURI != "" {
		t.Errorf("fixed keys not restored: dsn %q port %d log %q smtp %q", next.DSN, next.Serve.Public.Port, next.Log.Level, next.Courier.SMTP.ConnectionURI)
	}
	if next.Selfservice.Flows.Login.UIURL != "https://app.example/login" {
		t.Error("a live key was reset")
	}
	// A base URL that changed with its listener's port is not named twice;
	// one that changed alone is.
	moved := testConfig(4433, "b")
	if kept := keepFixed(old, moved); strings.Join(kept, ",") != "serve.public.base_url" || moved.Serve.Public.BaseURL != old.Serve.Public.BaseURL {
		t.Errorf("a changed base URL: named %v, kept %v", kept, moved.Serve.Public.BaseURL)
	}
	if kept := keepFixed(old, testConfig(4433, "a")); len(kept) != 0 {
		t.Errorf("no fixed key changed, but named %v", kept)
	}
}

func captureLogs(t *testing.T) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	return &buf
}

func answering(body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, body) })
}

func get(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	return rec.Body.String()
}

func TestReloaderSwapsHandlersOrKeepsTheOldOnes(t *testing.T) {
	logs := captureLogs(t)
	public, admin := newSwapHandler(answering("public a")), newSwapHandler(answering("admin a"))
	var builtWith *config.Config
	failBuild := false
	r := &reloader{current: testConfig(4433, "a"), public: public, admin: admin,
		build: func(c *config.Config) (http.Handler, http.Handler, error) {
			if failBuild {
				return nil, nil, errors.New("identity schema \"default\": not found")
			}
			builtWith = c
			return answering("public " + c.Revision), answering("admin " + c.Revision), nil
		}}

	r.changed(testConfig(4433, "b"), []string{"config key \"x\" is not supported"})
	if get(t, public) != "public b" || get(t, admin) != "admin b" || r.current.Revision != "b" {
		t.Fatalf("after a valid change: public %q, admin %q", get(t, public), get(t, admin))
	}
	if !strings.Contains(logs.String(), "applied the changed config") || !strings.Contains(logs.String(), `is not supported`) {
		t.Errorf("logs: %s", logs)
	}

	logs.Reset()
	r.changed(testConfig(6666, "c"), []string{"config key \"x\" is not supported"})
	if builtWith.Serve.Public.Port != 4433 || get(t, public) != "public c" {
		t.Errorf("built with port %d, answer %q", builtWith.Serve.Public.Port, get(t, public))
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "serve.public.port") {
		t.Errorf("no warning naming serve.public.port: %s", logs)
	}
	if strings.Contains(logs.String(), "is not supported") {
		t.Errorf("a load warning was repeated: %s", logs)
	}

	logs.Reset()
	failBuild = true
	r.changed(testConfig(4433, "d"), nil)
	if get(t, public) != "public c" || r.current.Revision != "c" {
		t.Errorf("a config that fails to build was applied: %q", get(t, public))
	}
	if n := strings.Count(logs.String(), "level=ERROR"); n != 1 || !strings.Contains(logs.String(), "not found") {
		t.Errorf("want one error line naming the problem: %s", logs)
	}

	logs.Reset()
	r.refused(errors.New(`config key "serve.public.port": 0 is less than 1`))
	if n := strings.Count(strings.TrimSpace(logs.String()), "\n"); n != 0 || !strings.Contains(logs.String(), "serve.public.port") {
		t.Errorf("want one log line naming the problem: %s", logs)
	}
}

func TestSwapHandlerLeavesRequestsInFlightOnTheirHandler(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	old := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "old")
	})
	s := newSwapHandler(old)
	answer := make(chan string)
	go func() { answer <- get(t, s) }()
	<-started
	s.set(answering("new"))
	close(release)
	if got := <-answer; got != "old" {
		t.Errorf("the request in flight answered %q, want old", got)
	}
	if got := get(t, s); got != "new" {
		t.Errorf("a request after the swap answered %q, want new", got)
	}
}
