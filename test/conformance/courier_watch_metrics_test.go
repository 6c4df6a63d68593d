package conformance

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/lanyard-id/lanyard/test/testserver"
)

// TestCourierWatch_MetricsPort: a standalone `courier watch
// --expose-metrics-port N` serves Kratos's /metrics/prometheus with the
// courier's figures, as serve --watch-courier does on the admin listener:
// a message queued while the SMTP server is down shows as queued with a
// failed attempt, then as sent once the server is back.
func TestCourierWatch_MetricsPort(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		sink := startMailSink(t)
		spec := verificationSpec(store, sink, map[string]any{"courier.worker.pull_wait": "100ms"})
		spec.args = nil // only the standalone worker sends
		s := startServer(t, spec)

		sink.Stop()
		email := uniqueEmail("watch-metrics")
		queueVerificationCodes(t, s, email)

		port := testserver.FreePort(t)
		base := fmt.Sprintf("http://127.0.0.1:%d", port)
		w := startCourierWatchArgs(t, s, "--expose-metrics-port", strconv.Itoa(port))
		watchReady(t, w, base)

		families := watchMetricsUntil(t, base, "a queued message and a failed attempt", func(f map[string]*dto.MetricFamily) bool {
			return metricValue(f, "lanyard_courier_messages", map[string]string{"status": "queued"}) >= 1 &&
				metricValue(f, "lanyard_courier_sends_total", map[string]string{"result": "failed"}) >= 1
		})
		if got := metricValue(families, "lanyard_courier_messages", map[string]string{"status": "sent"}); got != 0 {
			t.Errorf("sent messages = %v while the SMTP server is down, want 0", got)
		}
		for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "lanyard_courier_messages"} {
			if families[name] == nil {
				t.Errorf("%s is missing from the courier's metrics", name)
			}
		}

		sink.Restart(t)
		sink.WaitFor(t, email, "", mailWait)
		families = watchMetricsUntil(t, base, "the send counted", func(f map[string]*dto.MetricFamily) bool {
			return metricValue(f, "lanyard_courier_sends_total", map[string]string{"result": "sent"}) >= 1 &&
				metricValue(f, "lanyard_courier_messages", map[string]string{"status": "sent"}) >= 1
		})
		if got := metricValue(families, "lanyard_courier_messages", map[string]string{"status": "queued"}); got != 0 {
			t.Errorf("queued messages = %v after delivery, want 0", got)
		}
		if n := sink.CountTo(email); n != 1 {
			t.Errorf("%s received %d mails, want 1", email, n)
		}
		w.stop(t)
	})
}

// startCourierWatchArgs is startCourierWatch with extra arguments.
func startCourierWatchArgs(t *testing.T, s *Server, args ...string) *courierWatch {
	t.Helper()
	proc, err := testserver.Start(binPath, s.Dir, nil, append([]string{"courier", "watch", "-c", s.ConfigPath}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	w := &courierWatch{proc: proc}
	t.Cleanup(func() {
		if !w.closed {
			w.stop(t)
		}
		if t.Failed() {
			t.Logf("lanyard courier watch output:\n%s", w.proc.Output.String())
		}
	})
	return w
}

// watchReady waits for the worker's readiness check on its metrics port.
func watchReady(t *testing.T, w *courierWatch, base string) {
	t.Helper()
	deadline := time.Now().Add(mailWait)
	for {
		if exited, err := w.proc.Exited(); exited {
			t.Fatalf("courier watch exited: %v\n%s", err, w.proc.Output.String())
		}
		res, err := http.Get(base + "/health/ready")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("courier watch's /health/ready did not answer 200 within %s", mailWait)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// watchMetricsUntil scrapes the worker's /metrics/prometheus until ok.
func watchMetricsUntil(t *testing.T, base, what string, ok func(map[string]*dto.MetricFamily) bool) map[string]*dto.MetricFamily {
	t.Helper()
	deadline := time.Now().Add(mailWait)
	for {
		families := scrapeMetrics(t, base+"/metrics/prometheus")
		if ok(families) {
			return families
		}
		if time.Now().After(deadline) {
			t.Fatalf("courier watch's metrics show no %s within %s", what, mailWait)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
