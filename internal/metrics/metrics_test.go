package metrics

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestRequestsAreCountedByRoutePattern(t *testing.T) {
	m := New(nil)
	m.Request("public", "POST /self-service/login", 400, 3*time.Millisecond)
	m.Request("public", "POST /self-service/login", 400, time.Millisecond)
	m.Request("admin", "", 404, time.Millisecond)

	body := scrape(t, m)
	for _, want := range []string{
		`lanyard_http_requests_total{code="400",listener="public",route="POST /self-service/login"} 2`,
		`lanyard_http_requests_total{code="404",listener="admin",route="unmatched"} 1`,
		`lanyard_http_request_duration_seconds_count{listener="public",route="POST /self-service/login"} 2`,
		`lanyard_http_request_duration_seconds_bucket{listener="public",route="POST /self-service/login",le="0.0025"} 1`,
		`lanyard_http_request_duration_seconds_bucket{listener="public",route="POST /self-service/login",le="0.0005"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q:\n%s", want, body)
		}
	}
}

func TestFlowOutcomes(t *testing.T) {
	m := New(nil)
	m.Completed("login", "password")
	m.Rejected("login", "password")
	m.Failed("registration", "")
	m.Refused("login", "locked")
	body := scrape(t, m)
	for _, want := range []string{
		`lanyard_selfservice_flow_submissions_total{kind="login",method="password",outcome="success"} 1`,
		`lanyard_selfservice_flow_submissions_total{kind="login",method="password",outcome="form_error"} 1`,
		`lanyard_selfservice_flow_submissions_total{kind="registration",method="none",outcome="error"} 1`,
		`lanyard_guard_refusals_total{reason="locked",scope="login"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q:\n%s", want, body)
		}
	}
}

func TestNilMetricsRecordNothing(t *testing.T) {
	var m *Metrics
	m.Request("public", "GET /x", 200, time.Millisecond)
	m.Completed("login", "password")
	m.CourierSent("sent")
	m.Refused("login", "locked")
}

func TestQueueDepthIsAskedAtEachScrape(t *testing.T) {
	calls := 0
	m := New(func(context.Context) (map[string]int, error) {
		calls++
		return map[string]int{"queued": 3, "sent": 1}, nil
	})
	body := scrape(t, m)
	for _, want := range []string{
		`lanyard_courier_messages{status="queued"} 3`,
		`lanyard_courier_messages{status="sent"} 1`,
		`lanyard_courier_messages{status="abandoned"} 0`,
		`go_goroutines `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q:\n%s", want, body)
		}
	}
	scrape(t, m)
	if calls != 2 {
		t.Errorf("queue asked %d times for 2 scrapes", calls)
	}
}

func TestQueueErrorLeavesTheRestOfTheScrape(t *testing.T) {
	m := New(func(context.Context) (map[string]int, error) { return nil, errors.New("database down") })
	m.CourierSent("failed")
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics/prometheus", nil))
	if !strings.Contains(rec.Body.String(), `lanyard_courier_sends_total{result="failed"} 1`) {
		t.Errorf("the other metrics are missing when the queue cannot be read:\n%s", rec.Body.String())
	}
}

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics/prometheus", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: status %d: %s", rec.Code, rec.Body.String())
	}
	return rec.Body.String()
}

func TestDatabaseRoundTripsAreExported(t *testing.T) {
	for _, m := range []*Metrics{
		New(nil),
		New(func(context.Context) (map[string]int, error) { return nil, errors.New("database down") }),
	} {
		body := scrape(t, m)
		for _, want := range []string{"\nlanyard_database_round_trips_total ", "\nlanyard_database_pings_total "} {
			if !strings.Contains(body, want) {
				t.Errorf("scrape lacks %q:\n%s", want, body)
			}
		}
	}
}
