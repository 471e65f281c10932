package instrument

import (
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// Helpers shared by the span encoders (otlpspans.go for the SDK's spans,
// otlprecords.go for Setup's own). The test-only oracle
// that builds the OTLP proto messages is in otlpconv_test.go.

// scopeKey identifies an instrumentation scope; attribute.Distinct is
// comparable, so scopes with equal attribute sets share a key.
type scopeKey struct {
	name, version, schemaURL string
	attrs                    attribute.Distinct
}

// spanFlags fills the OTLP flags word: the W3C trace flags in bits 0-7, and
// bits 8 and 9 saying that remoteness is known and whether the parent (or
// linked span) is remote.
func spanFlags(tf trace.TraceFlags, remote bool) uint32 {
	f := uint32(tf) | uint32(tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK)
	if remote {
		f |= uint32(tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK)
	}
	return f
}

func spanKind(k trace.SpanKind) tracepb.Span_SpanKind {
	switch k {
	case trace.SpanKindInternal:
		return tracepb.Span_SPAN_KIND_INTERNAL
	case trace.SpanKindServer:
		return tracepb.Span_SPAN_KIND_SERVER
	case trace.SpanKindClient:
		return tracepb.Span_SPAN_KIND_CLIENT
	case trace.SpanKindProducer:
		return tracepb.Span_SPAN_KIND_PRODUCER
	case trace.SpanKindConsumer:
		return tracepb.Span_SPAN_KIND_CONSUMER
	}
	return tracepb.Span_SPAN_KIND_UNSPECIFIED
}

// unixNano maps the zero time (negative nanoseconds) to 0.
func unixNano(ns int64) uint64 {
	if ns < 0 {
		return 0
	}
	return uint64(ns)
}
