package instrument

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// Batching of ended spans: ONE goroutine per exporter takes the queue every
// FlushInterval, or as soon as it holds maxBatch spans, and exports it in
// batches of at most maxBatch (the SDK's batch span processor's defaults).
//
// A full queue (maxQueue spans) is never dropped silently:
//   - the file exporter BLOCKS the goroutine ending a span until the writer
//     has taken the queue: a local file keeps up unless the disk stalls, and
//     the files are the record the tracer and the labs read, so losing spans
//     is worse than slowing down (kvtrace ends spans off the Ready loop,
//     internal/node's spanLoop, so it is that goroutine that waits);
//   - the OTLP/gRPC exporter DROPS, counts, and reports the count through
//     otel.Handle once per flush (and in Shutdown's error): a collector that
//     is down or slow MUST NOT stall the members it traces.

const (
	maxBatch = 512
	maxQueue = 8192
)

// recordExporter writes batches of ended spans; export is only ever called
// from the batcher's goroutine.
type recordExporter interface {
	export(ctx context.Context, batch []*record) error
	shutdown(ctx context.Context) error
}

type batcher struct {
	exp      recordExporter
	interval time.Duration
	block    bool // what a full queue does: block (true) or drop and count

	// mu guards queue, closed and dropped; notFull waits on it.
	mu      sync.Mutex
	notFull *sync.Cond
	queue   []*record
	closed  bool
	dropped int

	kick chan struct{} // cap 1: the queue reached maxBatch
	stop chan struct{} // closed by shutdown
	done chan error    // the goroutine's final error, then closed
}

func newBatcher(exp recordExporter, interval time.Duration, block bool) *batcher {
	b := &batcher{
		exp: exp, interval: interval, block: block,
		queue: make([]*record, 0, maxBatch),
		kick:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
		done:  make(chan error, 1),
	}
	b.notFull = sync.NewCond(&b.mu)
	go b.run()
	return b
}

// enqueue hands an ended span to the exporter; the exporter releases it.
func (b *batcher) enqueue(r *record) {
	b.mu.Lock()
	for b.block && len(b.queue) >= maxQueue && !b.closed {
		b.notFull.Wait()
	}
	if b.closed || len(b.queue) >= maxQueue {
		if !b.closed {
			b.dropped++
		}
		b.mu.Unlock()
		r.release()
		return
	}
	b.queue = append(b.queue, r)
	n := len(b.queue)
	b.mu.Unlock()
	if n == maxBatch {
		select {
		case b.kick <- struct{}{}:
		default:
		}
	}
}

func (b *batcher) run() {
	t := time.NewTicker(b.interval)
	defer t.Stop()
	var spare []*record
	for {
		select {
		case <-t.C:
		case <-b.kick:
		case <-b.stop:
			// Shutdown: export everything queued, then close the exporter.
			var errs []error
			for {
				var n int
				spare, n = b.flush(spare, &errs)
				if n == 0 {
					break
				}
			}
			errs = append(errs, b.dropErr())
			errs = append(errs, b.exp.shutdown(context.Background()))
			b.done <- errors.Join(errs...)
			close(b.done)
			return
		}
		var errs []error
		spare, _ = b.flush(spare, &errs)
		for _, err := range append(errs, b.dropErr()) {
			if err != nil {
				otel.Handle(err)
			}
		}
	}
}

// flush takes the queue (leaving spare in its place), exports it in
// batches of maxBatch and releases the spans. It returns the emptied slice
// for the next swap and how many spans it exported.
func (b *batcher) flush(spare []*record, errs *[]error) ([]*record, int) {
	b.mu.Lock()
	q := b.queue
	b.queue = spare[:0]
	b.notFull.Broadcast()
	b.mu.Unlock()
	for i := 0; i < len(q); i += maxBatch {
		batch := q[i:min(i+maxBatch, len(q))]
		if err := b.exp.export(context.Background(), batch); err != nil {
			*errs = append(*errs, err)
		}
		for _, r := range batch {
			r.release()
		}
	}
	n := len(q)
	clear(q)
	return q[:0], n
}

func (b *batcher) dropErr() error {
	b.mu.Lock()
	n := b.dropped
	b.dropped = 0
	b.mu.Unlock()
	if n == 0 {
		return nil
	}
	return fmt.Errorf("instrument: span queue full: dropped %d spans", n)
}

// shutdown exports what is queued and closes the exporter; spans ended
// afterwards are dropped. It gives up waiting when ctx ends.
func (b *batcher) shutdown(ctx context.Context) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.notFull.Broadcast()
	b.mu.Unlock()
	close(b.stop)
	select {
	case err := <-b.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fileRecords writes batches to a FileExporter, one line each, encoded
// straight from the records (otlprecords.go).
type fileRecords struct{ fe *FileExporter }

func (f fileRecords) export(_ context.Context, batch []*record) error {
	return f.fe.writeLine(func(dst []byte) []byte { return appendRecordsJSON(dst, batch) })
}

func (f fileRecords) shutdown(ctx context.Context) error { return f.fe.Shutdown(ctx) }

// otlpRecords sends batches through the OTLP exporter (otlptracegrpc),
// converted to the SDK's read-only spans so the exporter's own transform
// builds the protobuf messages, exactly as before. Not the hot path: a
// member that exports to a collector usually does not write a file too.
type otlpRecords struct{ exp *otlptrace.Exporter }

func (o otlpRecords) export(ctx context.Context, batch []*record) error {
	spans := make([]sdktrace.ReadOnlySpan, len(batch))
	for i, r := range batch {
		spans[i] = r.stub().Snapshot()
	}
	return o.exp.ExportSpans(ctx, spans)
}

func (o otlpRecords) shutdown(ctx context.Context) error { return o.exp.Shutdown(ctx) }

// stub is the record as the SDK's snapshot of it.
func (r *record) stub() tracetest.SpanStub {
	s := tracetest.SpanStub{
		Name:                   r.name,
		SpanContext:            r.sc,
		Parent:                 r.parent,
		SpanKind:               r.kind,
		StartTime:              r.start,
		EndTime:                r.end,
		Attributes:             r.attrs,
		DroppedAttributes:      r.droppedAttrs,
		DroppedLinks:           r.droppedLinks,
		DroppedEvents:          r.droppedEvs,
		Status:                 sdktrace.Status{Code: r.status, Description: r.statusDesc},
		Resource:               r.tr.tp.res,
		InstrumentationScope:   r.tr.scope,
		InstrumentationLibrary: r.tr.scope, //nolint:staticcheck // the SDK fills both
	}
	for i, l := range r.links {
		sl := sdktrace.Link{SpanContext: l.SpanContext, Attributes: l.Attributes}
		if r.linkDropped != nil {
			sl.DroppedAttributeCount = r.linkDropped[i]
		}
		s.Links = append(s.Links, sl)
	}
	for _, e := range r.events {
		s.Events = append(s.Events, sdktrace.Event{Name: e.name, Time: e.time, Attributes: e.attrs, DroppedAttributeCount: e.dropped})
	}
	return s
}
