package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"
)

// common holds the flags every HTTP scenario shares.
type common struct {
	workers int
	b       bounds
	timeout time.Duration
	pid     int
}

func (c *common) register(fs *flag.FlagSet, workers, n int, d time.Duration) {
	fs.IntVar(&c.workers, "c", workers, "concurrent workers, each with its own keep-alive connection")
	fs.IntVar(&c.b.n, "n", n, "stop after this many operations (0: no count limit)")
	fs.DurationVar(&c.b.d, "d", d, "stop after this much time (0: no time limit)")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "per-request timeout")
	fs.IntVar(&c.pid, "pid", 0, "the server's pid: sample its VmRSS every 100 ms and measure its CPU time during the run")
}

func (c *common) validate() error {
	if err := c.b.validate(c.workers); err != nil {
		return err
	}
	if c.timeout <= 0 {
		return fmt.Errorf("%w: -timeout must be positive", errUsage)
	}
	if c.pid < 0 {
		return fmt.Errorf("%w: -pid must be positive", errUsage)
	}
	return nil
}

// measure runs op within the common bounds, sampling the server's memory
// when asked, and fills res.
func (c *common) measure(ctx context.Context, res *result, op opFunc, main string, steps []string) error {
	var sampler *rssSampler
	if c.pid > 0 {
		var err error
		if sampler, err = startRSSSampler(c.pid, 100*time.Millisecond); err != nil {
			return err
		}
	}
	rec, elapsed, err := runOps(ctx, c.workers, c.b, op)
	res.fill(rec, elapsed, main, steps)
	if sampler != nil {
		var cpu time.Duration
		res.PID = c.pid
		res.RSSMaxKiB, cpu = sampler.stop()
		if cpu >= 0 && elapsed > 0 {
			res.ServerCPUS = round3(cpu.Seconds())
			res.ServerCores = round3(cpu.Seconds() / elapsed.Seconds())
		}
	}
	return err
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b)
}

func newJSONRequest(method, u string, body any) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

func runCreateIdentities(ctx context.Context, args []string, errOut io.Writer) (*result, error) {
	fs := newFlagSet("create-identities", errOut)
	var c common
	c.register(fs, 8, 10000, 0)
	admin := fs.String("admin", "", "admin API base URL, e.g. http://127.0.0.1:4434 (loopback only)")
	withPassword := fs.Bool("password", false, "give each identity a password credential (the server hashes it)")
	password := fs.String("password-value", "", "the password to set with -password (default: random per run); never printed")
	prefix := fs.String("email-prefix", "", "emails are <prefix>-<i>@example.org (default: load-<random>, unique per run)")
	schemaID := fs.String("schema-id", "", "schema_id to send (default: the server's default schema)")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	base, err := parseTarget("admin", *admin)
	if err != nil {
		return nil, err
	}
	if *password != "" && !*withPassword {
		return nil, fmt.Errorf("%w: -password-value needs -password", errUsage)
	}
	if *prefix == "" {
		*prefix = "load-" + randomHex(4)
	}
	if *withPassword && *password == "" {
		*password = "Lt-" + randomHex(12)
	}

	target := base.String() + "/admin/identities"
	hc := newClient(c.workers, c.timeout)
	defer hc.CloseIdleConnections()
	op := func(ctx context.Context, rec *recorder, i int) error {
		body := map[string]any{"traits": map[string]any{"email": fmt.Sprintf("%s-%07d@example.org", *prefix, i)}}
		if *schemaID != "" {
			body["schema_id"] = *schemaID
		}
		if *withPassword {
			body["credentials"] = map[string]any{"password": map[string]any{"config": map[string]any{"password": *password}}}
		}
		req, err := newJSONRequest(http.MethodPost, target, body)
		if err != nil {
			return fatalf("building the request: %v", err)
		}
		a, err := send(ctx, hc, req)
		return check(rec.op("create"), "POST /admin/identities", a, err, http.StatusCreated)
	}

	res := &result{Scenario: "create-identities", Target: target, Workers: c.workers, Unit: "identities"}
	if *withPassword {
		res.notes = append(res.notes, "with a password credential (hashed by the server)")
	} else {
		res.notes = append(res.notes, "without credentials (no password hashing)")
	}
	res.notes = append(res.notes, fmt.Sprintf("emails %s-NNNNNNN@example.org", *prefix))
	return res, c.measure(ctx, res, op, "create", nil)
}

func runWhoami(ctx context.Context, args []string, errOut io.Writer) (*result, error) {
	fs := newFlagSet("whoami", errOut)
	var c common
	c.register(fs, 16, 0, 10*time.Second)
	public := fs.String("public", "", "public API base URL, e.g. http://127.0.0.1:4433 (loopback only)")
	token := fs.String("token", "", "session token sent as X-Session-Token (default: $LANYARD_SESSION_TOKEN); never printed")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	base, err := parseTarget("public", *public)
	if err != nil {
		return nil, err
	}
	if *token == "" {
		*token = os.Getenv("LANYARD_SESSION_TOKEN")
	}
	if *token == "" {
		return nil, fmt.Errorf("%w: -token (or $LANYARD_SESSION_TOKEN) is required", errUsage)
	}

	target := base.String() + "/sessions/whoami"
	hc := newClient(c.workers, c.timeout)
	defer hc.CloseIdleConnections()
	whoami := func(ctx context.Context, st *opStats) error {
		a, err := sendWhoami(ctx, hc, target, *token)
		return check(st, "GET /sessions/whoami", a, err, http.StatusOK)
	}

	res := &result{Scenario: "whoami", Target: target, Workers: c.workers, Unit: "requests"}
	// One request first, so that a bad token or a missing endpoint is one
	// clear message and not a table of thousands of failures.
	if err := whoami(ctx, newOpStats()); err != nil {
		return res, preflightError(err)
	}
	op := func(ctx context.Context, rec *recorder, _ int) error {
		return whoami(ctx, rec.op("whoami"))
	}
	return res, c.measure(ctx, res, op, "whoami", nil)
}

// sendWhoami asks target (a /sessions/whoami URL) about the session of
// token, as a native app would.
func sendWhoami(ctx context.Context, hc *http.Client, target, token string) (answer, error) {
	req, err := http.NewRequest(http.MethodGet, target, nil)
	if err != nil {
		return answer{}, fatalf("building the request: %v", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-Session-Token", token)
	return send(ctx, hc, req)
}

func preflightError(err error) error {
	var fe *fatalError
	if errors.As(err, &fe) {
		return fmt.Errorf("preflight: %w", err)
	}
	return fmt.Errorf("preflight: %v; not starting the run", err)
}

// loginFlow is the part of a login flow the scenario needs.
type loginFlow struct {
	ID string `json:"id"`
}

func runLogin(ctx context.Context, args []string, errOut io.Writer) (*result, error) {
	fs := newFlagSet("login", errOut)
	var c common
	c.register(fs, 4, 0, 10*time.Second)
	public := fs.String("public", "", "public API base URL, e.g. http://127.0.0.1:4433 (loopback only)")
	identifier := fs.String("identifier", "", "login identifier (e.g. the email) of an identity with a password")
	password := fs.String("password", "", "its password (default: $LANYARD_LOGIN_PASSWORD); never printed")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	base, err := parseTarget("public", *public)
	if err != nil {
		return nil, err
	}
	if *password == "" {
		*password = os.Getenv("LANYARD_LOGIN_PASSWORD")
	}
	if *identifier == "" || *password == "" {
		return nil, fmt.Errorf("%w: -identifier and -password (or $LANYARD_LOGIN_PASSWORD) are required", errUsage)
	}

	hc := newClient(c.workers, c.timeout)
	defer hc.CloseIdleConnections()
	creds := map[string]any{"method": "password", "identifier": *identifier, "password": *password}
	login := func(ctx context.Context, rec *recorder) error { return nativeLogin(ctx, hc, rec, base.String(), creds) }

	res := &result{Scenario: "login", Target: base.String() + "/self-service/login", Workers: c.workers, Unit: "logins"}
	if err := login(ctx, newRecorder()); err != nil {
		return res, preflightError(err)
	}
	op := func(ctx context.Context, rec *recorder, _ int) error { return login(ctx, rec) }
	return res, c.measure(ctx, res, op, "login", []string{"create flow", "submit"})
}

// nativeLogin is one native password login against the public API at
// base: GET /self-service/login/api, then POST the credentials. Each step
// is recorded under its own name and the whole login under "login"; a
// failed step fails the login with that step's status.
func nativeLogin(ctx context.Context, hc *http.Client, rec *recorder, base string, creds map[string]any) error {
	start := time.Now()
	whole := rec.op("login")
	fail := func(status string, err error) error {
		if !errors.Is(err, errStopped) {
			whole.add(time.Since(start), status, false, err.Error())
		}
		return err
	}

	req, err := newJSONRequest(http.MethodGet, base+"/self-service/login/api", nil)
	if err != nil {
		return fatalf("building the request: %v", err)
	}
	a, err := send(ctx, hc, req)
	if err := check(rec.op("create flow"), "GET /self-service/login/api", a, err, http.StatusOK); err != nil {
		return fail("create flow "+statusOrError(a, err), err)
	}
	var f loginFlow
	if err := json.Unmarshal(a.body, &f); err != nil || f.ID == "" {
		// A flow without an id is a server bug that every login would
		// hit again.
		return fail("create flow: no id", fatalf("GET /self-service/login/api answered 200 without a flow id: %s", snippet(a.body)))
	}

	req, err = newJSONRequest(http.MethodPost, base+"/self-service/login?flow="+url.QueryEscape(f.ID), creds)
	if err != nil {
		return fatalf("building the request: %v", err)
	}
	a, err = send(ctx, hc, req)
	if err := check(rec.op("submit"), "POST /self-service/login", a, err, http.StatusOK); err != nil {
		return fail("submit "+statusOrError(a, err), err)
	}
	whole.add(time.Since(start), "200", true, "")
	return nil
}

func statusOrError(a answer, err error) string {
	if a.status != 0 {
		return fmt.Sprint(a.status)
	}
	if err != nil {
		return errorClass(err)
	}
	return "error"
}
