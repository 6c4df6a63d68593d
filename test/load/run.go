package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// bounds limits a run: at most n operations (0: no count limit) and at most
// d of wall time (0: no time limit). At least one of them is set.
type bounds struct {
	n int
	d time.Duration
}

func (b bounds) validate(workers int) error {
	switch {
	case workers < 1:
		return fmt.Errorf("%w: -c must be at least 1", errUsage)
	case workers > 1024:
		return fmt.Errorf("%w: -c %d is more workers than a loopback benchmark needs (max 1024)", errUsage, workers)
	case b.n < 0:
		return fmt.Errorf("%w: -n must not be negative", errUsage)
	case b.d < 0:
		return fmt.Errorf("%w: -d must not be negative", errUsage)
	case b.n == 0 && b.d == 0:
		return fmt.Errorf("%w: give -n or -d (or both): every run must be bounded", errUsage)
	}
	return nil
}

// errStopped means an operation was cut short because the run was aborted
// (a fatal error elsewhere, or an interrupt); it is neither a success nor a
// failure and is not recorded.
var errStopped = errors.New("run stopped")

// fatalError aborts the whole run: every further request would fail the
// same way (wrong URL, endpoint missing, server down).
type fatalError struct{ msg string }

func (e *fatalError) Error() string { return e.msg }

func fatalf(format string, args ...any) error { return &fatalError{fmt.Sprintf(format, args...)} }

// opFunc performs operation i and records it in rec. A *fatalError stops
// the run; errStopped and nil do not.
type opFunc func(ctx context.Context, rec *recorder, i int) error

// runOps calls op from workers goroutines until the bounds are reached, ctx
// is done or an op reports a fatal error. Reaching -d stops new operations
// but lets those in flight finish (within the per-request timeout), so that
// no work the server did is thrown away and the server sees no aborted
// requests; a fatal error or ctx aborts them.
func runOps(ctx context.Context, workers int, b bounds, op opFunc) (*recorder, time.Duration, error) {
	reqCtx, abort := context.WithCancel(ctx)
	defer abort()

	var (
		next     atomic.Int64
		fatalMu  sync.Mutex
		fatalErr error
		wg       sync.WaitGroup
	)
	recs := make([]*recorder, workers)
	start := time.Now()
	var deadline time.Time
	if b.d > 0 {
		deadline = start.Add(b.d)
	}
	for w := range workers {
		recs[w] = newRecorder()
		wg.Go(func() {
			for reqCtx.Err() == nil {
				if !deadline.IsZero() && !time.Now().Before(deadline) {
					return
				}
				i := int(next.Add(1) - 1)
				if b.n > 0 && i >= b.n {
					return
				}
				err := op(reqCtx, recs[w], i)
				var fe *fatalError
				if errors.As(err, &fe) {
					fatalMu.Lock()
					if fatalErr == nil {
						fatalErr = fe
					}
					fatalMu.Unlock()
					abort()
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	all := newRecorder()
	for _, r := range recs {
		all.merge(r)
	}
	if fatalErr == nil && ctx.Err() != nil {
		fatalErr = fmt.Errorf("interrupted: %w", ctx.Err())
	}
	return all, elapsed, fatalErr
}

// maxBody caps how much of an answer is kept; the rest is drained so that
// the connection can be reused.
const maxBody = 1 << 20

type answer struct {
	status   int
	body     []byte
	location string // Location header, for redirects
	latency  time.Duration
}

// send performs req and reads its answer. A transport error is returned
// as is unless the run was aborted, in which case it is errStopped.
func send(ctx context.Context, hc *http.Client, req *http.Request) (answer, error) {
	start := time.Now()
	resp, err := hc.Do(req.WithContext(ctx))
	if err != nil {
		if ctx.Err() != nil {
			return answer{}, errStopped
		}
		return answer{latency: time.Since(start)}, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	a := answer{status: resp.StatusCode, body: body, location: resp.Header.Get("Location"), latency: time.Since(start)}
	if err != nil {
		if ctx.Err() != nil {
			return answer{}, errStopped
		}
		return a, err
	}
	return a, nil
}

// errorClass names a transport error briefly, for the status table.
func errorClass(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, errNotLoopback):
		return "not loopback"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	}
	return "transport error"
}

// check records a and decides what the run does next: want is the only
// good status; a 404 (the endpoint does not exist) or a refused connection
// is fatal because every later request would fail the same way.
func check(st *opStats, what string, a answer, err error, want int) error {
	if errors.Is(err, errStopped) {
		return errStopped
	}
	if err != nil {
		class := errorClass(err)
		st.add(a.latency, class, false, fmt.Sprintf("%s: %v", what, err))
		if class == "connection refused" || class == "not loopback" {
			return fatalf("%s: %v (is the server running?)", what, err)
		}
		return err
	}
	code := strconv.Itoa(a.status)
	if a.status == want {
		st.add(a.latency, code, true, "")
		return nil
	}
	detail := fmt.Sprintf("%s answered %d: %s", what, a.status, describeBody(a.body))
	st.add(a.latency, code, false, detail)
	switch {
	case a.status == http.StatusNotFound:
		return fatalf("%s answered 404 Not Found: the server does not serve this endpoint (yet); %s", what, describeBody(a.body))
	case a.status >= 300 && a.status < 400:
		// The API answers JSON, never redirects: the URL names the wrong
		// listener (Lanyard sends public paths on the admin port elsewhere).
		return fatalf("%s answered %d, a redirect to %q: is the base URL the right listener?", what, a.status, a.location)
	}
	return errors.New(detail)
}

// describeBody picks the human-readable part of an API answer: the
// message of a generic error, or the messages of a flow's UI; anything
// else is shown shortened.
func describeBody(b []byte) string {
	var shape struct {
		Error *struct {
			ID      string `json:"id"`
			Message string `json:"message"`
			Reason  string `json:"reason"`
		} `json:"error"`
		UI *struct {
			Messages []uiMessage `json:"messages"`
			Nodes    []struct {
				Messages []uiMessage `json:"messages"`
			} `json:"nodes"`
		} `json:"ui"`
	}
	if json.Unmarshal(b, &shape) == nil {
		if e := shape.Error; e != nil && (e.Message != "" || e.Reason != "") {
			s := e.Message
			if e.Reason != "" {
				s += " (" + e.Reason + ")"
			}
			if e.ID != "" {
				s = e.ID + ": " + s
			}
			return "error: " + strings.TrimSpace(s)
		}
		if ui := shape.UI; ui != nil {
			var msgs []string
			all := ui.Messages
			for _, n := range ui.Nodes {
				all = append(all, n.Messages...)
			}
			for _, m := range all {
				msgs = append(msgs, fmt.Sprintf("%d %q", m.ID, m.Text))
			}
			if len(msgs) > 0 {
				return "flow messages: " + strings.Join(msgs, "; ")
			}
		}
	}
	return snippet(b)
}

type uiMessage struct {
	ID   int    `json:"id"`
	Text string `json:"text"`
}

// snippet shortens an answer body for an error message.
func snippet(b []byte) string {
	b = bytes.TrimSpace(b)
	const limit = 300
	if len(b) > limit {
		return string(b[:limit]) + "…"
	}
	if len(b) == 0 {
		return "(empty body)"
	}
	return string(b)
}
