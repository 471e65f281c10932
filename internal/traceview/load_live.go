package traceview

import (
	"maps"
	"slices"
)

// Snapshot builds a Trace from the spans collected so far and leaves the
// Builder as it was, so the live receiver can keep adding requests and build
// again. It copies the spans (not their attributes, which are never
// modified): use Build for a one-shot load.
func (b *Builder) Snapshot() *Trace {
	c := &Builder{
		spans:   slices.Clone(b.spans),
		unknown: maps.Clone(b.unknown),
		files:   slices.Clone(b.files),
		in:      b.in,
	}
	return c.Build()
}

// Len is the number of spans collected so far.
func (b *Builder) Len() int { return len(b.spans) }
