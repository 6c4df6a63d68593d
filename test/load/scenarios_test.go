package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// invoke runs the command line and returns the exit code, the decoded last
// line and the whole output.
func invoke(t *testing.T, args ...string) (int, map[string]any, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut)
	text := out.String()
	if code == exitUsage {
		return code, nil, errOut.String()
	}
	lines := strings.Split(strings.TrimSpace(text), "\n")
	var last map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatalf("last line is not JSON: %v\n%s", err, text)
	}
	return code, last, text
}

func TestCreateIdentities(t *testing.T) {
	var (
		mu       sync.Mutex
		emails   = map[string]bool{}
		hashed   atomic.Int64
		badShape atomic.Int64
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Traits      map[string]string `json:"traits"`
			Credentials *struct {
				Password struct {
					Config struct {
						Password string `json:"password"`
					} `json:"config"`
				} `json:"password"`
			} `json:"credentials"`
		}
		if r.Method != http.MethodPost || r.URL.Path != "/admin/identities" || r.Header.Get("Content-Type") != "application/json" ||
			json.NewDecoder(r.Body).Decode(&body) != nil {
			badShape.Add(1)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if body.Credentials != nil && body.Credentials.Password.Config.Password != "" {
			hashed.Add(1)
		}
		mu.Lock()
		dup := emails[body.Traits["email"]]
		emails[body.Traits["email"]] = true
		mu.Unlock()
		if dup {
			w.WriteHeader(http.StatusConflict)
			return
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"id":"x"}`)
	}))
	defer srv.Close()

	code, res, out := invoke(t, "create-identities", "-admin", srv.URL+"/", "-n", "300", "-c", "7")
	if code != exitOK || res["ok"] != 300.0 || res["failed"] != 0.0 || res["pass"] != true {
		t.Fatalf("code %d, result %v\n%s", code, res, out)
	}
	if len(emails) != 300 || badShape.Load() != 0 || hashed.Load() != 0 {
		t.Errorf("emails %d, bad requests %d, passwords %d", len(emails), badShape.Load(), hashed.Load())
	}
	if status := res["status"].(map[string]any); status["201"] != 300.0 {
		t.Errorf("status = %v", status)
	}

	code, res, out = invoke(t, "create-identities", "-admin", srv.URL, "-n", "50", "-password", "-password-value", "secret-value-123", "-pid", fmt.Sprint(os.Getpid()))
	if code != exitOK || hashed.Load() != 50 {
		t.Fatalf("with -password: code %d, passwords %d, %v", code, hashed.Load(), res)
	}
	if strings.Contains(out, "secret-value-123") {
		t.Error("the password was printed")
	}
	if res["rss_max_kib"] == nil {
		t.Error("-pid given but no rss_max_kib")
	}

	// The same prefix again collides on every email: all 409, exit 1.
	code, res, _ = invoke(t, "create-identities", "-admin", srv.URL, "-n", "5", "-c", "1", "-email-prefix", "load-dup")
	if code != exitOK {
		t.Fatalf("first run with a fixed prefix: %d %v", code, res)
	}
	code, res, out = invoke(t, "create-identities", "-admin", srv.URL, "-n", "5", "-c", "1", "-email-prefix", "load-dup")
	if code != exitFailed || res["failed"] != 5.0 || !strings.Contains(out, "409: 5") {
		t.Errorf("duplicates: code %d, %v\n%s", code, res, out)
	}
}

// A missing endpoint must stop the run at once with a clear message, not
// hammer the server for the whole duration.
func TestMissingEndpointsFailFast(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.NotFound(w, r)
	}))
	defer srv.Close()

	for _, args := range [][]string{
		{"whoami", "-public", srv.URL, "-token", "t", "-d", "1m"},
		{"login", "-public", srv.URL, "-identifier", "a@example.org", "-password", "p", "-d", "1m"},
		{"create-identities", "-admin", srv.URL, "-n", "100000", "-c", "4"},
	} {
		hits.Store(0)
		start := time.Now()
		code, res, out := invoke(t, args...)
		if code != exitFailed || res["pass"] != false {
			t.Errorf("%s: code %d, %v", args[0], code, res)
		}
		if !strings.Contains(fmt.Sprint(res["error"]), "404 Not Found") || !strings.Contains(out, "ERROR") {
			t.Errorf("%s: error not clear: %v", args[0], res["error"])
		}
		if d := time.Since(start); d > 10*time.Second || hits.Load() > 10 {
			t.Errorf("%s: took %s and %d requests to give up", args[0], d, hits.Load())
		}
	}
}

func TestWhoamiDurationBound(t *testing.T) {
	var bad atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/sessions/whoami" || r.Header.Get("X-Session-Token") != "tok" {
			bad.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `{"id":"s","active":true}`)
	}))
	defer srv.Close()

	start := time.Now()
	code, res, out := invoke(t, "whoami", "-public", srv.URL, "-token", "tok", "-d", "300ms", "-c", "4")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a 300ms run took %s", d)
	}
	if code != exitOK || bad.Load() != 0 || res["ok"].(float64) < 1 || res["failed"] != 0.0 {
		t.Fatalf("code %d, bad %d, %v\n%s", code, bad.Load(), res, out)
	}
	if strings.Contains(out, "tok\"") {
		t.Error("the token was printed")
	}
	// -n bounds as well.
	if code, res, _ = invoke(t, "whoami", "-public", srv.URL, "-token", "tok", "-d", "0", "-n", "25"); code != exitOK || res["ok"] != 25.0 {
		t.Errorf("-n 25: code %d, %v", code, res)
	}

	// An invalid token stops before the run.
	code, res, _ = invoke(t, "whoami", "-public", srv.URL, "-token", "other", "-d", "1m")
	if code != exitFailed || !strings.Contains(fmt.Sprint(res["error"]), "preflight") || bad.Load() != 1 {
		t.Errorf("bad token: code %d, %d requests, %v", code, bad.Load(), res)
	}
}

func TestLogin(t *testing.T) {
	var flows, logins, wrong atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/self-service/login/api":
			n := flows.Add(1)
			fmt.Fprintf(w, `{"id":"flow-%d","type":"api"}`, n)
		case r.Method == http.MethodPost && r.URL.Path == "/self-service/login" && strings.HasPrefix(r.URL.Query().Get("flow"), "flow-"):
			var body map[string]string
			if json.NewDecoder(r.Body).Decode(&body) != nil || body["method"] != "password" || body["identifier"] != "a@example.org" {
				wrong.Add(1)
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			if body["password"] != "right" {
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprint(w, `{"id":"f","ui":{"messages":[{"id":4000006,"text":"invalid credentials"}]}}`)
				return
			}
			logins.Add(1)
			fmt.Fprint(w, `{"session_token":"t","session":{"id":"s"}}`)
		default:
			wrong.Add(1)
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	code, res, out := invoke(t, "login", "-public", srv.URL, "-identifier", "a@example.org", "-password", "right", "-n", "40", "-d", "0", "-c", "3")
	if code != exitOK || res["ok"] != 40.0 || res["http_requests"] != 80.0 || wrong.Load() != 0 {
		t.Fatalf("code %d, wrong %d, %v\n%s", code, wrong.Load(), res, out)
	}
	if logins.Load() != 41 { // 40 plus the preflight
		t.Errorf("%d logins", logins.Load())
	}
	if steps := res["steps"].([]any); len(steps) != 2 {
		t.Errorf("steps = %v", steps)
	}

	code, res, _ = invoke(t, "login", "-public", srv.URL, "-identifier", "a@example.org", "-password", "wrong", "-d", "1m")
	if code != exitFailed || !strings.Contains(fmt.Sprint(res["error"]), "4000006") {
		t.Errorf("wrong password: code %d, %v", code, res)
	}
}

func TestServerErrorsAreCounted(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%10 == 0 {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `{"error":{"code":500,"message":"boom"}}`)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	code, res, out := invoke(t, "create-identities", "-admin", srv.URL, "-n", "100", "-c", "1")
	if code != exitFailed || res["ok"] != 90.0 || res["failed"] != 10.0 || !strings.Contains(out, "500: 10") || !strings.Contains(out, "boom") {
		t.Errorf("code %d, %v\n%s", code, res, out)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"nope"},
		{"create-identities"},
		{"create-identities", "-admin", "http://127.0.0.1:1", "-n", "0"},
		{"create-identities", "-admin", "http://192.0.2.1:4434"},
		{"create-identities", "-admin", "http://127.0.0.1:1", "extra"},
		{"create-identities", "-admin", "http://127.0.0.1:1", "-password-value", "x"},
		{"whoami", "-public", "http://127.0.0.1:1"},
		{"login", "-public", "http://127.0.0.1:1", "-identifier", "a"},
		{"idle-rss"},
		{"startup", "-ready", "http://127.0.0.1:1/health/ready"},
		{"startup", "-ready", "http://198.51.100.1/", "--", "true"},
	} {
		t.Setenv("LANYARD_SESSION_TOKEN", "")
		t.Setenv("LANYARD_LOGIN_PASSWORD", "")
		if code, _, _ := invoke(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
}

func TestIdleRSS(t *testing.T) {
	code, res, _ := invoke(t, "idle-rss", "-pid", fmt.Sprint(os.Getpid()))
	if code != exitOK || res["rss_kib"] == nil {
		t.Errorf("code %d, %v", code, res)
	}
	if code, res, _ = invoke(t, "idle-rss", "-pid", fmt.Sprint(1<<30)); code != exitFailed || res["error"] == nil {
		t.Errorf("missing process: code %d, %v", code, res)
	}
}

// Reaching -d stops new requests but lets those in flight finish: the
// server's work is counted and it sees no aborted requests.
func TestDurationLetsInFlightFinish(t *testing.T) {
	var started, finished atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started.Add(1)
		select {
		case <-time.After(300 * time.Millisecond):
			finished.Add(1)
		case <-r.Context().Done():
		}
		fmt.Fprint(w, `{"id":"s"}`)
	}))
	defer srv.Close()
	code, res, out := invoke(t, "whoami", "-public", srv.URL, "-token", "t", "-d", "100ms", "-c", "3")
	if code != exitOK || res["ok"] != 3.0 || res["duration_s"].(float64) < 0.3 {
		t.Errorf("code %d, %v\n%s", code, res, out)
	}
	if started.Load() != 4 || finished.Load() != 4 { // 3 plus the preflight
		t.Errorf("%d requests started, %d finished", started.Load(), finished.Load())
	}
}
