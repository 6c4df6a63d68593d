// Package requestid gives every request an id that its answer echoes in
// X-Request-Id and that every log line written with its context carries,
// so that one request can be followed through the logs.
package requestid

import (
	"context"
	"log/slog"

	"github.com/google/uuid"
)

// Header is where the id comes in (from a proxy in front) and goes out.
const Header = "X-Request-Id"

// LogKey is the attribute that carries the id in log lines.
const LogKey = "request_id"

// maxLen bounds an incoming id: longer ones are replaced rather than
// copied into every log line.
const maxLen = 128

type contextKey struct{}

// FromContext answers the id of the request ctx belongs to, or "".
func FromContext(ctx context.Context) string {
	id, _ := ctx.Value(contextKey{}).(string)
	return id
}

// NewContext returns ctx carrying id.
func NewContext(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, contextKey{}, id)
}

// Pick keeps an incoming id when it is 1 to 128 printable ASCII
// characters and makes a random one otherwise, so that nothing
// unprintable reaches the logs or the response header.
func Pick(incoming string) string {
	if Valid(incoming) {
		return incoming
	}
	return uuid.NewString()
}

// Valid reports whether id may be kept as it came.
func Valid(id string) bool {
	if id == "" || len(id) > maxLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// LogHandler wraps h so that records logged with a request's context
// carry its id.
func LogHandler(h slog.Handler) slog.Handler { return logHandler{h} }

type logHandler struct{ slog.Handler }

func (l logHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := FromContext(ctx); id != "" {
		r = r.Clone()
		r.AddAttrs(slog.String(LogKey, id))
	}
	return l.Handler.Handle(ctx, r)
}

func (l logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return logHandler{l.Handler.WithAttrs(attrs)}
}

func (l logHandler) WithGroup(name string) slog.Handler {
	return logHandler{l.Handler.WithGroup(name)}
}
