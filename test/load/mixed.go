package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The kinds of request in a mixed run, in report order.
const (
	kindWhoami       = "whoami"
	kindLogin        = "login"
	kindRegistration = "registration"
)

var mixedKinds = []string{kindWhoami, kindLogin, kindRegistration}

// mixedSteps are the HTTP steps behind the kinds, for the step table.
var mixedSteps = []string{
	kindWhoami,
	kindLogin + ": create flow", kindLogin + ": submit",
	kindRegistration + ": create flow", kindRegistration + ": submit",
}

// requestMix is the share of each kind, in percent; the shares add up to 100.
type requestMix map[string]int

// parseMix reads "whoami=90,login=5,registration=5"; kinds left out get 0.
func parseMix(s string) (requestMix, error) {
	m := requestMix{}
	total := 0
	for part := range strings.SplitSeq(s, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || !slices.Contains(mixedKinds, name) {
			return nil, fmt.Errorf("%w: -mix: %q is not kind=percent with kind one of %s", errUsage, part, strings.Join(mixedKinds, ", "))
		}
		if _, dup := m[name]; dup {
			return nil, fmt.Errorf("%w: -mix: %s given twice", errUsage, name)
		}
		n, err := strconv.Atoi(value)
		if err != nil || n < 0 || n > 100 {
			return nil, fmt.Errorf("%w: -mix: %s=%s is not a percentage", errUsage, name, value)
		}
		m[name] = n
		total += n
	}
	if total != 100 {
		return nil, fmt.Errorf("%w: -mix: the shares add up to %d, not 100", errUsage, total)
	}
	return m, nil
}

// pick maps r, uniform in [0, 100), to a kind, so that each kind comes up
// in proportion to its share.
func (m requestMix) pick(r int) string {
	for _, k := range mixedKinds {
		if r < m[k] {
			return k
		}
		r -= m[k]
	}
	return kindWhoami // unreachable when the shares add up to 100
}

// seededUser is an identity the run created to sign in with.
type seededUser struct{ email, token string }

func runMixed(ctx context.Context, args []string, errOut io.Writer) (*result, error) {
	fs := newFlagSet("mixed", errOut)
	workers := fs.Int("c", 32, "concurrent workers, each with its own keep-alive connection")
	d := fs.Duration("d", 0, "how long to run (required)")
	timeout := fs.Duration("timeout", 30*time.Second, "per-request timeout")
	public := fs.String("public", "", "public API base URL, e.g. http://127.0.0.1:4433 (loopback only)")
	admin := fs.String("admin", "", "admin API base URL, e.g. http://127.0.0.1:4434 (loopback only): seeds users, scrapes go_goroutines")
	mixFlag := fs.String("mix", "whoami=90,login=5,registration=5", "percent of each kind of request")
	seedUsers := fs.Int("seed-users", 16, "identities with a password to create and sign in at the start; whoami uses their sessions, login signs them in again")
	acked := fs.String("acked", "", "append \"<identity id>\\t<email>\" to this file for every registration answered 200, synced line by line")
	pid := fs.Int("pid", 0, "the server's pid: sample its VmRSS every -rss-every and its CPU time")
	rssEvery := fs.Duration("rss-every", time.Second, "how often to sample the server's VmRSS")
	goroutinesEvery := fs.Duration("goroutines-every", 10*time.Second, "how often to read go_goroutines from {admin}/admin/metrics/prometheus")
	settle := fs.Duration("rest-settle", 1500*time.Millisecond, "before and after the run, read the server's resting goroutine count over this long (our connections closed)")
	warmup := fs.Duration("warmup", 0, "samples before this are left out of the RSS and goroutine figures (default: 60 s or a tenth of -d, whichever is shorter)")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if *d <= 0 {
		return nil, fmt.Errorf("%w: -d is required: a mixed run is bounded by time", errUsage)
	}
	b := bounds{d: *d}
	if err := b.validate(*workers); err != nil {
		return nil, err
	}
	mix, err := parseMix(*mixFlag)
	if err != nil {
		return nil, err
	}
	switch {
	case *timeout <= 0 || *rssEvery <= 0 || *goroutinesEvery <= 0:
		return nil, fmt.Errorf("%w: -timeout, -rss-every and -goroutines-every must be positive", errUsage)
	case *seedUsers < 1 || *seedUsers > 1000:
		return nil, fmt.Errorf("%w: -seed-users must be between 1 and 1000", errUsage)
	case *pid < 0 || *warmup < 0 || *settle < 0:
		return nil, fmt.Errorf("%w: -pid, -warmup and -rest-settle must not be negative", errUsage)
	case *acked == "" && mix[kindRegistration] > 0:
		return nil, fmt.Errorf("%w: -acked FILE is required when the mix has registrations", errUsage)
	}
	pub, err := parseTarget("public", *public)
	if err != nil {
		return nil, err
	}
	adm, err := parseTarget("admin", *admin)
	if err != nil {
		return nil, err
	}
	if *warmup == 0 {
		*warmup = defaultWarmup(*d)
	}

	m := &mixedRun{
		mix:        mix,
		hc:         newClient(*workers, *timeout),
		public:     pub.String(),
		admin:      adm.String(),
		runID:      randomHex(4),
		password:   "Mixed-" + randomHex(12), // never printed
		regCounter: &atomic.Int64{},
	}
	defer m.hc.CloseIdleConnections()
	if *acked != "" {
		if m.acks, err = openAckLog(*acked); err != nil {
			return nil, err
		}
		defer m.acks.close()
	}

	res := &result{Scenario: "mixed", Target: m.public, Workers: *workers, Unit: "requests"}
	res.notes = append(res.notes, fmt.Sprintf("mix %s; %d seeded users (emails mixed-%s-user-N@example.org); new registrations mixed-%s-reg-N@example.org",
		formatMix(mix), *seedUsers, m.runID, m.runID))
	if err := m.seed(ctx, *seedUsers); err != nil {
		return res, fmt.Errorf("seeding: %w", err)
	}

	// Our connections closed, the server's goroutines are what it keeps
	// by itself: the count a leak would raise between before and after.
	m.hc.CloseIdleConnections()
	restBefore, err := restingGoroutines(ctx, m.admin, *settle)
	if err != nil {
		return res, err
	}
	sampler, err := startSeriesSampler(*pid, m.admin, *rssEvery, *goroutinesEvery)
	if err != nil {
		return res, err
	}
	rec, elapsed, runErr := runOps(ctx, *workers, b, m.op)
	series := sampler.stop()
	res.fill(rec, elapsed, "all", mixedSteps)
	res.Figures = kindFigures(rec, elapsed)
	if m.acks != nil {
		res.Figures["acked_registrations"] = m.acks.count()
		res.notes = append(res.notes, fmt.Sprintf("%d registrations acknowledged, listed in %s", m.acks.count(), *acked))
	}
	for _, k := range mixedKinds {
		s := rec.op(k)
		res.notes = append(res.notes, fmt.Sprintf("%-12s %d (%d failed), %.1f/s, %s", k, s.ok+s.failed, s.failed,
			res.Figures[k+"_per_s"], formatLatency(summarize(s.latencies))))
	}
	if *pid > 0 {
		res.PID = *pid
		if cpu, err := readCPU(*pid); err == nil && elapsed > 0 {
			res.ServerCPUS = round3((cpu - sampler.cpuStart).Seconds())
			res.ServerCores = round3(res.ServerCPUS / elapsed.Seconds())
		}
		res.RSSMaxKiB = series.rssMax()
	}
	series.addFigures(res.Figures, *warmup, *d)
	res.notes = append(res.notes, series.notes(*warmup, *d)...)

	m.hc.CloseIdleConnections()
	res.Figures["goroutines_rest_before"] = restBefore
	if restAfter, err := restingGoroutines(ctx, m.admin, *settle); err == nil {
		res.Figures["goroutines_rest_after"] = restAfter
		res.notes = append(res.notes, fmt.Sprintf("server goroutines at rest (our connections closed): %d before the run, %d after", restBefore, restAfter))
	} else if runErr == nil {
		runErr = fmt.Errorf("after the run: %w", err)
	}
	return res, runErr
}

// defaultWarmup leaves out the first minute, or the first tenth of a
// shorter run.
func defaultWarmup(d time.Duration) time.Duration { return min(time.Minute, d/10) }

func formatMix(m requestMix) string {
	parts := make([]string, 0, len(mixedKinds))
	for _, k := range mixedKinds {
		parts = append(parts, fmt.Sprintf("%s %d%%", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// kindFigures are the per-kind counts, rates and latencies under flat keys
// such as "login_p99_ms", which scripts can grep out of the JSON line.
func kindFigures(rec *recorder, elapsed time.Duration) map[string]any {
	f := map[string]any{}
	for _, k := range mixedKinds {
		s := rec.op(k)
		n := s.ok + s.failed
		f[k+"_requests"] = n
		f[k+"_failed"] = s.failed
		perS := 0.0
		if elapsed > 0 {
			perS = round1(float64(n) / elapsed.Seconds())
		}
		f[k+"_per_s"] = perS
		l := summarize(slices.Clone(s.latencies))
		f[k+"_p50_ms"], f[k+"_p90_ms"], f[k+"_p99_ms"], f[k+"_max_ms"] = l.P50, l.P90, l.P99, l.Max
	}
	return f
}

// mixedRun is the shared state of the workers.
type mixedRun struct {
	mix        requestMix
	hc         *http.Client
	public     string
	admin      string
	runID      string
	password   string
	users      []seededUser
	acks       *ackLog
	regCounter *atomic.Int64
}

// seed creates n identities with the run's password and signs each in
// once, for the tokens whoami sends.
func (m *mixedRun) seed(ctx context.Context, n int) error {
	m.users = make([]seededUser, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			email := fmt.Sprintf("mixed-%s-user-%d@example.org", m.runID, i)
			body := map[string]any{
				"traits":      map[string]any{"email": email},
				"credentials": map[string]any{"password": map[string]any{"config": map[string]any{"password": m.password}}},
			}
			req, err := newJSONRequest(http.MethodPost, m.admin+"/admin/identities", body)
			if err != nil {
				errs[i] = err
				return
			}
			a, err := send(ctx, m.hc, req)
			if err := check(newOpStats(), "POST /admin/identities", a, err, http.StatusCreated); err != nil {
				errs[i] = err
				return
			}
			sub, err := m.flowStep(ctx, newRecorder(), kindLogin, "/self-service/login", map[string]any{
				"method": "password", "identifier": email, "password": m.password,
			})
			if err != nil {
				errs[i] = err
				return
			}
			var s struct {
				Token string `json:"session_token"`
			}
			if json.Unmarshal(sub.body, &s) != nil || s.Token == "" {
				errs[i] = fmt.Errorf("POST /self-service/login answered 200 without a session_token: %s", snippet(sub.body))
				return
			}
			m.users[i] = seededUser{email: email, token: s.Token}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// op performs one request of a kind drawn from the mix.
func (m *mixedRun) op(ctx context.Context, rec *recorder, _ int) error {
	kind := m.mix.pick(rand.IntN(100))
	user := m.users[rand.IntN(len(m.users))]
	switch kind {
	case kindLogin:
		_, err := m.flowStep(ctx, rec, kindLogin, "/self-service/login", map[string]any{
			"method": "password", "identifier": user.email, "password": m.password,
		})
		return err
	case kindRegistration:
		return m.register(ctx, rec)
	}
	a, sendErr := sendWhoami(ctx, m.hc, m.public+"/sessions/whoami", user.token)
	err := check(rec.op(kindWhoami), "GET /sessions/whoami", a, sendErr, http.StatusOK)
	if !errors.Is(err, errStopped) {
		recordAll(rec, kindWhoami, a.latency, statusOrError(a, sendErr), err)
	}
	return err
}

// recordAll counts a finished request of kind in the run's total.
func recordAll(rec *recorder, kind string, d time.Duration, status string, err error) {
	if err != nil {
		rec.op("all").add(d, kind+" "+status, false, kind+": "+err.Error())
		return
	}
	rec.op("all").add(d, kind+" "+status, true, "")
}

// flowStep creates a native flow of kind and submits body to it, recording
// each step and the whole; it returns the submission's answer.
func (m *mixedRun) flowStep(ctx context.Context, rec *recorder, kind, path string, body any) (answer, error) {
	start := time.Now()
	fail := func(status string, err error) (answer, error) {
		if !errors.Is(err, errStopped) {
			rec.op(kind).add(time.Since(start), status, false, err.Error())
			recordAll(rec, kind, time.Since(start), status, err)
		}
		return answer{}, err
	}
	req, err := newJSONRequest(http.MethodGet, m.public+path+"/api", nil)
	if err != nil {
		return answer{}, fatalf("building the request: %v", err)
	}
	a, sendErr := send(ctx, m.hc, req)
	if err := check(rec.op(kind+": create flow"), "GET "+path+"/api", a, sendErr, http.StatusOK); err != nil {
		return fail("create flow "+statusOrError(a, sendErr), err)
	}
	var f loginFlow
	if err := json.Unmarshal(a.body, &f); err != nil || f.ID == "" {
		return fail("create flow: no id", fatalf("GET %s/api answered 200 without a flow id: %s", path, snippet(a.body)))
	}
	req, err = newJSONRequest(http.MethodPost, m.public+path+"?flow="+url.QueryEscape(f.ID), body)
	if err != nil {
		return answer{}, fatalf("building the request: %v", err)
	}
	a, sendErr = send(ctx, m.hc, req)
	if err := check(rec.op(kind+": submit"), "POST "+path, a, sendErr, http.StatusOK); err != nil {
		return fail("submit "+statusOrError(a, sendErr), err)
	}
	rec.op(kind).add(time.Since(start), "200", true, "")
	recordAll(rec, kind, time.Since(start), "200", nil)
	return a, nil
}

// register signs up a new identity and, once the server has answered 200,
// notes it in the acknowledgement log before anything else can happen.
func (m *mixedRun) register(ctx context.Context, rec *recorder) error {
	email := fmt.Sprintf("mixed-%s-reg-%d@example.org", m.runID, m.regCounter.Add(1))
	a, err := m.flowStep(ctx, rec, kindRegistration, "/self-service/registration", map[string]any{
		"method": "password", "traits": map[string]any{"email": email}, "password": m.password,
	})
	if err != nil {
		return err
	}
	var reg struct {
		Identity struct {
			ID string `json:"id"`
		} `json:"identity"`
	}
	if json.Unmarshal(a.body, &reg) != nil || reg.Identity.ID == "" {
		return fatalf("POST /self-service/registration answered 200 without identity.id: %s", snippet(a.body))
	}
	if err := m.acks.record(reg.Identity.ID, email); err != nil {
		return fatalf("writing the acknowledged registration: %v", err)
	}
	return nil
}

// ackLog is the file of acknowledged registrations. Each line is written
// with one write and synced before the next request, so that it holds
// every registration the server answered 200 to, whatever happens to the
// server (or this machine) afterwards.
type ackLog struct {
	mu sync.Mutex
	f  *os.File
	n  int
}

func openAckLog(path string) (*ackLog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("-acked: %w", err)
	}
	return &ackLog{f: f}, nil
}

func (l *ackLog) record(id, email string) error {
	if strings.ContainsAny(id, "\t\n") || strings.ContainsAny(email, "\t\n") {
		return fmt.Errorf("refusing to write a tab or newline in %q / %q", id, email)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.f.WriteString(id + "\t" + email + "\n"); err != nil {
		return err
	}
	if err := l.f.Sync(); err != nil {
		return err
	}
	l.n++
	return nil
}

func (l *ackLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

func (l *ackLog) close() { _ = l.f.Close() }

// ackedRegistration is one line of an acknowledgement log.
type ackedRegistration struct{ id, email string }

// readAcked parses an acknowledgement log; a malformed line is an error
// naming it, since it means the file is not what mixed wrote.
func readAcked(r io.Reader, name string) ([]ackedRegistration, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	text := string(data)
	if text == "" {
		return nil, nil
	}
	if !strings.HasSuffix(text, "\n") {
		return nil, fmt.Errorf("%s: the last line is not complete", name)
	}
	var out []ackedRegistration
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		id, email, ok := strings.Cut(line, "\t")
		if !ok || id == "" || !strings.Contains(email, "@") || strings.Contains(email, "\t") {
			return nil, fmt.Errorf("%s:%d: want \"<identity id>\\t<email>\", got %q", name, i+1, line)
		}
		out = append(out, ackedRegistration{id: id, email: email})
	}
	return out, nil
}

func runCheckRegistrations(ctx context.Context, args []string, errOut io.Writer) (*result, error) {
	fs := newFlagSet("check-registrations", errOut)
	admin := fs.String("admin", "", "admin API base URL, e.g. http://127.0.0.1:4434 (loopback only)")
	var files []string
	fs.Func("acked", "a file mixed -acked wrote (repeat for several)", func(s string) error {
		files = append(files, s)
		return nil
	})
	workers := fs.Int("c", 8, "concurrent workers")
	timeout := fs.Duration("timeout", 30*time.Second, "per-request timeout")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: give at least one -acked FILE", errUsage)
	}
	base, err := parseTarget("admin", *admin)
	if err != nil {
		return nil, err
	}
	var acked []ackedRegistration
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		got, err := readAcked(f, name)
		f.Close()
		if err != nil {
			return nil, err
		}
		acked = append(acked, got...)
	}

	res := &result{Scenario: "check-registrations", Target: base.String() + "/admin/identities/{id}", Workers: *workers, Unit: "registrations"}
	res.Figures = map[string]any{"acked": len(acked), "found": 0, "missing": 0}
	if len(acked) == 0 {
		res.notes = append(res.notes, "no acknowledged registrations in "+strings.Join(files, ", "))
		return res, nil
	}
	if err := (bounds{n: len(acked)}).validate(*workers); err != nil {
		return nil, err
	}
	hc := newClient(*workers, *timeout)
	defer hc.CloseIdleConnections()
	op := func(ctx context.Context, rec *recorder, i int) error {
		return checkRegistration(ctx, hc, base.String(), acked[i], rec.op("check"))
	}
	rec, elapsed, err := runOps(ctx, *workers, bounds{n: len(acked)}, op)
	res.fill(rec, elapsed, "check", nil)
	st := rec.op("check")
	res.Figures["found"], res.Figures["missing"] = st.ok, st.statuses["missing"]
	res.notes = append(res.notes, fmt.Sprintf("%d acknowledged in %s: %d found, %d missing, %d other failures",
		len(acked), strings.Join(files, ", "), st.ok, st.statuses["missing"], st.failed-st.statuses["missing"]))
	if err == nil && res.Operations != len(acked) {
		err = fmt.Errorf("checked %d of %d", res.Operations, len(acked))
	}
	return res, err
}

// checkRegistration looks one acknowledged registration up: it must exist
// with the email it was registered with. A 404 is the finding this
// scenario is for, not a wrong URL, so it is counted as "missing" and the
// run goes on.
func checkRegistration(ctx context.Context, hc *http.Client, admin string, r ackedRegistration, st *opStats) error {
	what := "GET /admin/identities/" + r.id
	req, err := newJSONRequest(http.MethodGet, admin+"/admin/identities/"+url.PathEscape(r.id), nil)
	if err != nil {
		return fatalf("building the request: %v", err)
	}
	a, err := send(ctx, hc, req)
	switch {
	case err == nil && a.status == http.StatusNotFound:
		st.add(a.latency, "missing", false, fmt.Sprintf("%s (%s) answered 404: an acknowledged registration is gone", what, r.email))
		return nil
	case err != nil || a.status != http.StatusOK:
		return check(st, what, a, err, http.StatusOK)
	}
	var got struct {
		ID     string `json:"id"`
		Traits struct {
			Email string `json:"email"`
		} `json:"traits"`
	}
	if json.Unmarshal(a.body, &got) != nil || got.ID != r.id || !strings.EqualFold(got.Traits.Email, r.email) {
		st.add(a.latency, "wrong identity", false, fmt.Sprintf("%s answered another identity than %s: %s", what, r.email, snippet(a.body)))
		return nil
	}
	st.add(a.latency, "200", true, "")
	return nil
}
