package instrument

import (
	"testing"

	"context"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

func TestMetaRoundTrip(t *testing.T) {
	sc := testSC(true)
	meta := EncodeMeta(sc)
	if string(meta) != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" {
		t.Fatalf("EncodeMeta = %q", meta)
	}
	// The same string the W3C propagator writes into a traceparent header.
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(trace.ContextWithSpanContext(context.Background(), sc), carrier)
	if carrier.Get("traceparent") != string(meta) {
		t.Fatalf("propagator wrote %q, EncodeMeta %q", carrier.Get("traceparent"), meta)
	}
	got, ok := DecodeMeta(meta)
	if !ok || !got.Equal(trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: sc.TraceID(), SpanID: sc.SpanID(), TraceFlags: sc.TraceFlags(), Remote: true,
	})) {
		t.Fatalf("DecodeMeta = %v, %v", got, ok)
	}
	if EncodeMeta(testSC(false)) != nil || EncodeMeta(trace.SpanContext{}) != nil {
		t.Error("EncodeMeta of an untraced context must be nil")
	}
	for _, bad := range []string{"", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e473x-00f067aa0ba902b7-01"} {
		if _, ok := DecodeMeta([]byte(bad)); ok {
			t.Errorf("DecodeMeta(%q) = true", bad)
		}
	}
}
