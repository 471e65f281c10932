package instrument

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// A span started with WithSpanID gets that ID, under the remote parent's
// trace; one started without gets a fresh random ID.
func TestWithSpanID(t *testing.T) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithIDGenerator(idGenerator{}))
	defer tp.Shutdown(context.Background())
	tr := tp.Tracer("test")
	parent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled, Remote: true,
	})
	id := NewSpanID()
	ctx := WithSpanID(trace.ContextWithRemoteSpanContext(context.Background(), parent), id)
	_, span := tr.Start(ctx, "preset")
	span.End()
	if got := span.SpanContext(); got.SpanID() != id || got.TraceID() != parent.TraceID() || !got.IsSampled() {
		t.Fatalf("span context %v, want span %v in trace %v, sampled", got, id, parent.TraceID())
	}
	_, other := tr.Start(trace.ContextWithRemoteSpanContext(context.Background(), parent), "random")
	other.End()
	if got := other.SpanContext().SpanID(); !got.IsValid() || got == id {
		t.Fatalf("span without a preset ID got %v", got)
	}
	_, root := tr.Start(context.Background(), "root")
	root.End()
	if sc := root.SpanContext(); !sc.TraceID().IsValid() || !sc.SpanID().IsValid() {
		t.Fatalf("root span context %v is not valid", sc)
	}
}
