package config

import (
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
)

// Tracing is tracing.*: OpenTelemetry traces sent over OTLP/HTTP. Of
// Kratos's providers only otel is supported; the others (jaeger, zipkin,
// datadog) are reported by the loader and leave tracing off.
type Tracing struct {
	// Provider is "otel" (or "otlp") when tracing is on, else empty.
	Provider              string
	ServiceName           string
	DeploymentEnvironment string
	OTLP                  OTLPTracing
}

// OTLPTracing is tracing.providers.otlp.
type OTLPTracing struct {
	// ServerURL is the collector's host:port, as in Kratos; empty means
	// the exporter's default (localhost:4318 or OTEL_EXPORTER_OTLP_*).
	ServerURL string
	// Insecure sends spans over plain HTTP instead of HTTPS.
	Insecure bool
	// SamplingRatio is the share of new traces recorded; requests that
	// arrive with a traceparent follow its sampled flag.
	SamplingRatio       float64
	AuthorizationHeader string
}

// Enabled reports whether spans are recorded and exported.
func (t Tracing) Enabled() bool { return t.Provider != "" }

var tracingKeys = []keySpec{
	field("tracing.provider", tracingProvider, "", func(c *Config) *string { return &c.Tracing.Provider }),
	field("tracing.service_name", text, "Lanyard", func(c *Config) *string { return &c.Tracing.ServiceName }),
	field("tracing.deployment_environment", text, "", func(c *Config) *string { return &c.Tracing.DeploymentEnvironment }),
	field("tracing.providers.otlp.server_url", hostPort, "", func(c *Config) *string { return &c.Tracing.OTLP.ServerURL }),
	field("tracing.providers.otlp.insecure", boolean, false, func(c *Config) *bool { return &c.Tracing.OTLP.Insecure }),
	field("tracing.providers.otlp.sampling.sampling_ratio", ratio, 1, func(c *Config) *float64 { return &c.Tracing.OTLP.SamplingRatio }),
	field("tracing.providers.otlp.authorization_header", text, "", func(c *Config) *string { return &c.Tracing.OTLP.AuthorizationHeader }).sensitive(),
}

// tracingProvider accepts every provider Kratos knows, so that a Kratos
// config still loads, but only otel turns tracing on.
var tracingProvider = then(text, func(s string, d *decodeCtx) (string, error) {
	switch s = strings.TrimSpace(s); s {
	case "", "otel", "otlp":
		return s, nil
	}
	d.warn(fmt.Sprintf("config key %q: the tracing provider %s is not supported by Lanyard (only otel, over OTLP/HTTP); tracing stays off",
		d.path, d.show(s)))
	return "", nil
})

// hostPort is an address such as "localhost:4318", the form Kratos's
// schema asks of tracing.providers.otlp.server_url.
var hostPort = then(text, func(s string, d *decodeCtx) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	host, port, err := net.SplitHostPort(s)
	if err == nil {
		_, err = strconv.ParseUint(port, 10, 16)
	}
	if err != nil || host == "" || strings.Contains(s, "/") {
		return "", d.errorf("expected host:port (such as localhost:4318), got %s", d.show(s))
	}
	return s, nil
})

// ratio is a finite number. Kratos's schema sets no bounds: above 1
// samples everything, below 0 nothing.
var ratio = codec[float64]{
	fromYAML: func(v any, d *decodeCtx) (float64, error) {
		var f float64
		switch n := v.(type) {
		case int:
			f = float64(n)
		case int64:
			f = float64(n)
		case uint64:
			f = float64(n)
		case float64:
			f = n
		default:
			return 0, d.errorf("expected a number, got %s", d.show(v))
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, d.errorf("expected a finite number, got %s", d.show(v))
		}
		return f, nil
	},
	fromEnv: func(s string, d *decodeCtx) (float64, error) {
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, d.errorf("expected a number, got %s", d.show(s))
		}
		return f, nil
	},
}
