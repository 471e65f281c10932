package instrument

import (
	"context"

	"go.opentelemetry.io/otel/trace"
)

// ApplyNote is what the state machine tells the member about the entry it
// is applying, for the entry's apply span (docs/spans.md). The member puts
// one in the apply context (WithApplyNote) and records the span itself once
// the entry is applied, with everything known, instead of opening the span
// first and adding attributes to it while the apply goroutine waits.
type ApplyNote struct {
	SC        trace.SpanContext // the apply span's context, known before the span is recorded
	Op, Key   string
	RequestID string
	Revision  int64  // 0: not set
	Err       string // non-empty: the request failed
}

type applyNoteKey struct{}

// WithApplyNote returns ctx carrying n.
func WithApplyNote(ctx context.Context, n *ApplyNote) context.Context {
	return context.WithValue(ctx, applyNoteKey{}, n)
}

// ApplyNoteFrom returns the note in ctx, nil when the entry is not traced.
func ApplyNoteFrom(ctx context.Context) *ApplyNote {
	n, _ := ctx.Value(applyNoteKey{}).(*ApplyNote)
	return n
}
