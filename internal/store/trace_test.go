package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/lanyard-id/lanyard/internal/store"
	"github.com/lanyard-id/lanyard/internal/store/storetest"
)

var (
	spansOnce sync.Once
	spans     *tracetest.SpanRecorder
	spansTP   *sdktrace.TracerProvider
)

// recordSpans installs, once for the whole package (otel's global
// provider delegates only to the first one set), a provider that records
// every span in memory. Tests tell their spans apart by trace id.
func recordSpans() (*tracetest.SpanRecorder, trace.Tracer) {
	spansOnce.Do(func() {
		spans = tracetest.NewSpanRecorder()
		spansTP = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
		otel.SetTracerProvider(spansTP)
	})
	return spans, spansTP.Tracer("test")
}

func spansOf(rec *tracetest.SpanRecorder, id trace.TraceID) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.SpanContext().TraceID() == id {
			out = append(out, s)
		}
	}
	return out
}

func TestTransactionsAndReadsHaveSpans(t *testing.T) {
	rec, tracer := recordSpans()
	storetest.Run(t, func(t *testing.T, s *store.Store) {
		wantSystem := map[store.Dialect]string{store.SQLite: "sqlite", store.Postgres: "postgresql"}[s.Dialect()]
		ctx, root := tracer.Start(context.Background(), "test")
		createKV(t, s)
		secret := "value-that-must-not-leak"
		if err := s.Write(ctx, func(q *store.Q) error { return put(q, "k", secret) }); err != nil {
			t.Fatal(err)
		}
		failed := errors.New("rolled back")
		if err := s.Write(ctx, func(q *store.Q) error { return failed }); !errors.Is(err, failed) {
			t.Fatalf("Write = %v", err)
		}
		var v string
		if err := s.Read().QueryRow(ctx, `SELECT v FROM kv WHERE k = $1`, "k").Scan(&v); err != nil {
			t.Fatal(err)
		}
		rows, err := s.Read().Query(ctx, `SELECT k FROM kv WHERE v = $1`, secret)
		if err != nil {
			t.Fatal(err)
		}
		rows.Close()
		root.End()

		var names []string
		for _, sp := range spansOf(rec, root.SpanContext().TraceID()) {
			if sp.Name() == "test" {
				continue
			}
			names = append(names, sp.Name())
			if sp.Parent().SpanID() != root.SpanContext().SpanID() {
				t.Errorf("%s is not a child of the caller's span", sp.Name())
			}
			if sp.SpanKind() != trace.SpanKindClient {
				t.Errorf("%s kind = %v, want client", sp.Name(), sp.SpanKind())
			}
			if got := attr(sp.Attributes(), "db.system"); got != wantSystem {
				t.Errorf("%s db.system = %q, want %q", sp.Name(), got, wantSystem)
			}
			for _, a := range sp.Attributes() {
				if strings.Contains(a.Value.String(), secret) || strings.Contains(a.Value.String(), "SELECT") {
					t.Errorf("%s attribute %s = %q carries SQL or a value", sp.Name(), a.Key, a.Value.String())
				}
			}
		}
		// The two writes (the second rolled back), the row read and the query.
		if got, want := strings.Join(names, ","), "db.write,db.write,db.read,db.read"; got != want {
			t.Errorf("spans = %s, want %s", got, want)
		}
		ended := spansOf(rec, root.SpanContext().TraceID())
		if len(ended) > 1 && ended[1].Status().Code != codes.Error {
			t.Errorf("the rolled-back write's span status = %v, want error", ended[1].Status())
		}
	})
}

func attr(attrs []attribute.KeyValue, key string) string {
	for _, a := range attrs {
		if string(a.Key) == key {
			return a.Value.String()
		}
	}
	return ""
}
