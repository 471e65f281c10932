package node

import (
	"context"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/kvtrace/kvtrace/instrument"
	"github.com/kvtrace/kvtrace/internal/transport"
)

// tracedEntry is an entry whose payload carries a sampled trace context
// (docs/spans.md, "How the context travels").
type tracedEntry struct {
	index, term uint64
	sc          trace.SpanContext
}

// ackRec is one MsgAppResp the leader received: the follower now holds
// everything up to index, as of at.
type ackRec struct {
	index uint64
	at    time.Time
}

const (
	maxRecent = 1 << 14 // traced entries remembered for acks and commit notices
	maxAcks   = 1 << 10 // acks remembered per follower
)

// nodeTracer records the raft-level spans of one member. When off, every
// method returns at its first line: no allocation, no lock.
//
// Fields below mu are touched by the Ready loop only, except where noted.
type nodeTracer struct {
	on     bool
	tr     trace.Tracer
	member string
	id     uint64
	names  map[uint64]string // member id → name, fixed after New
	hexes  map[uint64]string // member id → hex id, fixed after New
	voters int

	// mu guards recent and acks: the Ready loop writes recent, transport
	// goroutines read it (Process) and write acks.
	mu     sync.Mutex
	recent []tracedEntry // by index, ascending
	acks   map[uint64][]ackRec

	pendingCommit []tracedEntry        // appended here, commit not yet seen
	ackSent       map[uint64]uint64    // per peer: highest index covered by a traced MsgAppResp
	commitSent    map[uint64]uint64    // per peer: highest commit announced in a traced message
	saveEnd       map[uint64]time.Time // index → when this member's WAL save of it ended

	// saveMu guards save, the WAL save being described: set around WAL.Save
	// by the Ready loop, filled in by the WAL's sync hooks, which Save calls
	// synchronously, but which WAL.SaveSnapshot (apply goroutine) calls too.
	saveMu sync.Mutex
	save   *walSaveRec

	// spanc feeds spanLoop, which creates the spans that the Ready loop and
	// the transport's receive goroutines only describe (see later); closed
	// by close. spanDone is closed when spanLoop has drained it.
	spanc    chan func()
	spanDone chan struct{}

	// role and term are written by the Ready loop and read by the transport
	// and apply goroutines for span attributes.
	role atomic.Value // string
	term atomic.Uint64
}

func newNodeTracer(tr trace.Tracer, member string, id uint64, members []Member) *nodeTracer {
	t := &nodeTracer{on: tr != nil, tr: tr, member: member, id: id, names: map[uint64]string{}, hexes: map[uint64]string{}, voters: len(members)}
	for _, m := range members {
		t.names[m.ID] = m.Name
		t.hexes[m.ID] = instrument.HexID(m.ID)
	}
	if t.on {
		t.acks = map[uint64][]ackRec{}
		t.ackSent = map[uint64]uint64{}
		t.commitSent = map[uint64]uint64{}
		t.saveEnd = map[uint64]time.Time{}
		t.spanc = make(chan func(), spanQueue)
		t.spanDone = make(chan struct{})
		go t.spanLoop()
	}
	return t
}

// spanQueue bounds the span descriptions waiting for spanLoop; beyond it
// the describing goroutine creates its span itself (later never drops).
const spanQueue = 1 << 14

// later runs fn on spanLoop. Creating a span with the OpenTelemetry SDK
// (attribute set, links, IDs, the processor hand-off) cost microseconds per
// span, and the Ready loop and the transport's receive goroutines, which
// every write waits for, made ~20 of the ~31 spans of a write (profile of a
// traced leader: span creation ~20% of its CPU, half of it on the Ready
// loop). Those goroutines now only take timestamps and copy what the span
// will say; fn builds the span with those timestamps (WithTimestamp), so
// what the spans say is unchanged. fn MUST use only what it captured, never
// tracer state the describing goroutine goes on changing.
func (t *nodeTracer) later(fn func()) {
	select {
	case t.spanc <- fn:
	default:
		fn() // queue full: record it here rather than drop it
	}
}

func (t *nodeTracer) spanLoop() {
	defer close(t.spanDone)
	for fn := range t.spanc {
		fn()
	}
}

// close creates every span still described and stops spanLoop. Call it
// once, AFTER every goroutine that records spans has stopped (Node.Stop),
// and BEFORE the tracer provider shuts down, or those spans are lost.
func (t *nodeTracer) close() {
	if !t.on {
		return
	}
	close(t.spanc)
	<-t.spanDone
}

// baseVals are the values of the attributes every span carries that change
// over time, taken when a span is described (not when spanLoop creates it).
type baseVals struct {
	role string
	term uint64
}

func (t *nodeTracer) now() baseVals {
	return baseVals{t.roleString(), t.term.Load()}
}

// baseOf is base with the values taken earlier.
func (t *nodeTracer) baseOf(v baseVals) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 18)
	return append(attrs,
		instrument.AttrRole.String(v.role),
		instrument.AttrTerm.Int64(int64(v.term)),
	)
}

func (t *nodeTracer) name(id uint64) string {
	if n, ok := t.names[id]; ok {
		return n
	}
	return instrument.HexID(id)
}

func (t *nodeTracer) hexID(id uint64) string {
	if h, ok := t.hexes[id]; ok {
		return h
	}
	return instrument.HexID(id)
}

// base returns the attributes every span carries, with room for a
// message's attributes (msgAttrs) so the appends after it do not regrow.
func (t *nodeTracer) base() []attribute.KeyValue { return t.baseOf(t.now()) }

func (t *nodeTracer) roleString() string {
	if r, ok := t.role.Load().(string); ok {
		return r
	}
	return instrument.RoleFollower
}

func roleName(s raft.StateType) string {
	switch s {
	case raft.StateLeader:
		return instrument.RoleLeader
	case raft.StateCandidate:
		return instrument.RoleCandidate
	case raft.StatePreCandidate:
		return instrument.RolePreCandidate
	}
	return instrument.RoleFollower
}

// tracedIn returns the traced entries among ents.
func tracedIn(ents []*raftpb.Entry) []tracedEntry {
	var out []tracedEntry
	for _, e := range ents {
		if e.GetType() != raftpb.EntryNormal {
			continue
		}
		if sc, ok := instrument.EntryContext(e.GetData()); ok {
			out = append(out, tracedEntry{e.GetIndex(), e.GetTerm(), sc})
		}
	}
	return out
}

// appended records entries this member is about to persist. Entries at or
// beyond the first new index replace what was there (raft log truncation).
func (t *nodeTracer) appended(ents []*raftpb.Entry) []tracedEntry {
	if !t.on || len(ents) == 0 {
		return nil
	}
	first := ents[0].GetIndex()
	traced := tracedIn(ents)
	t.mu.Lock()
	cut := sort.Search(len(t.recent), func(i int) bool { return t.recent[i].index >= first })
	t.recent = append(t.recent[:cut], traced...)
	if len(t.recent) > maxRecent {
		t.recent = append([]tracedEntry(nil), t.recent[len(t.recent)-maxRecent/2:]...)
	}
	t.mu.Unlock()
	keep := t.pendingCommit[:0]
	for _, p := range t.pendingCommit {
		if p.index < first {
			keep = append(keep, p)
		}
	}
	t.pendingCommit = append(keep, traced...)
	return traced
}

// recentIn returns remembered traced entries with lo < index <= hi.
func (t *nodeTracer) recentIn(lo, hi uint64) []tracedEntry {
	if hi <= lo {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	i := sort.Search(len(t.recent), func(i int) bool { return t.recent[i].index > lo })
	j := sort.Search(len(t.recent), func(i int) bool { return t.recent[i].index > hi })
	if i >= j {
		return nil
	}
	return append([]tracedEntry(nil), t.recent[i:j]...)
}

// links links a batched span to the traced entries it carries. A link has
// no attributes: the trace id names the write, and the span's
// raft.first_index/raft.last_index say which entries it held. (Index and
// term per link were ~100 bytes and an allocation per write per span, ~2 KB
// of the ~12 KB of spans a write made at 64 clients.)
func links(es []tracedEntry) []trace.Link {
	out := make([]trace.Link, 0, len(es))
	for _, e := range es {
		out = append(out, trace.Link{SpanContext: e.sc})
	}
	return out
}

// A span keeps at most instrument.MaxLinks links. A batched span that
// carries more traced entries is recorded in parts: part 1 is the span
// itself (its ID may already travel in an envelope), linking the first
// MaxLinks entries; recordRest records the others with the same name,
// kind, times and attributes, each linking its own chunk and parented on
// its first entry. Every part says part and parts; an unsplit span says
// neither.

// splitLinks returns the entries part 1 links, the rest, and the number of
// parts.
func splitLinks(es []tracedEntry) (head, rest []tracedEntry, parts int) {
	if len(es) <= instrument.MaxLinks {
		return es, nil, 1
	}
	return es[:instrument.MaxLinks], es[instrument.MaxLinks:], instrument.LinkParts(len(es))
}

func (t *nodeTracer) recordRest(name string, kind trace.SpanKind, start, end time.Time, attrs []attribute.KeyValue, rest []tracedEntry, parts int) {
	part := 1
	for chunk := range slices.Chunk(rest, instrument.MaxLinks) {
		part++
		ctx := trace.ContextWithRemoteSpanContext(context.Background(), chunk[0].sc)
		_, span := t.tr.Start(ctx, name, trace.WithSpanKind(kind), trace.WithTimestamp(start),
			trace.WithAttributes(instrument.WithPart(attrs, part, parts)...), trace.WithLinks(links(chunk)...))
		span.End(trace.WithTimestamp(end))
	}
}

// walSaveRec describes the wal.save span of one Ready (and its wal.fsync
// child) until endWALSave hands it to spanLoop.
type walSaveRec struct {
	start       time.Time
	base        baseVals
	all         []tracedEntry
	entries     int
	mustSync    bool
	hsCommit    uint64
	hsTerm      uint64
	first, last uint64

	syncStart, syncEnd time.Time // zero if Save did not fsync
	syncBase           baseVals
	syncBytes          int
}

// saveLinks returns the traced entries one Ready's wal.save carries: its
// new entries, and those whose commit its HardState records. Take it
// BEFORE committed (which forgets the committed ones).
func (t *nodeTracer) saveLinks(traced []tracedEntry, hs *raftpb.HardState, prevCommit uint64) []tracedEntry {
	if !t.on {
		return nil
	}
	all := traced
	if hs != nil && hs.GetCommit() > prevCommit {
		all = append(append([]tracedEntry(nil), traced...), t.committable(hs.GetCommit())...)
	}
	return all
}

// startWALSave begins describing the wal.save span of one Ready (all from
// saveLinks); finish it with endWALSave. It returns nil when the Ready holds
// nothing traced.
func (t *nodeTracer) startWALSave(all []tracedEntry, hs *raftpb.HardState, ents []*raftpb.Entry, mustSync bool) *walSaveRec {
	if !t.on || len(all) == 0 {
		return nil
	}
	rec := &walSaveRec{
		start: time.Now(), base: t.now(), all: all, entries: len(ents), mustSync: mustSync,
		hsCommit: hs.GetCommit(), hsTerm: hs.GetTerm(),
	}
	if len(ents) > 0 {
		rec.first, rec.last = ents[0].GetIndex(), ents[len(ents)-1].GetIndex()
	}
	t.saveMu.Lock()
	t.save = rec
	t.saveMu.Unlock()
	return rec
}

// committable returns pending entries with index <= commit (not removed).
func (t *nodeTracer) committable(commit uint64) []tracedEntry {
	var out []tracedEntry
	for _, p := range t.pendingCommit {
		if p.index <= commit {
			out = append(out, p)
		}
	}
	return out
}

func (t *nodeTracer) endWALSave(rec *walSaveRec, traced []tracedEntry) {
	if rec == nil {
		return
	}
	now := time.Now()
	for _, e := range traced {
		t.saveEnd[e.index] = now
	}
	t.saveMu.Lock() // after this no hook writes rec
	t.save = nil
	t.saveMu.Unlock()
	t.later(func() { t.recordWALSave(rec, now) })
}

// recordWALSave creates the wal.save span and its wal.fsync child (spanLoop).
func (t *nodeTracer) recordWALSave(rec *walSaveRec, end time.Time) {
	attrs := append(t.baseOf(rec.base),
		instrument.AttrEntries.Int(rec.entries),
		instrument.AttrMustSync.Bool(rec.mustSync),
		instrument.AttrHSCommit.Int64(int64(rec.hsCommit)),
		instrument.AttrHSTerm.Int64(int64(rec.hsTerm)),
	)
	if rec.entries > 0 {
		attrs = append(attrs, instrument.AttrFirstIndex.Int64(int64(rec.first)),
			instrument.AttrLastIndex.Int64(int64(rec.last)))
	}
	head, rest, parts := splitLinks(rec.all)
	t.recordRest(instrument.WALSave, trace.SpanKindInternal, rec.start, end, attrs, rest, parts)
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), head[0].sc)
	ctx, span := t.tr.Start(ctx, instrument.WALSave, trace.WithTimestamp(rec.start),
		trace.WithAttributes(instrument.WithPart(attrs, 1, parts)...), trace.WithLinks(links(head)...))
	if !rec.syncStart.IsZero() {
		_, fsync := t.tr.Start(ctx, instrument.WALSync, trace.WithTimestamp(rec.syncStart),
			trace.WithAttributes(append(t.baseOf(rec.syncBase), instrument.AttrBytes.Int(rec.syncBytes))...))
		fsync.End(trace.WithTimestamp(rec.syncEnd))
	}
	span.End(trace.WithTimestamp(end))
}

// walHooks time the fdatasync for the wal.fsync child of the current
// wal.save, and evaluate the walBeforeSync/walAfterSync failpoints.
func (t *nodeTracer) walHooks() (before, after func(bytes int)) {
	before = func(bytes int) {
		instrument.Failpoint(instrument.WALBeforeSync)
		instrument.Anchor(instrument.WALSync, t.member, t.term.Load(), 0)
		if t.on {
			t.saveMu.Lock()
			if t.save != nil {
				t.save.syncStart = time.Now()
			}
			t.saveMu.Unlock()
		}
	}
	after = func(bytes int) {
		if t.on {
			t.saveMu.Lock()
			if t.save != nil && !t.save.syncStart.IsZero() {
				t.save.syncEnd, t.save.syncBase, t.save.syncBytes = time.Now(), t.now(), bytes
			}
			t.saveMu.Unlock()
		}
		instrument.Failpoint(instrument.WALAfterSync)
	}
	return before, after
}

// committed emits ONE raft.commit span for the pending traced entries the
// new commit index covers (docs/spans.md): parent the first of them, a link
// to each, raft.first_index..raft.last_index their range. On the leader it
// names the quorum of the newest of them from the acks it saw: entries that
// become committed in the same Ready were completed by the same ack(s), and
// one quorum per span keeps the cost at one span per Ready, not per entry.
func (t *nodeTracer) committed(commit uint64, isLeader bool) {
	if !t.on || len(t.pendingCommit) == 0 {
		return
	}
	var done []tracedEntry
	keep := t.pendingCommit[:0]
	for _, p := range t.pendingCommit {
		if p.index > commit {
			keep = append(keep, p)
			continue
		}
		done = append(done, p)
	}
	t.pendingCommit = keep
	if len(done) == 0 {
		return
	}
	var quorum []string
	if isLeader {
		quorum = t.quorumFor(done[len(done)-1].index) // reads saveEnd: before it is cleared
	}
	for _, p := range done {
		delete(t.saveEnd, p.index)
	}
	at, base := time.Now(), t.now()
	t.later(func() {
		attrs := append(t.baseOf(base), instrument.AttrCommit.Int64(int64(commit)),
			instrument.AttrFirstIndex.Int64(int64(done[0].index)),
			instrument.AttrLastIndex.Int64(int64(done[len(done)-1].index)))
		if len(quorum) > 0 {
			attrs = append(attrs, instrument.AttrQuorum.StringSlice(quorum),
				instrument.AttrQuorumLast.String(quorum[len(quorum)-1]))
		}
		head, rest, parts := splitLinks(done)
		t.recordRest(instrument.CommitAdvance, trace.SpanKindInternal, at, at, attrs, rest, parts)
		ctx := trace.ContextWithRemoteSpanContext(context.Background(), head[0].sc)
		_, span := t.tr.Start(ctx, instrument.CommitAdvance, trace.WithTimestamp(at),
			trace.WithAttributes(instrument.WithPart(attrs, 1, parts)...), trace.WithLinks(links(head)...))
		span.End(trace.WithTimestamp(at))
	})
}

// quorumFor orders the members by when they first held index durably (the
// leader: its WAL save ended; a follower: its MsgAppResp arrived) and
// returns the first majority; the last one completed the quorum.
func (t *nodeTracer) quorumFor(index uint64) []string {
	type holder struct {
		name string
		at   time.Time
	}
	var hs []holder
	if at, ok := t.saveEnd[index]; ok {
		hs = append(hs, holder{t.member, at})
	}
	t.mu.Lock()
	for id, recs := range t.acks {
		for _, r := range recs {
			if r.index >= index {
				hs = append(hs, holder{t.name(id), r.at})
				break
			}
		}
	}
	t.mu.Unlock()
	sort.Slice(hs, func(i, j int) bool { return hs[i].at.Before(hs[j].at) })
	q := t.voters/2 + 1
	if len(hs) > q {
		hs = hs[:q]
	}
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.name
	}
	return out
}

// envelopes wraps outgoing messages; those that carry, acknowledge or
// announce the commit of traced entries get a raft.send span whose context
// travels in the envelope's Meta.
func (t *nodeTracer) envelopes(msgs []*raftpb.Message) []transport.Envelope {
	envs := make([]transport.Envelope, 0, len(msgs))
	var sends []sendRec
	for _, m := range msgs {
		env := transport.Envelope{Msg: m}
		instrument.Anchor(instrument.LeaderSend, t.member, m.GetTerm(), m.GetIndex())
		if t.on {
			if es := t.tracedFor(m); len(es) > 0 {
				// The span's ID is chosen here so its context can travel
				// in the envelope now; spanLoop starts the span later.
				id := instrument.NewSpanID()
				parent := es[0].sc
				env.Meta = instrument.EncodeMeta(trace.NewSpanContext(trace.SpanContextConfig{
					TraceID: parent.TraceID(), SpanID: id, TraceFlags: parent.TraceFlags(), TraceState: parent.TraceState(),
				}))
				sends = append(sends, sendRec{m: m, es: es, id: id})
			}
		}
		envs = append(envs, env)
	}
	if len(sends) > 0 {
		at, base := time.Now(), t.now()
		t.later(func() {
			for _, r := range sends {
				t.recordSend(r, at, base)
			}
		})
	}
	return envs
}

// sendRec describes one raft.send span. m is not modified after Send (the
// transport's contract), so its attributes can be read later.
type sendRec struct {
	m  *raftpb.Message
	es []tracedEntry
	id trace.SpanID // already in the envelope's Meta
}

func (t *nodeTracer) tracedFor(m *raftpb.Message) []tracedEntry {
	to := m.GetTo()
	var es []tracedEntry
	switch m.GetType() {
	case raftpb.MessageType_MsgApp, raftpb.MessageType_MsgProp:
		es = tracedIn(m.GetEntries())
	case raftpb.MessageType_MsgAppResp:
		if !m.GetReject() && m.GetIndex() > t.ackSent[to] {
			es = t.recentIn(t.ackSent[to], m.GetIndex())
			t.ackSent[to] = m.GetIndex()
		}
	}
	switch m.GetType() {
	case raftpb.MessageType_MsgApp, raftpb.MessageType_MsgHeartbeat:
		if c := m.GetCommit(); c > t.commitSent[to] {
			es = append(es, t.recentIn(t.commitSent[to], c)...)
			t.commitSent[to] = c
		}
	}
	return es
}

func (t *nodeTracer) msgAttrs(m *raftpb.Message, base baseVals) []attribute.KeyValue {
	attrs := append(t.baseOf(base),
		instrument.AttrMsgType.String(m.GetType().String()),
		instrument.AttrFrom.String(t.name(m.GetFrom())),
		instrument.AttrTo.String(t.name(m.GetTo())),
		instrument.AttrFromID.String(t.hexID(m.GetFrom())),
		instrument.AttrToID.String(t.hexID(m.GetTo())),
		instrument.AttrIndex.Int64(int64(m.GetIndex())),
		instrument.AttrLogTerm.Int64(int64(m.GetLogTerm())),
		instrument.AttrCommit.Int64(int64(m.GetCommit())),
		instrument.AttrEntries.Int(len(m.GetEntries())),
		instrument.AttrReject.Bool(m.GetReject()),
	)
	if n := len(m.GetEntries()); n > 0 {
		attrs = append(attrs, instrument.AttrFirstIndex.Int64(int64(m.GetEntries()[0].GetIndex())),
			instrument.AttrLastIndex.Int64(int64(m.GetEntries()[n-1].GetIndex())))
	}
	return attrs
}

// recordSend creates one raft.send span (spanLoop) with the ID its
// envelope already carries.
func (t *nodeTracer) recordSend(r sendRec, at time.Time, base baseVals) {
	attrs := t.msgAttrs(r.m, base)
	head, rest, parts := splitLinks(r.es)
	t.recordRest(instrument.LeaderSend, trace.SpanKindProducer, at, at, attrs, rest, parts)
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), r.es[0].sc)
	ctx = instrument.WithSpanID(ctx, r.id)
	_, span := t.tr.Start(ctx, instrument.LeaderSend, trace.WithSpanKind(trace.SpanKindProducer), trace.WithTimestamp(at),
		trace.WithAttributes(instrument.WithPart(attrs, 1, parts)...), trace.WithLinks(links(head)...))
	span.End(trace.WithTimestamp(at))
}

// received records a message arriving from a peer. It returns a function
// that ends the raft.recv span once the message was stepped into raft.
func (t *nodeTracer) received(env transport.Envelope) func() {
	if !t.on {
		return func() {}
	}
	m := env.Msg
	if m.GetType() == raftpb.MessageType_MsgAppResp && !m.GetReject() {
		t.mu.Lock()
		recs := append(t.acks[m.GetFrom()], ackRec{m.GetIndex(), time.Now()})
		if len(recs) > maxAcks {
			recs = append([]ackRec(nil), recs[len(recs)-maxAcks/2:]...)
		}
		t.acks[m.GetFrom()] = recs
		t.mu.Unlock()
	}
	parent, ok := instrument.DecodeMeta(env.Meta)
	if !ok {
		return func() {}
	}
	start, base := time.Now(), t.now()
	return func() {
		end := time.Now()
		t.later(func() {
			attrs := t.msgAttrs(m, base)
			head, rest, parts := splitLinks(tracedIn(m.GetEntries()))
			t.recordRest(instrument.Receive, trace.SpanKindConsumer, start, end, attrs, rest, parts)
			ctx := trace.ContextWithRemoteSpanContext(context.Background(), parent)
			_, span := t.tr.Start(ctx, instrument.Receive, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithTimestamp(start),
				trace.WithAttributes(instrument.WithPart(attrs, 1, parts)...), trace.WithLinks(links(head)...))
			span.End(trace.WithTimestamp(end))
		})
	}
}

// applyCtx prepares the apply span of a traced entry: ctx carries an
// instrument.ApplyNote with the span's context (its ID chosen now, so the
// store can link bbolt.commit to it) for the state machine to fill in, and
// end records the span on spanLoop with the start and end times taken here.
// For an untraced entry ctx is Background and end a no-op.
func (t *nodeTracer) applyCtx(e *raftpb.Entry) (context.Context, func()) {
	if !t.on {
		return context.Background(), func() {}
	}
	parent, ok := instrument.EntryContext(e.GetData())
	if !ok {
		return context.Background(), func() {}
	}
	id := instrument.NewSpanID()
	note := &instrument.ApplyNote{SC: trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: parent.TraceID(), SpanID: id, TraceFlags: parent.TraceFlags(), TraceState: parent.TraceState(),
	})}
	index, term := e.GetIndex(), e.GetTerm()
	start, base := time.Now(), t.now()
	return instrument.WithApplyNote(context.Background(), note), func() {
		end := time.Now()
		t.later(func() {
			attrs := append(t.baseOf(base), instrument.AttrIndex.Int64(int64(index)), instrument.AttrTerm.Int64(int64(term)))
			if note.Op != "" {
				attrs = append(attrs, instrument.AttrOp.String(note.Op), instrument.AttrKey.String(note.Key),
					instrument.AttrRequestID.String(note.RequestID))
			}
			if note.Revision != 0 {
				attrs = append(attrs, instrument.AttrRevision.Int64(note.Revision))
			}
			ctx := instrument.WithSpanID(trace.ContextWithRemoteSpanContext(context.Background(), parent), id)
			_, span := t.tr.Start(ctx, instrument.Apply, trace.WithTimestamp(start), trace.WithAttributes(attrs...))
			if note.Err != "" {
				span.SetStatus(codes.Error, note.Err)
			}
			span.End(trace.WithTimestamp(end))
		})
	}
}
