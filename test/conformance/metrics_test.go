package conformance

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestMetrics_CountRequestsFlowsAndCourier drives a registration, a wrong
// then right password and a recovery message through the real server, and
// reads the admin listener's Prometheus endpoint: the counters moved with
// route patterns and fixed label values, never a raw path, id or query.
func TestMetrics_CountRequestsFlowsAndCourier(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		sink := startMailSink(t)
		s := recServer(t, store, sink, map[string]any{"log.level": "debug"})
		email := uniqueEmail("metrics")
		s.registerNative(t, email)
		if res := s.loginNative(t, email, "not-the-password"); res.status != http.StatusBadRequest {
			t.Fatalf("wrong password: status %d, want 400: %s", res.status, res.body)
		}
		if res := s.loginNative(t, email, testPassword); res.status != http.StatusOK {
			t.Fatalf("right password: status %d, want 200: %s", res.status, res.body)
		}
		f := recNative(t, s)
		if res := recSubmit(t, s, plain(s), f.ID, map[string]any{"method": "code", "email": email}); res.status != http.StatusOK {
			t.Fatalf("recovery: status %d, want 200: %s", res.status, res.body)
		}
		sink.WaitFor(t, email, "", recMailWait)

		// The worker records the send just after the sink got it, and one
		// scrape collects the counter and the queue concurrently.
		var families map[string]*dto.MetricFamily
		deadline := time.Now().Add(recMailWait)
		for {
			families = scrapeMetrics(t, s.AdminURL+"/admin/metrics/prometheus")
			sent := metricValue(families, "lanyard_courier_sends_total", map[string]string{"result": "sent"}) >= 1 &&
				metricValue(families, "lanyard_courier_messages", map[string]string{"status": "sent"}) >= 1
			if sent || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}

		want := []struct {
			name    string
			labels  map[string]string
			atLeast float64
		}{
			{"lanyard_http_requests_total", map[string]string{"listener": "public", "route": "POST /self-service/login", "code": "400"}, 1},
			{"lanyard_http_requests_total", map[string]string{"listener": "public", "route": "POST /self-service/login", "code": "200"}, 1},
			{"lanyard_http_requests_total", map[string]string{"listener": "public", "route": "GET /self-service/login/api", "code": "200"}, 2},
			{"lanyard_selfservice_flow_submissions_total", map[string]string{"kind": "login", "method": "password", "outcome": "form_error"}, 1},
			{"lanyard_selfservice_flow_submissions_total", map[string]string{"kind": "login", "method": "password", "outcome": "success"}, 1},
			{"lanyard_selfservice_flow_submissions_total", map[string]string{"kind": "registration", "method": "password", "outcome": "success"}, 1},
			{"lanyard_courier_sends_total", map[string]string{"result": "sent"}, 1},
			{"lanyard_courier_messages", map[string]string{"status": "sent"}, 1},
		}
		for _, w := range want {
			if got := metricValue(families, w.name, w.labels); got < w.atLeast {
				t.Errorf("%s%v = %v, want at least %v", w.name, w.labels, got, w.atLeast)
			}
		}
		if got := metricValue(families, "lanyard_courier_messages", map[string]string{"status": "queued"}); got != 0 {
			t.Errorf("queued messages = %v, want 0 after delivery", got)
		}
		if h := metricHistogramCount(families, "lanyard_http_request_duration_seconds", map[string]string{"listener": "public", "route": "POST /self-service/login"}); h < 2 {
			t.Errorf("latency histogram of POST /self-service/login counted %d requests, want at least 2", h)
		}
		for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
			if families[name] == nil {
				t.Errorf("%s is missing: the Go and process collectors should be registered", name)
			}
		}

		uuidish := regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-`)
		for name, fam := range families {
			for _, m := range fam.GetMetric() {
				for _, l := range m.GetLabel() {
					if uuidish.MatchString(l.GetValue()) || strings.ContainsAny(l.GetValue(), "?@") {
						t.Errorf("%s has label %s=%q: ids, addresses and queries must not become labels", name, l.GetName(), l.GetValue())
					}
				}
			}
		}

		// Without the prefix too, as every admin route; never on the public listener.
		if res := sendRequest(t, plain(s), http.MethodGet, s.AdminURL+"/metrics/prometheus", nil, nil); res.status != http.StatusOK {
			t.Errorf("GET admin /metrics/prometheus: status %d, want 200", res.status)
		}
		if res := sendRequest(t, plain(s), http.MethodGet, s.PublicURL+"/metrics/prometheus", nil, nil); res.status != http.StatusNotFound {
			t.Errorf("GET public /metrics/prometheus: status %d, want 404", res.status)
		}
	})
}

// TestMetrics_RequestIDs: every answer carries X-Request-Id, the caller's
// when it is printable and short, a fresh one otherwise, and the server's
// log lines for the request carry it.
func TestMetrics_RequestIDs(t *testing.T) {
	s := startServer(t, serverSpec{set: map[string]any{"log.level": "debug", "log.format": "json"}})

	given := "trace-4f1c-abc"
	res := sendRequest(t, plain(s), http.MethodGet, s.AdminURL+"/admin/identities/not-an-id", nil, http.Header{"X-Request-Id": {given}})
	if res.status < 400 || res.status >= 500 {
		t.Fatalf("GET a malformed identity id: status %d, want 4xx: %s", res.status, res.body)
	}
	if got := res.header.Get("X-Request-Id"); got != given {
		t.Errorf("X-Request-Id = %q, want the caller's %q", got, given)
	}
	waitForLogLine(t, s, `"request_id":"`+given+`"`)

	for _, bad := range []string{"", strings.Repeat("x", 129), "line\tbreak"} {
		res := sendRequest(t, plain(s), http.MethodGet, s.PublicURL+"/health/alive", nil, http.Header{"X-Request-Id": {bad}})
		got := res.header.Get("X-Request-Id")
		if got == "" || got == bad || len(got) > 128 {
			t.Errorf("incoming X-Request-Id %q: answered %q, want a fresh id", bad, got)
		}
		waitForLogLine(t, s, `"request_id":"`+got+`"`)
	}
	a := sendRequest(t, plain(s), http.MethodGet, s.PublicURL+"/health/alive", nil, nil).header.Get("X-Request-Id")
	b := sendRequest(t, plain(s), http.MethodGet, s.PublicURL+"/health/alive", nil, nil).header.Get("X-Request-Id")
	if a == "" || a == b {
		t.Errorf("generated ids %q and %q: want two different ids", a, b)
	}
}

func waitForLogLine(t *testing.T, s *Server, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.Stderr(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the server's log has no line with %s:\n%s", want, s.Stderr())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// scrapeMetrics reads the Prometheus text format from url.
func scrapeMetrics(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", url, res.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("parsing %s: %v", url, err)
	}
	return families
}

// metricSeries answers the series of name whose labels include labels.
func metricSeries(families map[string]*dto.MetricFamily, name string, labels map[string]string) []*dto.Metric {
	var out []*dto.Metric
	for _, m := range families[name].GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		ok := true
		for k, v := range labels {
			ok = ok && have[k] == v
		}
		if ok {
			out = append(out, m)
		}
	}
	return out
}

func metricValue(families map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	sum := 0.0
	for _, m := range metricSeries(families, name, labels) {
		sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	return sum
}

func metricHistogramCount(families map[string]*dto.MetricFamily, name string, labels map[string]string) uint64 {
	var n uint64
	for _, m := range metricSeries(families, name, labels) {
		n += m.GetHistogram().GetSampleCount()
	}
	return n
}

// TestMetrics_GuardRefusalsAreCounted: a locked identifier's refusals
// show up by scope and reason.
func TestMetrics_GuardRefusalsAreCounted(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		s := selfserviceServer(t, store, map[string]any{
			"protection.rate_limits.enabled":    false,
			"protection.attempts.lock_after":    2,
			"protection.attempts.free_failures": 100,
		})
		email := uniqueEmail("metrics-lock")
		s.registerNative(t, email)
		for range 2 {
			if res := s.loginNative(t, email, "not-the-password"); res.status != http.StatusBadRequest {
				t.Fatalf("wrong password: status %d, want 400: %s", res.status, res.body)
			}
		}
		if res := s.loginNative(t, email, testPassword); res.status != http.StatusBadRequest || !strings.Contains(string(res.body), "4900002") {
			t.Fatalf("right password on a locked identifier: status %d, want 400 with 4900002: %s", res.status, res.body)
		}
		families := scrapeMetrics(t, s.AdminURL+"/admin/metrics/prometheus")
		if got := metricValue(families, "lanyard_guard_refusals_total", map[string]string{"scope": "login", "reason": "locked"}); got != 1 {
			t.Errorf("locked login refusals = %v, want 1", got)
		}
		if got := metricValue(families, "lanyard_selfservice_flow_submissions_total", map[string]string{"kind": "login", "method": "password", "outcome": "form_error"}); got != 3 {
			t.Errorf("login form errors = %v, want 3", got)
		}
	})
}
