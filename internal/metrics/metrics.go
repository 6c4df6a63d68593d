// Package metrics keeps Lanyard's Prometheus metrics in a registry of its
// own (Go runtime and process collectors included) and serves them in the
// text format. Label values come from fixed sets (route patterns, flow
// kinds, method ids, statuses), never from request paths or input, so the
// number of series stays bounded and no id or secret ends up in a label.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lanyard-id/lanyard/internal/store"
)

// Metrics is every metric of one server. A nil *Metrics records nothing.
type Metrics struct {
	registry *prometheus.Registry

	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	flows    *prometheus.CounterVec
	sends    *prometheus.CounterVec
	refusals *prometheus.CounterVec
}

// Outcomes of a flow submission.
const (
	OutcomeSuccess   = "success"
	OutcomeFormError = "form_error"
	OutcomeError     = "error"
)

// latencyBuckets run from 0.5 ms (a health check) to 5 s (a slow hash on a
// loaded machine), roughly doubling.
var latencyBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// New builds the registry. queue, when set, is asked once per scrape how
// many courier messages there are in each status.
func New(queue func(ctx context.Context) (map[string]int, error)) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lanyard_http_requests_total",
			Help: "HTTP requests answered, by listener, route pattern and status code.",
		}, []string{"listener", "route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lanyard_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by listener and route pattern.",
			Buckets: latencyBuckets,
		}, []string{"listener", "route"}),
		flows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lanyard_selfservice_flow_submissions_total",
			Help: "Self-service flow submissions by flow kind, method and outcome (success, form_error, error).",
		}, []string{"kind", "method", "outcome"}),
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lanyard_courier_sends_total",
			Help: "Courier delivery attempts by result: sent, failed (retried later) or abandoned.",
		}, []string{"result"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lanyard_guard_refusals_total",
			Help: "Attempts refused by brute-force protection, by scope and reason (locked, delayed, rate_limited).",
		}, []string{"scope", "reason"}),
	}
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.latency, m.flows, m.sends, m.refusals,
		&databaseCollector{queue: queue},
	)
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		ErrorLog:      slogErrors{},
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// Registry is the registry behind Handler, for tests and further
// collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Request records one answered request. route is the ServeMux pattern
// that served it ("" when none matched).
func (m *Metrics) Request(listener, route string, status int, took time.Duration) {
	if m == nil {
		return
	}
	if route == "" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(listener, route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(listener, route).Observe(took.Seconds())
}

// Completed, Rejected and Failed count how a flow submission ended; they
// make *Metrics a flow.Observer.
func (m *Metrics) Completed(kind, method string) { m.flow(kind, method, OutcomeSuccess) }

// Rejected counts a submission shown again with form errors.
func (m *Metrics) Rejected(kind, method string) { m.flow(kind, method, OutcomeFormError) }

// Failed counts a submission answered with an error.
func (m *Metrics) Failed(kind, method string) { m.flow(kind, method, OutcomeError) }

func (m *Metrics) flow(kind, method, outcome string) {
	if m == nil {
		return
	}
	if method == "" {
		method = "none" // failed before its flow was loaded, or before the flow knew its method
	}
	m.flows.WithLabelValues(kind, method, outcome).Inc()
}

// CourierSent counts one delivery attempt's result.
func (m *Metrics) CourierSent(result string) {
	if m == nil {
		return
	}
	m.sends.WithLabelValues(result).Inc()
}

// Refused counts one brute-force refusal.
func (m *Metrics) Refused(scope, reason string) {
	if m == nil {
		return
	}
	m.refusals.WithLabelValues(scope, reason).Inc()
}

// queueStatuses are always reported, so that an empty queue reads 0
// instead of missing.
var queueStatuses = []string{"queued", "processing", "sent", "abandoned"}

// scrapeTimeout bounds the queue query of one scrape.
const scrapeTimeout = 5 * time.Second

var (
	queueDesc = prometheus.NewDesc("lanyard_courier_messages",
		"Courier messages in the database, by status.", []string{"status"}, nil)
	roundTripsDesc = prometheus.NewDesc("lanyard_database_round_trips_total",
		"Round trips to PostgreSQL: each time a connection sent something and waited for the answer (connection set-up and pings included).", nil, nil)
	pingsDesc = prometheus.NewDesc("lanyard_database_pings_total",
		"Of the round trips to PostgreSQL, the liveness pings sent before reusing a connection idle for over a second.", nil, nil)
)

// databaseCollector asks the database for the queue at each scrape, so
// that the figure is right however many processes share the queue, and then
// reads the round-trip counters: read after the query, they include it,
// so that the difference between two scrapes is what happened between them
// plus exactly one scrape.
type databaseCollector struct {
	queue func(ctx context.Context) (map[string]int, error) // nil: no queue figures
}

func (c *databaseCollector) Describe(ch chan<- *prometheus.Desc) {
	if c.queue != nil {
		ch <- queueDesc
	}
	ch <- roundTripsDesc
	ch <- pingsDesc
}

func (c *databaseCollector) Collect(ch chan<- prometheus.Metric) {
	if c.queue != nil {
		c.collectQueue(ch)
	}
	ch <- prometheus.MustNewConstMetric(roundTripsDesc, prometheus.CounterValue, float64(store.RoundTrips()))
	ch <- prometheus.MustNewConstMetric(pingsDesc, prometheus.CounterValue, float64(store.Pings()))
}

func (c *databaseCollector) collectQueue(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	counts, err := c.queue(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(queueDesc, err)
		return
	}
	seen := map[string]bool{}
	for _, s := range queueStatuses {
		seen[s] = true
		ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(counts[s]), s)
	}
	for s, n := range counts {
		if !seen[s] {
			ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(n), s)
		}
	}
}

// slogErrors sends promhttp's errors to the log.
type slogErrors struct{}

func (slogErrors) Println(v ...any) { slog.Warn("metrics: serving a scrape failed", "error", v) }
