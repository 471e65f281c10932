package instrument

import (
	"math"
	"testing"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

func sv(s string) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}}
}

// TestEncodeLineMatchesProtobufJSON: the hand-written encoder produces JSON
// that the standard protobuf JSON decoder reads back to the same message.
func TestEncodeLineMatchesProtobufJSON(t *testing.T) {
	kv := func(k string, v *commonpb.AnyValue) *commonpb.KeyValue { return &commonpb.KeyValue{Key: k, Value: v} }
	req := &collectortrace.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("service.name", sv("kvd"))}},
		ScopeSpans: []*tracepb.ScopeSpans{{
			Scope: &commonpb.InstrumentationScope{Name: TracerName, Version: "1"},
			Spans: []*tracepb.Span{{
				TraceId: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, SpanId: []byte{1, 2, 3, 4, 5, 6, 7, 8},
				ParentSpanId: []byte{8, 7, 6, 5, 4, 3, 2, 1}, Flags: 0x301, Name: "wal.save \"quoted\" \n\t<&> é \u2028",
				Kind: tracepb.Span_SPAN_KIND_PRODUCER, StartTimeUnixNano: math.MaxUint64 - 1, EndTimeUnixNano: 1,
				Attributes: []*commonpb.KeyValue{
					kv("s", sv("x\x01y")),
					kv("i", &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: math.MinInt64}}),
					kv("b", &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: true}}),
					kv("d", &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: 1.5e-300}}),
					kv("inf", &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: math.Inf(-1)}}),
					kv("raw", &commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte{0, 255}}}),
					kv("arr", &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: []*commonpb.AnyValue{sv("m1"), sv("m2")}}}}),
					kv("map", &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: []*commonpb.KeyValue{kv("k", sv("v"))}}}}),
				},
				Events: []*tracepb.Span_Event{{TimeUnixNano: 5, Name: "ev", Attributes: []*commonpb.KeyValue{kv("a", sv("b"))}}},
				Links: []*tracepb.Span_Link{{TraceId: make([]byte, 16), SpanId: []byte{9, 9, 9, 9, 9, 9, 9, 9},
					Attributes: []*commonpb.KeyValue{kv("raft.index", sv("5"))}, Flags: 1}},
				Status: &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "boom"},
			}},
		}},
	}}}
	line, err := EncodeLine(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeLine(line)
	if err != nil {
		t.Fatalf("decoding %s: %v", line, err)
	}
	if !proto.Equal(got, req) {
		t.Fatalf("round trip differs:\n got %v\nwant %v\nline %s", got, req, line)
	}
}

func BenchmarkEncodeLine(b *testing.B) {
	spans := make([]*tracepb.Span, 512)
	for i := range spans {
		spans[i] = &tracepb.Span{TraceId: make([]byte, 16), SpanId: make([]byte, 8), Name: "raft.send",
			StartTimeUnixNano: 1, EndTimeUnixNano: 2, Attributes: []*commonpb.KeyValue{
				{Key: "kv.member", Value: sv("m1")}, {Key: "raft.msg_type", Value: sv("MsgApp")}}}
	}
	req := &collectortrace.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: spans}}}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeLine(req); err != nil {
			b.Fatal(err)
		}
	}
}
