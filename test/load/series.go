package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// sample is one reading at a time since the start of sampling.
type sample struct {
	at    time.Duration
	value int64
}

// series is what a seriesSampler read: the server's VmRSS in KiB and its
// goroutine count.
type series struct {
	rss        []sample
	goroutines []sample
	// scrapes of the metrics that failed; a soak needs every one.
	scrapeFailures int
	firstScrapeErr string
}

// seriesSampler reads a server's VmRSS (when it has the pid) and its
// go_goroutines gauge at fixed intervals for as long as a run lasts.
type seriesSampler struct {
	pid        int
	metricsURL string
	hc         *http.Client
	start      time.Time
	cpuStart   time.Duration

	mu   sync.Mutex
	data series

	quit chan struct{}
	wg   sync.WaitGroup
}

// startSeriesSampler takes the first readings at once, so that a wrong pid
// or a server without metrics fails before the run rather than after it.
func startSeriesSampler(pid int, admin string, rssEvery, goroutinesEvery time.Duration) (*seriesSampler, error) {
	s := &seriesSampler{
		pid:        pid,
		metricsURL: admin + "/admin/metrics/prometheus",
		hc:         newClient(1, 5*time.Second),
		start:      time.Now(),
		quit:       make(chan struct{}),
	}
	if pid > 0 {
		cpu, err := readCPU(pid)
		if err != nil {
			return nil, fmt.Errorf("-pid: %w", err)
		}
		s.cpuStart = cpu
		if err := s.readRSS(); err != nil {
			return nil, fmt.Errorf("-pid: %w", err)
		}
		s.every(rssEvery, func() { _ = s.readRSS() })
	}
	if err := s.readGoroutines(); err != nil {
		return nil, err
	}
	s.every(goroutinesEvery, func() {
		if err := s.readGoroutines(); err != nil {
			s.mu.Lock()
			s.data.scrapeFailures++
			if s.data.firstScrapeErr == "" {
				s.data.firstScrapeErr = err.Error()
			}
			s.mu.Unlock()
		}
	})
	return s, nil
}

func (s *seriesSampler) every(d time.Duration, read func()) {
	s.wg.Go(func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-s.quit:
				return
			case <-t.C:
				read()
			}
		}
	})
}

// readRSS notes the VmRSS; a process that has gone (killed on purpose
// during a durability run) simply stops the series.
func (s *seriesSampler) readRSS() error {
	m, err := readMemory(s.pid)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.data.rss = append(s.data.rss, sample{time.Since(s.start), m.rss})
	s.mu.Unlock()
	return nil
}

func (s *seriesSampler) readGoroutines() error {
	at := time.Since(s.start)
	n, err := scrapeGauge(context.Background(), s.hc, s.metricsURL, "go_goroutines")
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.data.goroutines = append(s.data.goroutines, sample{at, int64(n)})
	s.mu.Unlock()
	return nil
}

// stop ends sampling and returns what was read.
func (s *seriesSampler) stop() series {
	close(s.quit)
	s.wg.Wait()
	s.hc.CloseIdleConnections()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data
}

func scrapeGauge(ctx context.Context, hc *http.Client, u, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return 0, fmt.Errorf("reading %s: GET %s answered %d", name, u, resp.StatusCode)
	}
	v, err := parseGauge(io.LimitReader(resp.Body, 8<<20), name)
	if err != nil {
		return 0, fmt.Errorf("reading %s from %s: %w", name, u, err)
	}
	return v, nil
}

// parseGauge finds the value of an unlabelled metric in the Prometheus
// text format ("go_goroutines 13").
func parseGauge(r io.Reader, name string) (float64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 2 || fields[0] != name {
			continue
		}
		v, err := strconv.ParseFloat(fields[1], 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected %s value %q", name, fields[1])
		}
		return v, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no %s line", name)
}

// window keeps the samples read from warmup to until: after the server
// has settled and before the load winds down.
func window(s []sample, warmup, until time.Duration) []sample {
	var out []sample
	for _, x := range s {
		if x.at >= warmup && x.at <= until {
			out = append(out, x)
		}
	}
	return out
}

// span is the lowest and highest value of non-empty s.
func span(s []sample) (lo, hi int64) {
	lo, hi = s[0].value, s[0].value
	for _, x := range s[1:] {
		lo, hi = min(lo, x.value), max(hi, x.value)
	}
	return lo, hi
}

func (d series) rssMax() int64 {
	if len(d.rss) == 0 {
		return 0
	}
	_, hi := span(d.rss)
	return hi
}

// addFigures writes the figures of the samples from warmup to until, and
// the whole series, under flat keys.
func (d series) addFigures(f map[string]any, warmup, until time.Duration) {
	f["warmup_s"] = round3(warmup.Seconds())
	if rss := window(d.rss, warmup, until); len(rss) > 0 {
		lo, hi := span(rss)
		f["rss_warm_min_kib"], f["rss_warm_max_kib"], f["rss_warm_samples"] = lo, hi, len(rss)
		if lo > 0 {
			f["rss_warm_ratio"] = round3(float64(hi) / float64(lo))
		}
	}
	if g := window(d.goroutines, warmup, until); len(g) > 0 {
		_, hi := span(g)
		first, last := g[0].value, g[len(g)-1].value
		f["goroutines_first"], f["goroutines_last"], f["goroutines_max"] = first, last, hi
		f["goroutines_growth"], f["goroutine_samples"] = last-first, len(g)
	}
	f["goroutine_scrape_failures"] = d.scrapeFailures
	f["rss_series_kib"] = pairs(d.rss)
	f["goroutine_series"] = pairs(d.goroutines)
}

// pairs renders samples as [seconds, value] for the JSON line.
func pairs(s []sample) [][2]float64 {
	out := make([][2]float64, len(s))
	for i, x := range s {
		out[i] = [2]float64{round1(x.at.Seconds()), float64(x.value)}
	}
	return out
}

// notes are the human-readable lines for the same figures.
func (d series) notes(warmup, until time.Duration) []string {
	var out []string
	if rss := window(d.rss, warmup, until); len(rss) > 0 {
		lo, hi := span(rss)
		out = append(out, fmt.Sprintf("server RSS from %s to %s: min %s, max %s, max/min %.3f (%d samples)",
			warmup, until, kib(lo), kib(hi), float64(hi)/float64(max(lo, 1)), len(rss)))
	} else {
		out = append(out, fmt.Sprintf("no RSS samples from %s to %s", warmup, until))
	}
	if g := window(d.goroutines, warmup, until); len(g) > 0 {
		_, hi := span(g)
		out = append(out, fmt.Sprintf("server goroutines from %s to %s: first %d, last %d, max %d (%d samples)",
			warmup, until, g[0].value, g[len(g)-1].value, hi, len(g)))
	} else {
		out = append(out, fmt.Sprintf("no goroutine samples from %s to %s", warmup, until))
	}
	if d.scrapeFailures > 0 {
		out = append(out, fmt.Sprintf("%d metrics scrapes failed, the first: %s", d.scrapeFailures, d.firstScrapeErr))
	}
	return out
}

// restingGoroutines is the server's goroutine count with no request of
// ours in flight and our connections closed: the lowest of a few readings
// over settle, since a closed connection's goroutine takes a moment to end.
func restingGoroutines(ctx context.Context, admin string, settle time.Duration) (int64, error) {
	hc := newClient(1, 5*time.Second)
	defer hc.CloseIdleConnections()
	lowest := int64(-1)
	var lastErr error
	for i := range 4 {
		if i > 0 {
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(settle / 3):
			}
		}
		n, err := scrapeGauge(ctx, hc, admin+"/admin/metrics/prometheus", "go_goroutines")
		if err != nil {
			lastErr = err
			continue
		}
		if lowest < 0 || int64(n) < lowest {
			lowest = int64(n)
		}
	}
	if lowest < 0 {
		return 0, lastErr
	}
	return lowest, nil
}
