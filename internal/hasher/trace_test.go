package hasher

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/lanyard-id/lanyard/internal/config"
)

// The only test in this package that installs a global tracer provider:
// otel's global delegates to the first one set.
func TestHashAndVerifyHaveSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	otel.SetTracerProvider(tp)
	ctx, root := tp.Tracer("test").Start(context.Background(), "test")

	h, err := New(config.Hashers{Bcrypt: config.Bcrypt{Cost: 4}})
	if err != nil {
		t.Fatal(err)
	}
	password := []byte("correct-horse-battery-staple")
	hash, err := h.Hash(ctx, password)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Compare(ctx, password, hash); err != nil {
		t.Fatal(err)
	}
	if err := h.Compare(ctx, []byte("wrong"), hash); err != ErrMismatch {
		t.Fatalf("Compare(wrong) = %v", err)
	}
	imported := "$pbkdf2-sha256$i=100000,l=32$1jP+5Zxpxgtee/iPxGgOz0RfE9/KJuDElP1ley4VxXc$QJxzfvdbHYBpydCbHoFg3GJEqMFULwskiuqiJctoYpI"
	if err := h.Compare(ctx, []byte("test"), []byte(imported)); err != nil {
		t.Fatal(err)
	}
	root.End()

	var got []string
	for _, s := range rec.Ended() {
		if s.SpanContext().TraceID() != root.SpanContext().TraceID() || s.Name() == "test" {
			continue
		}
		if s.Parent().SpanID() != root.SpanContext().SpanID() {
			t.Errorf("%s is not a child of the caller's span", s.Name())
		}
		alg := ""
		for _, a := range s.Attributes() {
			v := a.Value.String()
			if strings.Contains(v, string(password)) || strings.Contains(v, "$2a$") || strings.Contains(v, "1jP+5Zx") {
				t.Errorf("%s attribute %s = %q carries the password or the hash", s.Name(), a.Key, v)
			}
			if a.Key == "hash.algorithm" {
				alg = v
			}
		}
		if s.Status().Code != 0 {
			t.Errorf("%s status = %v: a mismatch is no error", s.Name(), s.Status())
		}
		got = append(got, s.Name()+":"+alg)
	}
	if want := "hash:bcrypt,verify:bcrypt,verify:bcrypt,verify:pbkdf2"; strings.Join(got, ",") != want {
		t.Errorf("spans = %s, want %s", strings.Join(got, ","), want)
	}
}
