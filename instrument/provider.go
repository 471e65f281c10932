package instrument

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// TracerName is the instrumentation scope of kvtrace's own spans.
const TracerName = "github.com/kvtrace/kvtrace"

// Config says where one member's spans go.
type Config struct {
	Member   string // member name: service.instance.id and kv.member
	MemberID uint64 // member id: kv.member_id (hex)

	// File is the OTLP JSON lines file to append to ("" = none). Its
	// directories are created.
	File string
	// OTLPEndpoint is an OTLP/gRPC collector, host:port or a URL ("" =
	// none). The OTEL_EXPORTER_OTLP_* and OTEL_EXPORTER_OTLP_TRACES_*
	// variables still apply to everything else (headers, TLS, timeout,
	// compression); without them the connection is plaintext.
	OTLPEndpoint string

	// SampleRatio is the fraction of new traces sampled, in (0, 1]; 0 means
	// 1. Sampling is parent-based: a request whose caller sampled it is
	// always recorded.
	SampleRatio float64
	// FlushInterval bounds how long an ended span waits before it is
	// exported; 0 means 500ms, and more than 1s is refused so a reader
	// polling the file sees a write within a second.
	FlushInterval time.Duration
}

// Provider owns one member's tracer provider and its exporters.
type Provider struct {
	tp  trace.TracerProvider
	own *tracerProvider // nil for Disabled
	tr  trace.Tracer
}

const (
	defaultFlush = 500 * time.Millisecond
	maxFlush     = time.Second
)

// Setup builds kvtrace's tracer provider for cfg (tracer.go: what the
// OpenTelemetry SDK would record, for less CPU): resource service.name=kvd,
// service.instance.id=Member, kv.member_id=hex(MemberID) merged onto the
// SDK's default resource; parent-based TraceIDRatioBased sampling; one
// batching goroutine per exporter, each flushing every FlushInterval. It
// also sets the global propagator to W3C TraceContext, so otelgrpc reads
// and writes traceparent headers. With neither File nor
// OTLPEndpoint the provider records spans and exports them nowhere, which
// still propagates context; use Disabled for the no-op fast path.
func Setup(cfg Config) (*Provider, error) {
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = defaultFlush
	}
	if cfg.FlushInterval < 0 || cfg.FlushInterval > maxFlush {
		return nil, fmt.Errorf("instrument: flush interval %v outside (0, %v]", cfg.FlushInterval, maxFlush)
	}
	if cfg.SampleRatio == 0 {
		cfg.SampleRatio = 1
	}
	if cfg.SampleRatio < 0 || cfg.SampleRatio > 1 {
		return nil, fmt.Errorf("instrument: sample ratio %v outside (0, 1]", cfg.SampleRatio)
	}

	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		AttrServiceName.String("kvd"),
		AttrServiceInstanceID.String(cfg.Member),
		AttrMemberID.String(HexID(cfg.MemberID)),
	))
	if err != nil {
		return nil, fmt.Errorf("instrument: resource: %w", err)
	}

	tp := newTracerProvider(res, cfg.SampleRatio)
	closeAll := func() {
		for _, b := range tp.batchers {
			b.shutdown(context.Background()) //nolint:errcheck // already failing
		}
	}
	if cfg.File != "" {
		fe, err := NewFileExporter(cfg.File)
		if err != nil {
			return nil, err
		}
		// A full queue blocks rather than lose spans (batcher.go).
		tp.batchers = append(tp.batchers, newBatcher(fileRecords{fe}, cfg.FlushInterval, true))
	}
	if cfg.OTLPEndpoint != "" {
		ge, err := otlptracegrpc.New(context.Background(), otlpOptions(cfg.OTLPEndpoint)...)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("instrument: OTLP exporter for %s: %w", cfg.OTLPEndpoint, err)
		}
		// A full queue drops and reports: a collector MUST NOT stall the
		// members (batcher.go).
		tp.batchers = append(tp.batchers, newBatcher(otlpRecords{ge}, cfg.FlushInterval, false))
	}
	otel.SetTextMapPropagator(propagation.TraceContext{})
	return &Provider{tp: tp, own: tp, tr: tp.Tracer(TracerName)}, nil
}

// otlpOptions points the gRPC exporter at endpoint. Plaintext is chosen only
// when the environment says nothing about TLS, so OTEL_EXPORTER_OTLP_INSECURE
// and the certificate variables keep working.
func otlpOptions(endpoint string) []otlptracegrpc.Option {
	var opts []otlptracegrpc.Option
	if strings.Contains(endpoint, "://") {
		return append(opts, otlptracegrpc.WithEndpointURL(endpoint))
	}
	opts = append(opts, otlptracegrpc.WithEndpoint(endpoint))
	for _, v := range []string{
		"OTEL_EXPORTER_OTLP_INSECURE", "OTEL_EXPORTER_OTLP_TRACES_INSECURE",
		"OTEL_EXPORTER_OTLP_CERTIFICATE", "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
	} {
		if os.Getenv(v) != "" {
			return opts
		}
	}
	return append(opts, otlptracegrpc.WithInsecure())
}

// Disabled returns a provider whose tracer is a no-op: spans cost an
// interface call and record nothing, and their contexts are invalid, so
// AppendEntryContext and EncodeMeta add nothing either.
func Disabled() *Provider {
	tp := noop.NewTracerProvider()
	return &Provider{tp: tp, tr: tp.Tracer(TracerName)}
}

// Enabled reports whether spans are recorded (false for Disabled).
func (p *Provider) Enabled() bool { return p.own != nil }

// Tracer returns the tracer for kvtrace's spans.
func (p *Provider) Tracer() trace.Tracer { return p.tr }

// TracerProvider returns the provider, e.g. for otelgrpc.WithTracerProvider.
func (p *Provider) TracerProvider() trace.TracerProvider { return p.tp }

// Shutdown exports every span already ended, then closes the exporters (the
// file exporter fsyncs its file). Spans ended afterwards are dropped.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p.own == nil {
		return nil
	}
	return p.own.Shutdown(ctx)
}
