package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// result is what a scenario measured. Its JSON form is the last line of the
// output; the keys are flat where scripts are likely to read them.
type result struct {
	Scenario string `json:"scenario"`
	Target   string `json:"target,omitempty"`
	Workers  int    `json:"workers,omitempty"`

	Operations int            `json:"operations,omitempty"`       // completed, good or bad
	OK         int            `json:"ok"`                         // got the expected answer
	Failed     int            `json:"failed"`                     // anything else
	Requests   int            `json:"http_requests,omitempty"`    // HTTP requests behind them
	DurationS  float64        `json:"duration_s,omitempty"`       // wall time of the run
	Throughput float64        `json:"throughput_per_s,omitempty"` // operations per second
	Unit       string         `json:"unit,omitempty"`             // what the operations are, plural
	Status     map[string]int `json:"status,omitempty"`           // of the main step
	latencySummary

	Steps []step `json:"steps,omitempty"` // per HTTP step, for multi-step operations

	RSSKiB    int64 `json:"rss_kib,omitempty"`     // idle-rss: VmRSS now
	HWMKiB    int64 `json:"hwm_kib,omitempty"`     // idle-rss: peak VmRSS since start
	RSSMaxKiB int64 `json:"rss_max_kib,omitempty"` // highest VmRSS sampled during a run
	PID       int   `json:"pid,omitempty"`
	// CPU time the server used during the run, and that divided by the
	// wall time: how many cores it kept busy on average.
	ServerCPUS  float64   `json:"server_cpu_s,omitempty"`
	ServerCores float64   `json:"server_cores,omitempty"`
	RunsMS      []float64 `json:"runs_ms,omitempty"` // startup: each run
	MedianMS    float64   `json:"median_ms,omitempty"`

	Figures map[string]any `json:"figures,omitempty"` // mixed, check-registrations: flat keys, unique in the line

	FirstFailure string `json:"first_failure,omitempty"`
	Error        string `json:"error,omitempty"` // why the run stopped early
	Pass         bool   `json:"pass"`

	notes []string // extra lines for the human-readable block
}

type step struct {
	Name   string         `json:"name"`
	OK     int            `json:"ok"`
	Failed int            `json:"failed"`
	Status map[string]int `json:"status"`
	latencySummary
}

// fill copies the merged measurements into r: main is the operation whose
// latency and statuses are the headline, steps lists the HTTP steps of a
// multi-step operation (nil for single requests).
func (r *result) fill(rec *recorder, elapsed time.Duration, main string, steps []string) {
	m := rec.op(main)
	r.Operations = m.ok + m.failed
	r.OK, r.Failed = m.ok, m.failed
	r.DurationS = round3(elapsed.Seconds())
	if elapsed > 0 {
		r.Throughput = round1(float64(r.Operations) / elapsed.Seconds())
	}
	r.Status = m.statuses
	r.latencySummary = summarize(m.latencies)
	r.FirstFailure = m.firstErr
	r.Requests = r.Operations
	if steps == nil {
		return
	}
	r.Requests = 0
	for _, name := range steps {
		s := rec.op(name)
		r.Requests += s.ok + s.failed
		r.Steps = append(r.Steps, step{Name: name, OK: s.ok, Failed: s.failed, Status: s.statuses, latencySummary: summarize(s.latencies)})
		if r.FirstFailure == "" {
			r.FirstFailure = s.firstErr
		}
	}
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }
func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

func writeReport(w io.Writer, r *result) {
	var b strings.Builder
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "  %-13s %s\n", label, fmt.Sprintf(format, args...))
	}
	fmt.Fprintf(&b, "== %s ==\n", r.Scenario)
	if r.Target != "" {
		line("target", "%s", r.Target)
	}
	if r.Workers > 0 {
		line("workers", "%d", r.Workers)
	}
	if r.Operations > 0 || r.DurationS > 0 {
		unit := r.Unit
		if unit == "" {
			unit = "operations"
		}
		line("operations", "%d %s (%d ok, %d failed, %d HTTP requests)", r.Operations, unit, r.OK, r.Failed, r.Requests)
		line("total time", "%.3f s", r.DurationS)
		line("throughput", "%.1f %s/s", r.Throughput, unit)
		line("latency", "%s", formatLatency(r.latencySummary))
		line("status", "%s", formatStatuses(r.Status))
		for _, s := range r.Steps {
			line("  "+s.Name, "%s | %s", formatLatency(s.latencySummary), formatStatuses(s.Status))
		}
	}
	if r.PID != 0 {
		line("pid", "%d", r.PID)
	}
	if r.RSSKiB > 0 {
		line("VmRSS", "%s", kib(r.RSSKiB))
	}
	if r.HWMKiB > 0 {
		line("VmHWM", "%s (peak since start)", kib(r.HWMKiB))
	}
	if r.RSSMaxKiB > 0 {
		line("server RSS", "%s at most during the run", kib(r.RSSMaxKiB))
	}
	if r.ServerCPUS > 0 {
		line("server CPU", "%.2f s, %.2f cores busy on average", r.ServerCPUS, r.ServerCores)
	}
	if len(r.RunsMS) > 0 {
		parts := make([]string, len(r.RunsMS))
		for i, v := range r.RunsMS {
			parts[i] = fmt.Sprintf("%.1f", v)
		}
		line("runs", "%s ms", strings.Join(parts, ", "))
		line("median", "%.1f ms", r.MedianMS)
	}
	for _, n := range r.notes {
		line("note", "%s", n)
	}
	if r.FirstFailure != "" {
		line("first failure", "%s", r.FirstFailure)
	}
	if r.Error != "" {
		line("ERROR", "%s", r.Error)
	}
	verdict := "PASS"
	if !r.Pass {
		verdict = "FAIL"
	}
	line("result", "%s", verdict)
	js, err := json.Marshal(r)
	if err != nil {
		// Only unsupported values (NaN) can get here; say so rather than
		// print a line scripts would misread.
		js = []byte(fmt.Sprintf(`{"scenario":%q,"pass":false,"error":"encoding the result: %v"}`, r.Scenario, err))
	}
	b.Write(js)
	b.WriteByte('\n')
	_, _ = io.WriteString(w, b.String())
}

func formatLatency(l latencySummary) string {
	return fmt.Sprintf("p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms", l.P50, l.P90, l.P99, l.Max)
}

func formatStatuses(m map[string]int) string {
	if len(m) == 0 {
		return "(none)"
	}
	var parts []string
	for _, k := range sortedStatuses(m) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func kib(k int64) string {
	return fmt.Sprintf("%.1f MiB (%d KiB)", float64(k)/1024, k)
}
