package requestid

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestPickKeepsPrintableIDs(t *testing.T) {
	for _, id := range []string{"a", "trace-1 2/3", strings.Repeat("x", 128)} {
		if got := Pick(id); got != id {
			t.Errorf("Pick(%q) = %q, want it kept", id, got)
		}
	}
	for _, id := range []string{"", strings.Repeat("x", 129), "tab\there", "new\nline", "ünïcode"} {
		got := Pick(id)
		if got == id || !Valid(got) {
			t.Errorf("Pick(%q) = %q, want a fresh valid id", id, got)
		}
	}
	if a, b := Pick(""), Pick(""); a == b {
		t.Errorf("two generated ids are equal: %q", a)
	}
}

func TestLogLinesCarryTheID(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(LogHandler(slog.NewJSONHandler(&buf, nil))).With("component", "test")
	log.InfoContext(NewContext(context.Background(), "req-7"), "hello")
	log.InfoContext(context.Background(), "no request")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"request_id":"req-7"`) || strings.Contains(lines[1], "request_id") {
		t.Errorf("log lines:\n%s", buf.String())
	}
}
