package instrument

import (
	"context"
	"encoding/binary"
	"math/rand/v2"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// presetSpanIDKey carries a span ID chosen before its span is started.
type presetSpanIDKey struct{}

// NewSpanID returns a random, valid span ID. With WithSpanID it lets a hot
// goroutine hand a span's context on (in a transport envelope) at once and
// leave starting the span itself, with explicit timestamps, to another
// goroutine.
func NewSpanID() trace.SpanID {
	var id trace.SpanID
	for !id.IsValid() {
		binary.NativeEndian.PutUint64(id[:], rand.Uint64())
	}
	return id
}

// WithSpanID makes the next span started with ctx (by a tracer of a
// provider from Setup) get span ID id instead of a random one. The caller
// MUST start exactly one span with it, and id MUST be fresh (NewSpanID).
func WithSpanID(ctx context.Context, id trace.SpanID) context.Context {
	return context.WithValue(ctx, presetSpanIDKey{}, id)
}

// idGenerator is the SDK's ID generator with WithSpanID honoured; Setup's
// tracer (tracer.go) uses it too. IDs are random as in the SDK's default
// generator (math/rand/v2 is safe for concurrent use, so no lock).
type idGenerator struct{}

var _ sdktrace.IDGenerator = idGenerator{}

func (idGenerator) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	var tid trace.TraceID
	for !tid.IsValid() {
		binary.NativeEndian.PutUint64(tid[:8], rand.Uint64())
		binary.NativeEndian.PutUint64(tid[8:], rand.Uint64())
	}
	return tid, idGenerator{}.NewSpanID(ctx, tid)
}

func (idGenerator) NewSpanID(ctx context.Context, _ trace.TraceID) trace.SpanID {
	if id, ok := ctx.Value(presetSpanIDKey{}).(trace.SpanID); ok && id.IsValid() {
		return id
	}
	return NewSpanID()
}
