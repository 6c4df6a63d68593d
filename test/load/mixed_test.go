package main

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseMixAndPick(t *testing.T) {
	m, err := parseMix("whoami=90,login=5,registration=5")
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for r := range 100 {
		counts[m.pick(r)]++
	}
	if counts[kindWhoami] != 90 || counts[kindLogin] != 5 || counts[kindRegistration] != 5 {
		t.Errorf("picks over [0,100) = %v, want 90/5/5", counts)
	}

	m, err = parseMix("login=100")
	if err != nil || m.pick(0) != kindLogin || m.pick(99) != kindLogin {
		t.Errorf("login=100: %v %v", m, err)
	}
	for _, bad := range []string{"", "whoami=90", "whoami=90,login=5,registration=6", "whoami=95,logout=5", "whoami=50,whoami=50", "whoami=x", "whoami=-10,login=110"} {
		if _, err := parseMix(bad); err == nil {
			t.Errorf("parseMix(%q) accepted", bad)
		}
	}
}

func TestAckLogRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "acked.tsv")
	l, err := openAckLog(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.record("id-1", "a@example.org"); err != nil {
		t.Fatal(err)
	}
	if err := l.record("id-2", "b@example.org"); err != nil {
		t.Fatal(err)
	}
	if err := l.record("id\t3", "c@example.org"); err == nil {
		t.Error("a tab in the id was written")
	}
	l.close()
	// A second run appends.
	if l, err = openAckLog(path); err != nil {
		t.Fatal(err)
	}
	if err := l.record("id-3", "c@example.org"); err != nil || l.count() != 1 {
		t.Fatal(err, l.count())
	}
	l.close()

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := readAcked(f, path)
	want := []ackedRegistration{{"id-1", "a@example.org"}, {"id-2", "b@example.org"}, {"id-3", "c@example.org"}}
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("readAcked = %v, %v; want %v", got, err, want)
	}

	if got, err := readAcked(strings.NewReader(""), "empty"); err != nil || len(got) != 0 {
		t.Errorf("empty file: %v %v", got, err)
	}
	for _, bad := range []string{"id-1\ta@example.org", "id-1 a@example.org\n", "\ta@example.org\n", "id-1\tnot-an-email\n", "id-1\ta@example.org\n\n"} {
		if _, err := readAcked(strings.NewReader(bad), "bad"); err == nil {
			t.Errorf("readAcked(%q) accepted", bad)
		}
	}
}

func TestParseGauge(t *testing.T) {
	text := `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines_extra 3
go_goroutines 42
go_threads 9
`
	if v, err := parseGauge(strings.NewReader(text), "go_goroutines"); err != nil || v != 42 {
		t.Errorf("go_goroutines = %v, %v", v, err)
	}
	if _, err := parseGauge(strings.NewReader("go_threads 9\n"), "go_goroutines"); err == nil {
		t.Error("a missing gauge was found")
	}
	if _, err := parseGauge(strings.NewReader("go_goroutines many\n"), "go_goroutines"); err == nil {
		t.Error("a bad value was accepted")
	}
}

func TestSeriesFigures(t *testing.T) {
	at := func(s int) time.Duration { return time.Duration(s) * time.Second }
	d := series{
		rss:        []sample{{at(0), 10}, {at(1), 200}, {at(2), 100}, {at(3), 108}, {at(4), 104}, {at(5), 900}},
		goroutines: []sample{{at(0), 5}, {at(2), 40}, {at(3), 50}, {at(4), 44}, {at(5), 6}},
	}
	f := map[string]any{}
	d.addFigures(f, at(2), at(4))
	if f["rss_warm_min_kib"] != int64(100) || f["rss_warm_max_kib"] != int64(108) || f["rss_warm_ratio"] != 1.08 || f["rss_warm_samples"] != 3 {
		t.Errorf("RSS figures %v", f)
	}
	if f["goroutines_first"] != int64(40) || f["goroutines_last"] != int64(44) || f["goroutines_max"] != int64(50) || f["goroutines_growth"] != int64(4) {
		t.Errorf("goroutine figures %v", f)
	}
	if d.rssMax() != 900 || len(f["rss_series_kib"].([][2]float64)) != 6 {
		t.Errorf("whole series: max %d, %v", d.rssMax(), f["rss_series_kib"])
	}
	if defaultWarmup(10*time.Minute) != time.Minute || defaultWarmup(time.Minute) != 6*time.Second {
		t.Error("warm-up is not min(60 s, a tenth)")
	}
}

// fakeIdentityServer answers the few endpoints mixed and
// check-registrations use, and keeps the identities it registered.
type fakeIdentityServer struct {
	mu         sync.Mutex
	identities map[string]string // id -> email
	tokens     map[string]bool
	passwords  map[string]string // email -> password
	bad        []string
}

func newFakeIdentityServer(t *testing.T) (*fakeIdentityServer, *httptest.Server) {
	f := &fakeIdentityServer{identities: map[string]string{}, tokens: map[string]bool{}, passwords: map[string]string{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeIdentityServer) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var body struct {
		Method     string            `json:"method"`
		Identifier string            `json:"identifier"`
		Password   string            `json:"password"`
		Traits     map[string]string `json:"traits"`
		Creds      struct {
			Password struct {
				Config struct {
					Password string `json:"password"`
				} `json:"config"`
			} `json:"password"`
		} `json:"credentials"`
	}
	if r.Method == http.MethodPost {
		_ = json.NewDecoder(r.Body).Decode(&body)
	}
	newID := func(email string) string {
		id := rand.Text()
		f.identities[id] = email
		return id
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/admin/identities":
		f.passwords[body.Traits["email"]] = body.Creds.Password.Config.Password
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":%q}`, newID(body.Traits["email"]))
	case r.Method == http.MethodGet && (r.URL.Path == "/self-service/login/api" || r.URL.Path == "/self-service/registration/api"):
		fmt.Fprint(w, `{"id":"flow-1"}`)
	case r.Method == http.MethodPost && r.URL.Path == "/self-service/login" && r.URL.Query().Get("flow") == "flow-1":
		if p, ok := f.passwords[body.Identifier]; !ok || p != body.Password || body.Method != "password" {
			f.bad = append(f.bad, "login "+body.Identifier)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		token := rand.Text()
		f.tokens[token] = true
		fmt.Fprintf(w, `{"session_token":%q}`, token)
	case r.Method == http.MethodPost && r.URL.Path == "/self-service/registration" && r.URL.Query().Get("flow") == "flow-1":
		email := body.Traits["email"]
		if _, dup := f.passwords[email]; dup || body.Password == "" || body.Method != "password" {
			f.bad = append(f.bad, "registration "+email)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		f.passwords[email] = body.Password
		fmt.Fprintf(w, `{"identity":{"id":%q}}`, newID(email))
	case r.URL.Path == "/sessions/whoami":
		if !f.tokens[r.Header.Get("X-Session-Token")] {
			f.bad = append(f.bad, "whoami")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `{"active":true}`)
	case r.URL.Path == "/admin/metrics/prometheus":
		fmt.Fprint(w, "# TYPE go_goroutines gauge\ngo_goroutines 7\n")
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/admin/identities/"):
		id := strings.TrimPrefix(r.URL.Path, "/admin/identities/")
		email, ok := f.identities[id]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":{"code":404,"status":"Not Found","message":"Unable to locate the resource"}}`)
			return
		}
		fmt.Fprintf(w, `{"id":%q,"traits":{"email":%q}}`, id, email)
	default:
		f.bad = append(f.bad, r.Method+" "+r.URL.String())
		http.NotFound(w, r)
	}
}

func TestMixedAndCheckRegistrations(t *testing.T) {
	fake, srv := newFakeIdentityServer(t)
	acked := filepath.Join(t.TempDir(), "acked.tsv")
	code, res, out := invoke(t, "mixed", "-public", srv.URL, "-admin", srv.URL, "-d", "300ms", "-c", "4", "-seed-users", "3",
		"-mix", "whoami=40,login=30,registration=30", "-acked", acked, "-pid", fmt.Sprint(os.Getpid()),
		"-rss-every", "20ms", "-goroutines-every", "20ms", "-rest-settle", "0")
	if code != exitOK || res["pass"] != true {
		t.Fatalf("mixed: code %d\n%s", code, out)
	}
	fig := res["figures"].(map[string]any)
	for _, k := range mixedKinds {
		if fig[k+"_requests"].(float64) == 0 || fig[k+"_failed"] != 0.0 {
			t.Errorf("%s: %v requests, %v failed", k, fig[k+"_requests"], fig[k+"_failed"])
		}
	}
	if fig["goroutines_first"] != 7.0 || fig["goroutines_rest_after"] != 7.0 || fig["rss_warm_min_kib"] == nil {
		t.Errorf("series figures: %v", fig)
	}
	if len(fake.bad) > 0 {
		t.Errorf("unexpected requests: %v", fake.bad)
	}
	if strings.Contains(out, "Mixed-") {
		t.Error("the password was printed")
	}
	data, _ := os.ReadFile(acked)
	lines := strings.Count(string(data), "\n")
	if lines == 0 || float64(lines) != fig["acked_registrations"] || float64(lines) != fig["registration_requests"] {
		t.Fatalf("%d lines acknowledged, figures %v", lines, fig)
	}

	code, res, out = invoke(t, "check-registrations", "-admin", srv.URL, "-acked", acked)
	if code != exitOK || res["figures"].(map[string]any)["found"] != float64(lines) {
		t.Fatalf("check-registrations: code %d\n%s", code, out)
	}

	// One lost registration fails the check and is named.
	first, _, _ := strings.Cut(string(data), "\t")
	fake.mu.Lock()
	delete(fake.identities, first)
	fake.mu.Unlock()
	code, res, out = invoke(t, "check-registrations", "-admin", srv.URL, "-acked", acked)
	if code != exitFailed || res["figures"].(map[string]any)["missing"] != 1.0 || !strings.Contains(out, first) {
		t.Errorf("with one lost: code %d\n%s", code, out)
	}

	if code, _, _ := invoke(t, "mixed", "-public", srv.URL, "-admin", srv.URL, "-d", "1s"); code != exitUsage {
		t.Errorf("registrations without -acked: code %d, want usage", code)
	}
	if code, _, _ := invoke(t, "mixed", "-public", srv.URL, "-admin", srv.URL, "-acked", acked); code != exitUsage {
		t.Errorf("without -d: code %d, want usage", code)
	}
}
