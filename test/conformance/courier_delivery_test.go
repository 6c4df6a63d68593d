package conformance

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	ory "github.com/ory/client-go"

	"github.com/lanyard-id/lanyard/test/testserver"
)

// TestCourier_DeliveryAndRetry: a delivered message turns sent with
// send_count 1; while the SMTP server is down a message stays queued and
// records failed dispatches, and once it is back the mail arrives exactly
// once.
func TestCourier_DeliveryAndRetry(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, store string) {
		sink := startMailSink(t)
		s := verificationServer(t, store, sink, nil)

		email := uniqueEmail("delivered")
		queueVerificationCodes(t, s, email)
		sink.WaitFor(t, email, "", mailWait)
		m := s.waitMessage(t, email, "sent", func(m ory.Message) bool { return m.Status == "sent" })
		if m.SendCount != 1 {
			t.Errorf("sent message send_count = %d, want 1", m.SendCount)
		}

		sink.Stop()
		down := uniqueEmail("retried")
		queueVerificationCodes(t, s, down)
		m = s.waitMessage(t, down, "failed twice", func(m ory.Message) bool { return m.SendCount >= 2 })
		if m.Status != "queued" && m.Status != "processing" {
			t.Errorf("status while SMTP is down = %s, want queued (waiting for a retry)", m.Status)
		}
		failed := 0
		for _, d := range m.Dispatches {
			if d.Status == "failed" && len(d.Error) > 0 {
				failed++
			}
		}
		if failed < 2 {
			t.Errorf("dispatches = %s, want at least two failed ones with an error", asJSON(m.Dispatches))
		}
		if n := sink.CountTo(down); n != 0 {
			t.Fatalf("%d mails arrived while the sink was down", n)
		}

		sink.Restart(t)
		sink.WaitFor(t, down, "", mailWait)
		m = s.waitMessage(t, down, "sent", func(m ory.Message) bool { return m.Status == "sent" })
		if m.SendCount < 3 {
			t.Errorf("send_count = %d after two failures and a success, want at least 3", m.SendCount)
		}
		if n := sink.CountTo(down); n != 1 {
			t.Errorf("%s received %d mails, want exactly 1", down, n)
		}
	})
}

// TestCourier_ExactlyOnceAcrossProcesses: two `serve --watch-courier`
// processes and a standalone `courier watch` share one PostgreSQL database
// and one SMTP server; every queued message is delivered exactly once.
func TestCourier_ExactlyOnceAcrossProcesses(t *testing.T) {
	t.Parallel()
	const n = 30
	sink := startMailSink(t)
	set := map[string]any{
		"courier.worker.pull_count": 2,
		"courier.worker.pull_wait":  "100ms",
	}
	s1 := verificationServer(t, storePostgres, sink, set)
	spec := verificationSpec(storePostgres, sink, set)
	spec.dsn = s1.DSN
	s2 := startServer(t, spec)
	watch := startCourierWatch(t, s1)

	emails := make([]string, n)
	for i := range emails {
		emails[i] = uniqueEmail(fmt.Sprintf("once-%02d", i))
	}
	// Queue through both API processes; all three workers compete.
	for i, email := range emails {
		srv := s1
		if i%2 == 1 {
			srv = s2
		}
		queueVerificationCodes(t, srv, email)
	}

	for _, email := range emails {
		sink.WaitFor(t, email, "", mailWait)
	}
	// Every message is recorded as sent before the counts are final.
	deadline := time.Now().Add(mailWait)
	for {
		sent, res, err := s1.Admin.CourierAPI.ListCourierMessages(t.Context()).Status(ory.COURIERMESSAGESTATUS_SENT).PageSize(100).Execute()
		requireOK(t, res, err, http.StatusOK)
		if len(sent) == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages are sent after %s", len(sent), n, mailWait)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, email := range emails {
		if c := sink.CountTo(email); c != 1 {
			t.Errorf("%s received %d mails, want exactly 1", email, c)
		}
	}
	if got := len(sink.Received()); got != n {
		t.Errorf("the sink received %d mails, want %d", got, n)
	}
	watch.stop(t)
	t.Logf("deliveries by process: serve 1: %d, serve 2: %d, courier watch: %d", strings.Count(s1.Stderr(), "courier delivered"), strings.Count(s2.Stderr(), "courier delivered"), strings.Count(watch.proc.Output.String(), "courier delivered"))
}

// courierWatch is a running `lanyard courier watch`.
type courierWatch struct {
	proc   *testserver.Process
	closed bool
}

// startCourierWatch runs the standalone worker with s's config.
func startCourierWatch(t *testing.T, s *Server) *courierWatch {
	t.Helper()
	proc, err := testserver.Start(binPath, s.Dir, nil, "courier", "watch", "-c", s.ConfigPath)
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

// stop sends SIGTERM and expects a clean exit.
func (w *courierWatch) stop(t *testing.T) {
	t.Helper()
	w.closed = true
	if exited, err := w.proc.Exited(); exited {
		t.Errorf("courier watch exited early: %v\n%s", err, w.proc.Output.String())
		return
	}
	if err := w.proc.Stop(); err != nil {
		t.Errorf("courier watch %v", err)
	}
}
