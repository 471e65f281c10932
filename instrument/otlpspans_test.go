package instrument

import (
	"bytes"
	"math"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func testSpans(n int) []sdktrace.ReadOnlySpan {
	res := resource.NewWithAttributes("https://schema/1", attribute.String("service.name", "kvd"), attribute.String("kv.member", "m1"))
	other := resource.NewSchemaless(attribute.String("service.name", "other"))
	ts, _ := trace.ParseTraceState("k=v,a=b")
	sc := func(i int, remote bool) trace.SpanContext {
		return trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: trace.TraceID{1, 2, 3, byte(i)}, SpanID: trace.SpanID{4, 5, byte(i), 1},
			TraceFlags: trace.FlagsSampled, TraceState: ts, Remote: remote})
	}
	all := []attribute.KeyValue{
		attribute.String("s", "x\x01y \"q\" <&> é \u2028"), attribute.Int64("i", math.MinInt64), attribute.Bool("b", true),
		attribute.Float64("d", 1.5e-300), attribute.Float64("inf", math.Inf(-1)), attribute.Float64("nan", math.NaN()),
		attribute.StringSlice("ss", []string{"m1", "m2"}), attribute.Int64Slice("is", []int64{1, -2}),
		attribute.BoolSlice("bs", []bool{true, false}), attribute.Float64Slice("fs", []float64{0.5, math.Inf(1)}),
		attribute.String("empty", ""),
	}
	var out []sdktrace.ReadOnlySpan
	for i := 0; i < n; i++ {
		stub := tracetest.SpanStub{
			Name:                 "raft.send",
			SpanContext:          sc(i, false),
			SpanKind:             trace.SpanKind(i % 6),
			StartTime:            time.Unix(0, int64(1e18)+int64(i)),
			EndTime:              time.Unix(0, int64(1e18)+int64(i)+1000),
			Attributes:           all[:i%len(all)+1],
			Resource:             res,
			InstrumentationScope: instrumentation.Scope{Name: TracerName, Version: "v1"},
		}
		switch i % 4 {
		case 1:
			stub.Parent = sc(i+100, true)
			stub.Links = []sdktrace.Link{{SpanContext: sc(i+200, true), Attributes: all[:2], DroppedAttributeCount: 1},
				{SpanContext: sc(i+300, false)}}
			stub.Status = sdktrace.Status{Code: codes.Error, Description: "boom"}
			stub.DroppedAttributes, stub.DroppedLinks, stub.DroppedEvents = 1, 2, 3
		case 2:
			stub.Parent = sc(i+100, false)
			stub.Events = []sdktrace.Event{{Name: "ev", Time: time.Unix(5, 0), Attributes: all[:3], DroppedAttributeCount: 4}}
			stub.Status = sdktrace.Status{Code: codes.Ok}
			stub.InstrumentationScope = instrumentation.Scope{Name: "otelgrpc", SchemaURL: "https://schema/2"}
		case 3:
			stub.Resource = other
			stub.StartTime = time.Time{}
		}
		out = append(out, stub.Snapshot())
	}
	return out
}

// TestAppendSpansJSONMatchesProto: the direct encoder writes exactly the
// bytes of the reference path (tracepb messages, then appendRequestJSON),
// whose round trip through protojson TestEncodeLineMatchesProtobufJSON checks.
func TestAppendSpansJSONMatchesProto(t *testing.T) {
	spans := testSpans(24)
	want, _ := EncodeLine(toRequest(spans))
	got := append(appendSpansJSON(nil, spans), '\n')
	if !bytes.Equal(got, want) {
		t.Fatalf("direct encoding differs:\n got %s\nwant %s", got, want)
	}
	if _, err := DecodeLine(got); err != nil {
		t.Fatalf("direct encoding does not decode: %v", err)
	}
}

func BenchmarkExportLine(b *testing.B) {
	spans := testSpans(512)
	b.Run("proto", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			EncodeLine(toRequest(spans))
		}
	})
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = appendSpansJSON(buf[:0], spans)
		}
	})
}
