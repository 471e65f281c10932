package traceview

import (
	"slices"
	"sort"
	"strings"
	"time"
)

// Trace is everything loaded: spans of all members sorted by start time, the
// client writes found in them and the indexes that join spans into writes.
// A Trace is immutable once built and safe for concurrent readers.
type Trace struct {
	Spans   []Span         // sorted by Start, then member, then name
	Members []string       // member names, sorted
	Writes  []Write        // client writes, sorted by start; Writes[i].N == i+1
	Unknown map[string]int // span names outside the vocabulary, skipped, with counts
	Files   []string       // sources read, in order

	byTrace  map[TraceID][]int32 // spans whose own trace is the key
	linked   map[TraceID][]int32 // spans that link to the key (batched spans)
	bySpan   map[spanKey]int32   // (trace, span id) -> span
	children map[spanKey][]int32 // parent (trace, span id) -> children
	writeOf  map[TraceID]int32   // trace id -> index in Writes
}

type spanKey struct {
	t TraceID
	s SpanID
}

// Write is one client write: the gRPC server span of a Put, Txn or
// DeleteRange and what its attributes say.
type Write struct {
	N         int           `json:"n"`        // 1-based position in start order
	TraceID   string        `json:"trace_id"` // hex
	Op        string        `json:"op"`       // kv.op, else the RPC method
	Key       string        `json:"key"`
	Revision  int64         `json:"revision"`
	Member    string        `json:"member"` // the member that served it
	Start     int64         `json:"start_unix_nano"`
	Latency   time.Duration `json:"latency_ns"` // the gRPC span's duration
	RequestID string        `json:"request_id,omitempty"`
	Index     uint64        `json:"raft_index,omitempty"` // the entry's raft index (from raft.propose or apply)
	Term      uint64        `json:"raft_term,omitempty"`

	tid  TraceID
	root int32
}

// Build sorts and indexes the collected spans and finds the writes.
func (b *Builder) Build() *Trace {
	t := &Trace{Spans: b.spans, Unknown: b.unknown, Files: b.files}
	b.spans = nil
	sort.SliceStable(t.Spans, func(i, j int) bool {
		a, c := &t.Spans[i], &t.Spans[j]
		if a.Start != c.Start {
			return a.Start < c.Start
		}
		if a.Member != c.Member {
			return a.Member < c.Member
		}
		return a.Name < c.Name
	})
	n := len(t.Spans)
	t.byTrace = make(map[TraceID][]int32, n/8)
	t.linked = map[TraceID][]int32{}
	t.bySpan = make(map[spanKey]int32, n)
	t.children = make(map[spanKey][]int32, n/2)
	t.writeOf = map[TraceID]int32{}
	members := map[string]bool{}
	for i := range t.Spans {
		s := &t.Spans[i]
		idx := int32(i)
		members[s.Member] = true
		t.byTrace[s.TraceID] = append(t.byTrace[s.TraceID], idx)
		t.bySpan[spanKey{s.TraceID, s.SpanID}] = idx
		if !s.Parent.IsZero() {
			k := spanKey{s.TraceID, s.Parent}
			t.children[k] = append(t.children[k], idx)
		}
		for li, l := range s.Links {
			if l.TraceID == s.TraceID || slices.ContainsFunc(s.Links[:li], func(x Link) bool { return x.TraceID == l.TraceID }) {
				continue
			}
			t.linked[l.TraceID] = append(t.linked[l.TraceID], idx)
		}
	}
	for m := range members {
		t.Members = append(t.Members, m)
	}
	sort.Strings(t.Members)
	for i := range t.Spans {
		s := &t.Spans[i]
		if !isWriteRPC(s.Name) {
			continue
		}
		if _, dup := t.writeOf[s.TraceID]; dup {
			continue // a retried RPC in the same client trace: keep the first
		}
		w := Write{
			N: len(t.Writes) + 1, TraceID: s.TraceID.String(), tid: s.TraceID, root: int32(i),
			Op: s.Str("kv.op"), Key: s.Str("kv.key"), Revision: s.Int("kv.revision"),
			Member: s.Member, Start: s.Start, Latency: s.Duration(), RequestID: s.Str("kv.request_id"),
		}
		if w.Op == "" {
			w.Op = strings.TrimPrefix(s.Name, grpcKVPrefix)
		}
		// The entry's index: the serving member's raft.propose, else any apply.
		for _, j := range t.byTrace[s.TraceID] {
			c := &t.Spans[j]
			if c.Name == NamePropose && c.Member == s.Member && c.Uint("raft.index") != 0 {
				w.Index, w.Term = c.Uint("raft.index"), c.Uint("raft.term")
				break
			}
		}
		if w.Index == 0 {
			for _, j := range t.byTrace[s.TraceID] {
				c := &t.Spans[j]
				if c.Name == NameApply && c.Uint("raft.index") != 0 {
					w.Index, w.Term = c.Uint("raft.index"), c.Uint("raft.term")
					break
				}
			}
		}
		if w.Revision == 0 {
			for _, j := range t.byTrace[s.TraceID] {
				if c := &t.Spans[j]; c.Name == NameApply && c.Int("kv.revision") != 0 {
					w.Revision = c.Int("kv.revision")
					break
				}
			}
		}
		t.writeOf[s.TraceID] = int32(len(t.Writes))
		t.Writes = append(t.Writes, w)
	}
	return t
}

// WriteByTrace returns the write whose trace id is the hex string id (a unique
// prefix of at least 6 characters also matches).
func (t *Trace) WriteByTrace(id string) (*Write, bool) {
	id = strings.ToLower(id)
	if tid, ok := ParseTraceID(id); ok {
		if i, ok := t.writeOf[tid]; ok {
			return &t.Writes[i], true
		}
		return nil, false
	}
	if len(id) < 6 {
		return nil, false
	}
	var found *Write
	for i := range t.Writes {
		if strings.HasPrefix(t.Writes[i].TraceID, id) {
			if found != nil {
				return nil, false
			}
			found = &t.Writes[i]
		}
	}
	return found, found != nil
}

// WritesByKey returns the writes to key, in start order.
func (t *Trace) WritesByKey(key string) []*Write {
	var out []*Write
	for i := range t.Writes {
		if t.Writes[i].Key == key {
			out = append(out, &t.Writes[i])
		}
	}
	return out
}

// writeForTrace returns the write whose own trace is tid.
func (t *Trace) writeForTrace(tid TraceID) *Write {
	if i, ok := t.writeOf[tid]; ok {
		return &t.Writes[i]
	}
	return nil
}

// spansOf returns the indexes of every span that belongs to write w: the
// spans of its trace, the batched spans that link to it, and the children of
// those batched spans (a wal.fsync under a wal.save that carried w), sorted by
// start.
func (t *Trace) spansOf(w *Write) []int32 {
	seen := map[int32]bool{}
	var out []int32
	add := func(i int32) {
		if !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	for _, i := range t.byTrace[w.tid] {
		add(i)
	}
	for _, i := range t.linked[w.tid] {
		add(i)
		var walk func(int32)
		walk = func(p int32) {
			s := &t.Spans[p]
			for _, c := range t.children[spanKey{s.TraceID, s.SpanID}] {
				if !seen[c] {
					add(c)
					walk(c)
				}
			}
		}
		walk(i)
	}
	slices.Sort(out) // span indexes are in start order already
	return out
}
