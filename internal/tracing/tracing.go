// Package tracing turns on OpenTelemetry traces from tracing.* and flushes
// them on shutdown. Instrumented packages take their tracer from otel's
// global provider, which stays the no-op one unless Setup installs an
// exporting provider, so that spans cost next to nothing when tracing is
// off.
package tracing

import (
	"context"
	"fmt"
	"log/slog"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/lanyard-id/lanyard/internal/config"
)

// Provider exports the spans of this process. A nil *Provider means
// tracing is off; its methods are safe to call.
type Provider struct {
	sdk *sdktrace.TracerProvider
}

// Setup installs, when cfg turns tracing on, a global tracer provider that
// batches spans to the OTLP/HTTP collector at cfg.OTLP.ServerURL, and the
// W3C trace-context propagator. It returns nil when tracing is off.
func Setup(ctx context.Context, cfg config.Tracing, version string) (*Provider, error) {
	if !cfg.Enabled() {
		return nil, nil
	}
	var opts []otlptracehttp.Option
	if cfg.OTLP.ServerURL != "" {
		opts = append(opts, otlptracehttp.WithEndpoint(cfg.OTLP.ServerURL))
	}
	if cfg.OTLP.Insecure {
		opts = append(opts, otlptracehttp.WithInsecure())
	}
	if cfg.OTLP.AuthorizationHeader != "" {
		opts = append(opts, otlptracehttp.WithHeaders(map[string]string{"Authorization": cfg.OTLP.AuthorizationHeader}))
	}
	exporter, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	p := &Provider{sdk: sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exporter),
		sdktrace.WithResource(describe(cfg, version)),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.OTLP.SamplingRatio))),
	)}
	otel.SetTracerProvider(p.sdk)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	collector := cfg.OTLP.ServerURL
	if collector == "" {
		collector = "the OTLP exporter's default"
	}
	slog.Info("sending traces over OTLP/HTTP", "collector", collector, "insecure", cfg.OTLP.Insecure, "sampling_ratio", cfg.OTLP.SamplingRatio)
	return p, nil
}

func describe(cfg config.Tracing, version string) *resource.Resource {
	attrs := []attribute.KeyValue{semconv.ServiceName(cfg.ServiceName)}
	if version != "" {
		attrs = append(attrs, semconv.ServiceVersion(version))
	}
	if cfg.DeploymentEnvironment != "" {
		attrs = append(attrs, semconv.DeploymentEnvironmentNameKey.String(cfg.DeploymentEnvironment))
	}
	return resource.NewWithAttributes(semconv.SchemaURL, attrs...)
}

// TracerProvider is what the HTTP middleware starts request spans with;
// nil when tracing is off, so that the middleware is left out.
func (p *Provider) TracerProvider() trace.TracerProvider {
	if p == nil {
		return nil
	}
	return p.sdk
}

// Shutdown exports the spans still buffered and stops the exporter; ctx
// bounds how long it waits for the collector.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p == nil {
		return nil
	}
	if err := p.sdk.Shutdown(ctx); err != nil {
		return fmt.Errorf("tracing: flushing spans: %w", err)
	}
	return nil
}
