package main

import (
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"
)

// opStats collects the outcome of one kind of operation. Each worker owns
// its own and they are merged at the end, so no locking is needed.
type opStats struct {
	latencies []time.Duration // of answered and failed operations alike
	statuses  map[string]int  // "201", or an error class such as "timeout"
	ok        int
	failed    int
	firstErr  string // first unexpected answer, for the report
}

func newOpStats() *opStats { return &opStats{statuses: map[string]int{}} }

func (s *opStats) add(latency time.Duration, status string, ok bool, detail string) {
	s.latencies = append(s.latencies, latency)
	s.statuses[status]++
	if ok {
		s.ok++
		return
	}
	s.failed++
	if s.firstErr == "" {
		s.firstErr = detail
	}
}

func (s *opStats) merge(o *opStats) {
	s.latencies = append(s.latencies, o.latencies...)
	for k, v := range o.statuses {
		s.statuses[k] += v
	}
	s.ok += o.ok
	s.failed += o.failed
	if s.firstErr == "" {
		s.firstErr = o.firstErr
	}
}

// recorder holds one opStats per operation name.
type recorder struct{ ops map[string]*opStats }

func newRecorder() *recorder { return &recorder{ops: map[string]*opStats{}} }

func (r *recorder) op(name string) *opStats {
	s, ok := r.ops[name]
	if !ok {
		s = newOpStats()
		r.ops[name] = s
	}
	return s
}

func (r *recorder) merge(o *recorder) {
	for name, s := range o.ops {
		r.op(name).merge(s)
	}
}

// latencySummary is in milliseconds, the unit people read latencies in.
type latencySummary struct {
	P50 float64 `json:"p50_ms,omitempty"`
	P90 float64 `json:"p90_ms,omitempty"`
	P99 float64 `json:"p99_ms,omitempty"`
	Max float64 `json:"max_ms,omitempty"`
}

// summarize sorts d in place and returns its nearest-rank percentiles.
func summarize(d []time.Duration) latencySummary {
	if len(d) == 0 {
		return latencySummary{}
	}
	slices.Sort(d)
	return latencySummary{
		P50: ms(percentile(d, 50)),
		P90: ms(percentile(d, 90)),
		P99: ms(percentile(d, 99)),
		Max: ms(d[len(d)-1]),
	}
}

// percentile returns the nearest-rank percentile p (0 < p <= 100) of the
// sorted, non-empty d.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = max(1, min(rank, len(sorted)))
	return sorted[rank-1]
}

// ms rounds to microseconds so that the JSON stays readable.
func ms(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Microsecond)) / 1000
}

// sortedStatuses orders status keys numerically first, then the error
// classes alphabetically.
func sortedStatuses(m map[string]int) []string {
	keys := slices.Collect(maps.Keys(m))
	sort.Slice(keys, func(i, j int) bool {
		a, aErr := strconv.Atoi(keys[i])
		b, bErr := strconv.Atoi(keys[j])
		switch {
		case aErr == nil && bErr == nil:
			return a < b
		case aErr == nil:
			return true
		case bErr == nil:
			return false
		}
		return keys[i] < keys[j]
	})
	return keys
}
