package tracing_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel"

	"github.com/lanyard-id/lanyard/internal/config"
	"github.com/lanyard-id/lanyard/internal/tracing"
	"github.com/lanyard-id/lanyard/internal/tracing/tracingtest"
)

func TestOffInstallsNothing(t *testing.T) {
	p, err := tracing.Setup(context.Background(), config.Tracing{}, "v1")
	if err != nil || p != nil {
		t.Fatalf("Setup(off) = %v, %v; want nil, nil", p, err)
	}
	if p.TracerProvider() != nil {
		t.Errorf("tracing off, yet a tracer provider for requests")
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown(off) = %v", err)
	}
	_, span := otel.Tracer("test").Start(context.Background(), "x")
	if span.IsRecording() {
		t.Errorf("tracing off, yet spans record")
	}
}

func TestSpansReachTheCollectorOnShutdown(t *testing.T) {
	c := tracingtest.Start(t)
	p, err := tracing.Setup(context.Background(), config.Tracing{
		Provider:              "otel",
		ServiceName:           "lanyard-test",
		DeploymentEnvironment: "staging",
		OTLP: config.OTLPTracing{
			ServerURL: c.Addr(), Insecure: true, SamplingRatio: 1,
			AuthorizationHeader: "Bearer collector-key",
		},
	}, "v1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	_, span := otel.Tracer("test").Start(context.Background(), "work")
	span.End()
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := c.Spans()
	if len(spans) != 1 || spans[0].GetName() != "work" {
		t.Fatalf("received %v, want the one span", spans)
	}
	res := spans[0].Resource
	if res["service.name"] != "lanyard-test" || res["service.version"] != "v1.2.3" || res["deployment.environment.name"] != "staging" {
		t.Errorf("resource = %v", res)
	}
	if h := c.Headers(); len(h) == 0 || h[0].Get("Authorization") != "Bearer collector-key" {
		t.Errorf("the authorization header did not reach the collector")
	}
}
