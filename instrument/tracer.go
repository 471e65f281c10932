package instrument

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	rtrace "runtime/trace"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
	"go.opentelemetry.io/otel/trace/noop"
)

// kvtrace's own implementation of the OpenTelemetry trace API, used by Setup
// in place of the SDK's (go.opentelemetry.io/otel/sdk/trace). It records
// exactly what the SDK records with its default limits, a parent-based
// TraceIDRatioBased sampler and one batch processor per exporter, so the
// span files do not change; it only does it with less CPU and garbage:
//
//   - A span's record is recycled through a sync.Pool once every exporter
//     has written it. The caller holds a small handle (spanHandle) that keeps
//     the span's context, so SpanContext stays right after End; a handle
//     whose record was recycled finds the generation changed and does
//     nothing.
//   - The start options' attribute slice (a fresh copy made by
//     trace.NewSpanStartConfig) is adopted, not copied again; attributes set
//     later, links and events go to inline arrays of the record first.
//   - No map deduplicates attributes: End does it (same rule as the SDK's
//     snapshot: a key keeps its first position and its last value) with a
//     64-bit filter, comparing keys only when the filter says they may repeat.
//   - Ended spans are queued to ONE goroutine per exporter (batcher.go),
//     which encodes them straight to OTLP JSON (otlprecords.go).
//
// Limits are the SDK's defaults (128 attributes, events, links; 128
// attributes per event and per link; value depth 64; no value length
// limit). The SDK's OTEL_*_LIMIT environment variables are NOT read.

const (
	attrCountLimit         = 128
	eventCountLimit        = 128
	linkCountLimit         = 128
	attrPerEventLimit      = 128
	attrPerLinkLimit       = 128
	attrValueDepthLimit    = 64
	defaultTracerName      = "go.opentelemetry.io/otel/sdk/tracer" // the SDK's name for Tracer("")
	exceptionEventName     = "exception"
	exceptionTypeKey       = attribute.Key("exception.type")
	exceptionMessageKey    = attribute.Key("exception.message")
	exceptionStacktraceKey = attribute.Key("exception.stacktrace")
)

// tracerProvider is Setup's trace.TracerProvider.
type tracerProvider struct {
	embedded.TracerProvider

	res       *resource.Resource
	resAttrs  []attribute.KeyValue // res.Attributes(), once
	bound     uint64               // TraceIDRatioBased: a root is sampled iff tid[8:16]>>1 < bound
	sampleAll bool                 // ratio >= 1
	batchers  []*batcher

	// mu guards tracers.
	mu      sync.Mutex
	tracers map[instrumentation.Scope]*tracer

	shutdown atomic.Bool
}

var _ trace.TracerProvider = (*tracerProvider)(nil)

func newTracerProvider(res *resource.Resource, ratio float64) *tracerProvider {
	tp := &tracerProvider{res: res, resAttrs: res.Attributes(), tracers: map[instrumentation.Scope]*tracer{}}
	if ratio >= 1 {
		tp.sampleAll = true
	} else {
		tp.bound = uint64(ratio * (1 << 63)) // exactly sdktrace.TraceIDRatioBased
	}
	return tp
}

// Tracer returns the tracer of one instrumentation scope; equal scopes share
// a tracer, so a batch groups their spans by pointer.
func (tp *tracerProvider) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	if tp.shutdown.Load() { // as the SDK
		return noop.NewTracerProvider().Tracer(name, opts...)
	}
	if name == "" {
		name = defaultTracerName
	}
	c := trace.NewTracerConfig(opts...)
	is := instrumentation.Scope{Name: name, Version: c.InstrumentationVersion(), SchemaURL: c.SchemaURL(), Attributes: c.InstrumentationAttributes()}
	tp.mu.Lock()
	defer tp.mu.Unlock()
	t, ok := tp.tracers[is]
	if !ok {
		t = &tracer{tp: tp, scope: is}
		tp.tracers[is] = t
	}
	return t
}

// sampled is sdktrace.ParentBased(sdktrace.TraceIDRatioBased(r)): a valid
// parent decides (sampled or not, remote or local); a root is sampled when
// the low 63 bits of the trace ID's second half fall under the ratio.
func (tp *tracerProvider) sampled(psc trace.SpanContext, tid trace.TraceID) bool {
	if psc.IsValid() {
		return psc.IsSampled()
	}
	if tp.sampleAll {
		return true
	}
	return binary.BigEndian.Uint64(tid[8:16])>>1 < tp.bound
}

type tracer struct {
	embedded.Tracer
	tp    *tracerProvider
	scope instrumentation.Scope
}

var _ trace.Tracer = (*tracer)(nil)

// Start starts a span as the SDK's tracer does.
func (t *tracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if ctx == nil {
		ctx = context.Background()
	}
	config := trace.NewSpanStartConfig(opts...)
	var psc trace.SpanContext
	if !config.NewRoot() {
		psc = trace.SpanContextFromContext(ctx)
	}
	var tid trace.TraceID
	var sid trace.SpanID
	if !psc.TraceID().IsValid() {
		tid, sid = idGenerator{}.NewIDs(ctx)
	} else {
		tid = psc.TraceID()
		sid = idGenerator{}.NewSpanID(ctx, tid)
	}
	scc := trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceState: psc.TraceState()}
	sampled := t.tp.sampled(psc, tid)
	if sampled {
		scc.TraceFlags = psc.TraceFlags() | trace.FlagsSampled
	} else {
		scc.TraceFlags = psc.TraceFlags() &^ trace.FlagsSampled
	}
	sc := trace.NewSpanContext(scc)
	if !sampled {
		var s trace.Span = nonRecordingSpan{tp: t.tp, sc: sc}
		return trace.ContextWithSpan(ctx, s), s
	}

	r := recordPool.Get().(*record)
	r.tr = t
	r.sc = sc
	r.parent = psc
	r.name = name
	r.kind = trace.ValidateSpanKind(config.SpanKind())
	r.start = config.Timestamp()
	if r.start.IsZero() {
		r.start = time.Now()
	}
	for _, l := range config.Links() {
		r.addLink(l)
	}
	if attrs := config.Attributes(); len(attrs) > 0 {
		// A fresh slice (NewSpanStartConfig appends to nil): adopt it.
		r.setAttributes(attrs, true)
	}
	h := &spanHandle{r: r, gen: r.gen, sc: sc, tp: t.tp}
	ctx = trace.ContextWithSpan(ctx, h)
	if rtrace.IsEnabled() { // as the SDK: a runtime/trace task per span
		var task *rtrace.Task
		ctx, task = rtrace.NewTask(ctx, name)
		r.taskEnd = task.End
	}
	return ctx, h
}

// record is one recording span's data. While the span is open its fields
// are guarded by mu; after End it is immutable until every exporter has
// written it (refs reaches 0), when it is reset under mu with gen bumped
// and returned to recordPool.
type record struct {
	// mu guards everything below while the span is open, and gen always.
	mu    sync.Mutex
	gen   uint64 // bumped when the record is recycled
	ended bool

	tr     *tracer
	sc     trace.SpanContext
	parent trace.SpanContext
	name   string
	kind   trace.SpanKind
	start  time.Time
	end    time.Time

	attrs        []attribute.KeyValue // maybe with duplicate keys (dedupAttrs)
	attrsOwned   bool                 // attrs may be appended to in place
	droppedAttrs int
	links        []trace.Link
	linkDropped  []int // per link, dropped attributes; nil when none
	droppedLinks int
	events       []event
	droppedEvs   int
	status       codes.Code
	statusDesc   string
	taskEnd      func()

	refs     atomic.Int32 // exporters still to write this record
	inline   [8]attribute.KeyValue
	linkBuf  [2]trace.Link
	eventBuf [1]event
}

type event struct {
	name    string
	time    time.Time
	attrs   []attribute.KeyValue
	dropped int
}

var recordPool = sync.Pool{New: func() any { return new(record) }}

// recycle resets r and returns it to the pool. Handles still held by
// callers see gen changed and leave it alone.
func (r *record) recycle() {
	r.mu.Lock()
	r.gen++
	r.ended = false
	r.tr = nil
	r.sc, r.parent = trace.SpanContext{}, trace.SpanContext{}
	r.name = ""
	r.kind = 0
	r.start, r.end = time.Time{}, time.Time{}
	clear(r.inline[:])
	r.attrs, r.attrsOwned, r.droppedAttrs = nil, false, 0
	clear(r.linkBuf[:])
	r.links, r.linkDropped, r.droppedLinks = nil, nil, 0
	clear(r.eventBuf[:])
	r.events, r.droppedEvs = nil, 0
	r.status, r.statusDesc = codes.Unset, ""
	r.taskEnd = nil
	r.mu.Unlock()
	recordPool.Put(r)
}

// setAttributes is the SDK's SetAttributes (r.mu held or r not yet
// shared). fresh says attrs is a slice r may keep and append to.
func (r *record) setAttributes(attrs []attribute.KeyValue, fresh bool) {
	if len(r.attrs)+len(attrs) > attrCountLimit {
		r.addOverCapAttrs(attrs)
		return
	}
	clean := true
	for _, a := range attrs {
		if !a.Valid() || needsNorm(a.Value) {
			clean = false
			break
		}
	}
	if clean && fresh && r.attrs == nil {
		r.attrs, r.attrsOwned = attrs, true
		return
	}
	if !r.attrsOwned {
		r.attrs = append(r.inline[:0], r.attrs...)
		r.attrsOwned = true
	}
	for _, a := range attrs {
		if !a.Valid() {
			r.droppedAttrs++
			continue
		}
		r.attrs = append(r.attrs, normAttr(a))
	}
}

// addOverCapAttrs is the SDK's path when the count limit may be exceeded:
// deduplicate, update existing keys, drop new keys beyond the limit.
func (r *record) addOverCapAttrs(attrs []attribute.KeyValue) {
	r.attrs = dedupAttrs(r.ownAttrs())
	for _, a := range attrs {
		if !a.Valid() {
			r.droppedAttrs++
			continue
		}
		if i := indexOfKey(r.attrs, a.Key); i >= 0 {
			r.attrs[i] = normAttr(a)
			continue
		}
		if len(r.attrs) >= attrCountLimit {
			r.droppedAttrs++
			continue
		}
		r.attrs = append(r.attrs, normAttr(a))
	}
}

func (r *record) ownAttrs() []attribute.KeyValue {
	if !r.attrsOwned {
		r.attrs = append(r.inline[:0], r.attrs...)
		r.attrsOwned = true
	}
	return r.attrs
}

func indexOfKey(kvs []attribute.KeyValue, k attribute.Key) int {
	for i := range kvs {
		if kvs[i].Key == k {
			return i
		}
	}
	return -1
}

// addLink is the SDK's AddLink (r.mu held or r not yet shared).
func (r *record) addLink(l trace.Link) {
	if !l.SpanContext.IsValid() && len(l.Attributes) == 0 && l.SpanContext.TraceState().Len() == 0 {
		return
	}
	l.Attributes = normAttrs(l.Attributes)
	dropped := 0
	if len(l.Attributes) > attrPerLinkLimit {
		dropped = len(l.Attributes) - attrPerLinkLimit
		l.Attributes = l.Attributes[:attrPerLinkLimit]
	}
	if len(r.links) == linkCountLimit { // evict the oldest, as the SDK's queue
		copy(r.links, r.links[1:])
		r.links = r.links[:len(r.links)-1]
		if r.linkDropped != nil {
			copy(r.linkDropped, r.linkDropped[1:])
			r.linkDropped = r.linkDropped[:len(r.linkDropped)-1]
		}
		r.droppedLinks++
	}
	if r.links == nil {
		r.links = r.linkBuf[:0]
	}
	r.links = append(r.links, l)
	if dropped != 0 && r.linkDropped == nil {
		r.linkDropped = make([]int, len(r.links)-1, cap(r.links))
	}
	if r.linkDropped != nil {
		r.linkDropped = append(r.linkDropped, dropped)
	}
}

// addEvent is the SDK's addEvent (r.mu held).
func (r *record) addEvent(name string, opts ...trace.EventOption) {
	c := trace.NewEventConfig(opts...)
	e := event{name: name, time: c.Timestamp(), attrs: normAttrs(c.Attributes())}
	if len(e.attrs) > attrPerEventLimit {
		e.dropped = len(e.attrs) - attrPerEventLimit
		e.attrs = e.attrs[:attrPerEventLimit]
	}
	if len(r.events) == eventCountLimit {
		copy(r.events, r.events[1:])
		r.events = r.events[:len(r.events)-1]
		r.droppedEvs++
	}
	if r.events == nil {
		r.events = r.eventBuf[:0]
	}
	r.events = append(r.events, e)
}

// dedupAttrs removes repeated keys in place: a key keeps the position of
// its first occurrence and the value of its last, as the SDK's snapshot.
func dedupAttrs(kvs []attribute.KeyValue) []attribute.KeyValue {
	// A 64-bit filter on (length, last byte) of the keys finds the common
	// case, no duplicates, without comparing every pair.
	var seen uint64
	dup := false
	for i := range kvs {
		k := kvs[i].Key
		var h uint
		if n := len(k); n > 0 {
			h = (uint(n)*7 + uint(k[n-1])) & 63
		}
		if seen&(1<<h) != 0 && indexOfKey(kvs[:i], k) >= 0 {
			dup = true
			break
		}
		seen |= 1 << h
	}
	if !dup {
		return kvs
	}
	unique := kvs[:0]
	for _, a := range kvs {
		if i := indexOfKey(unique, a.Key); i >= 0 {
			unique[i] = a
		} else {
			unique = append(unique, a)
		}
	}
	clear(kvs[len(unique):])
	return unique
}

// spanHandle is what Start returns. sc never changes, so SpanContext stays
// valid after the record is recycled; every other method checks gen.
type spanHandle struct {
	embedded.Span
	r   *record
	gen uint64
	sc  trace.SpanContext
	tp  *tracerProvider
}

var _ trace.Span = (*spanHandle)(nil)

// lock returns the record locked if the span is still open, else nil.
func (h *spanHandle) lock() *record {
	r := h.r
	r.mu.Lock()
	if r.gen != h.gen || r.ended {
		r.mu.Unlock()
		return nil
	}
	return r
}

func (h *spanHandle) SpanContext() trace.SpanContext { return h.sc }

func (h *spanHandle) IsRecording() bool {
	r := h.lock()
	if r == nil {
		return false
	}
	r.mu.Unlock()
	return true
}

func (h *spanHandle) SetStatus(code codes.Code, description string) {
	r := h.lock()
	if r == nil {
		return
	}
	defer r.mu.Unlock()
	if r.status > code { // Ok > Error > Unset, as the SDK
		return
	}
	r.status, r.statusDesc = code, ""
	if code == codes.Error {
		r.statusDesc = description
	}
}

func (h *spanHandle) SetAttributes(kv ...attribute.KeyValue) {
	if len(kv) == 0 {
		return
	}
	r := h.lock()
	if r == nil {
		return
	}
	r.setAttributes(kv, false)
	r.mu.Unlock()
}

func (h *spanHandle) AddEvent(name string, opts ...trace.EventOption) {
	r := h.lock()
	if r == nil {
		return
	}
	r.addEvent(name, opts...)
	r.mu.Unlock()
}

func (h *spanHandle) AddLink(l trace.Link) {
	if !l.SpanContext.IsValid() && len(l.Attributes) == 0 && l.SpanContext.TraceState().Len() == 0 {
		return
	}
	r := h.lock()
	if r == nil {
		return
	}
	r.addLink(l)
	r.mu.Unlock()
}

func (h *spanHandle) RecordError(err error, opts ...trace.EventOption) {
	if err == nil || !h.IsRecording() {
		return
	}
	opts = append(opts, trace.WithAttributes(
		exceptionTypeKey.String(typeStr(err)),
		exceptionMessageKey.String(err.Error()),
	))
	if c := trace.NewEventConfig(opts...); c.StackTrace() {
		opts = append(opts, trace.WithAttributes(exceptionStacktraceKey.String(stackTrace())))
	}
	h.AddEvent(exceptionEventName, opts...)
}

func (h *spanHandle) SetName(name string) {
	r := h.lock()
	if r == nil {
		return
	}
	r.name = name
	r.mu.Unlock()
}

func (h *spanHandle) TracerProvider() trace.TracerProvider { return h.tp }

// End ends the span and hands it to every exporter's queue. As the SDK, it
// records a panic in progress (End deferred) as an exception event.
func (h *spanHandle) End(opts ...trace.SpanEndOption) {
	r := h.lock()
	if r == nil {
		return
	}
	config := trace.NewSpanEndConfig(opts...)
	if recovered := recover(); recovered != nil {
		defer panic(recovered) // record, do not stop it
		attrs := []attribute.KeyValue{exceptionTypeKey.String(typeStr(recovered)), exceptionMessageKey.String(fmt.Sprint(recovered))}
		if config.StackTrace() {
			attrs = append(attrs, exceptionStacktraceKey.String(stackTrace()))
		}
		r.addEvent(exceptionEventName, trace.WithAttributes(attrs...))
	}
	if r.taskEnd != nil {
		r.taskEnd()
	}
	if ts := config.Timestamp(); !ts.IsZero() {
		r.end = ts
	} else {
		r.end = r.start.Add(time.Since(r.start)) // monotonic, as the SDK
	}
	r.ended = true
	// Deduplicated now, on the ending goroutine, so the record is read-only
	// from here on (exporters read it concurrently).
	r.attrs = dedupAttrs(r.attrs)
	r.mu.Unlock()

	tp := r.tr.tp
	if tp.shutdown.Load() || len(tp.batchers) == 0 {
		r.recycle()
		return
	}
	r.refs.Store(int32(len(tp.batchers)))
	for _, b := range tp.batchers {
		b.enqueue(r)
	}
}

// release is called by each exporter once it wrote r.
func (r *record) release() {
	if r.refs.Add(-1) == 0 {
		r.recycle()
	}
}

// nonRecordingSpan is an unsampled span: a context to propagate, nothing
// recorded (the SDK's nonRecordingSpan).
type nonRecordingSpan struct {
	embedded.Span
	tp *tracerProvider
	sc trace.SpanContext
}

func (s nonRecordingSpan) SpanContext() trace.SpanContext        { return s.sc }
func (nonRecordingSpan) IsRecording() bool                       { return false }
func (nonRecordingSpan) SetStatus(codes.Code, string)            {}
func (nonRecordingSpan) SetAttributes(...attribute.KeyValue)     {}
func (nonRecordingSpan) End(...trace.SpanEndOption)              {}
func (nonRecordingSpan) RecordError(error, ...trace.EventOption) {}
func (nonRecordingSpan) AddEvent(string, ...trace.EventOption)   {}
func (nonRecordingSpan) AddLink(trace.Link)                      {}
func (nonRecordingSpan) SetName(string)                          {}
func (s nonRecordingSpan) TracerProvider() trace.TracerProvider  { return s.tp }

// typeStr is the SDK's exception.type: package path and type name.
func typeStr(i any) string {
	t := reflect.TypeOf(i)
	if t.PkgPath() == "" && t.Name() == "" {
		return t.String() // likely a builtin type
	}
	return fmt.Sprintf("%s.%s", t.PkgPath(), t.Name())
}

// Shutdown exports every span already ended and closes the exporters (the
// file exporter fsyncs); spans ended afterwards are dropped. The SDK's
// TracerProvider.Shutdown.
func (tp *tracerProvider) Shutdown(ctx context.Context) error {
	if tp.shutdown.Swap(true) {
		return nil
	}
	var errs []error
	for _, b := range tp.batchers {
		errs = append(errs, b.shutdown(ctx))
	}
	return errors.Join(errs...)
}
