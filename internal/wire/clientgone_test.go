package wire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
)

// logRecords captures what the default logger gets during a test.
type logRecords struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, r)
	return nil
}
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecords) WithGroup(string) slog.Handler      { return l }

func (l *logRecords) at(level slog.Level) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.records {
		if r.Level == level {
			out = append(out, r.Message)
		}
	}
	return out
}

// captureLogs sends the default logger's records to the returned handler
// until the test ends.
func captureLogs(t *testing.T) *logRecords {
	t.Helper()
	l := &logRecords{}
	old := slog.Default()
	slog.SetDefault(slog.New(l))
	t.Cleanup(func() { slog.SetDefault(old) })
	return l
}

func TestClientGoneIsNoServerError(t *testing.T) {
	logs := captureLogs(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // as net/http does when the client closes the connection
	left := httptest.NewRequest("GET", "/admin/identities", nil).WithContext(ctx)

	for _, err := range []error{
		fmt.Errorf("listing identities: %w", context.Canceled),
		errors.New("conn closed"), // whatever the driver says once the context is done
		Internal.WithCause(context.Canceled),
	} {
		w := httptest.NewRecorder()
		WriteError(w, left, err)
		if w.Code != StatusClientClosedRequest {
			t.Errorf("WriteError(%v) for a client that left: %d, want %d", err, w.Code, StatusClientClosedRequest)
		}
		LogServerError(left, err)
	}
	// A cancellation that reaches a request still there is no server bug
	// either (the brief: context.Canceled is the client's doing).
	w := httptest.NewRecorder()
	WriteError(w, httptest.NewRequest("GET", "/x", nil), context.Canceled)
	if w.Code >= 500 {
		t.Errorf("context.Canceled answered %d", w.Code)
	}
	if errs := logs.at(slog.LevelError); len(errs) != 0 {
		t.Errorf("a client going away was logged at ERROR: %v", errs)
	}
	if infos := logs.at(slog.LevelInfo); len(infos) != 7 || infos[0] != "client went away" {
		t.Errorf("info records %q, want 7 × client went away", infos)
	}

	// Client errors stay what they are, even for a client that left.
	w = httptest.NewRecorder()
	WriteError(w, left, NotFound)
	if w.Code != 404 {
		t.Errorf("a 404 for a client that left became %d", w.Code)
	}
	// And real server errors are still errors.
	WriteError(httptest.NewRecorder(), httptest.NewRequest("GET", "/x", nil), errors.New("disk on fire"))
	if errs := logs.at(slog.LevelError); len(errs) != 1 {
		t.Errorf("a server error logged %d ERROR records, want 1", len(errs))
	}
}
