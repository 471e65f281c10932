package traceview

import (
	"fmt"
	"sort"
	"time"
)

// ClientLane is the lane name of the client in a Detail.
const ClientLane = "client"

// Event names that are not span names: the two ends of the client's RPC.
const (
	EventRequest = "client.request" // the client's request reaches the serving member (gRPC span start)
	EventReply   = "client.reply"   // the serving member replies (gRPC span end)
)

// Detail is one write laid out for display: its events in time order on one
// lane per member plus the client, the messages between lanes and its stages.
type Detail struct {
	Write  *Write   `json:"write"`
	Lanes  []string `json:"lanes"`  // "client" first, then members sorted by name
	Leader string   `json:"leader"` // the member that committed the entry ("" if unseen)
	Events []Event  `json:"events"`
	Stages []Stage  `json:"stages"`
}

// Event is one boundary on one lane: a span's start, or for the gRPC span its
// start (request) and end (reply). Times are offsets from the write's start.
type Event struct {
	Seq      int           `json:"seq"`            // position in Events
	At       time.Duration `json:"offset_ns"`      // since the write's gRPC span started
	Member   string        `json:"member"`         // the lane it is on
	Name     string        `json:"name"`           // span name, or client.request / client.reply
	Duration time.Duration `json:"duration_ns"`    // the span's duration (0 for client.reply)
	To       string        `json:"to,omitempty"`   // messages: the receiving lane
	From     string        `json:"from,omitempty"` // messages: the sending lane
	MsgType  string        `json:"msg_type,omitempty"`
	Label    string        `json:"label"`         // short text: MsgApp[5..7], wal.fsync, Put foo ...
	Peer     int           `json:"peer_seq"`      // send <-> matching recv event Seq; -1 when none
	Linked   []int         `json:"linked_writes"` // other writes (by N) this span carried or acknowledged
	Attrs    []Attr        `json:"attrs"`         // all attributes of the span
	SpanID   string        `json:"span_id"`
	Source   string        `json:"source"` // file:line the span came from

	span *Span
}

// Span returns the span behind the event.
func (e *Event) Span() *Span { return e.span }

// IsMessage reports whether the event is one end of an arrow between lanes.
func (e *Event) IsMessage() bool { return e.To != "" || e.From != "" }

// Detail lays out write w. It costs time proportional to the write's spans.
func (t *Trace) Detail(w *Write) *Detail {
	d := &Detail{Write: w, Lanes: append([]string{ClientLane}, t.Members...)}
	idx := t.spansOf(w)
	root := &t.Spans[w.root]
	base := root.Start
	seqOfSpan := map[int32]int{}
	for _, i := range idx {
		s := &t.Spans[i]
		e := Event{
			At: time.Duration(s.Start - base), Member: s.Member, Name: s.Name, Duration: s.Duration(),
			Label: s.Name, Peer: -1, Attrs: s.Attrs, SpanID: s.SpanID.String(), Source: s.Pos.String(), span: s,
			Linked: t.linkedWrites(s, w),
		}
		switch {
		case i == w.root:
			e.Name, e.From, e.To = EventRequest, ClientLane, s.Member
			e.Label = fmt.Sprintf("%s %s", w.Op, w.Key)
		case s.Name == NameSend:
			e.From, e.To, e.MsgType = s.Member, s.Str("raft.to"), s.Str("raft.msg_type")
			e.Label = msgLabel(s)
		case s.Name == NameRecv:
			e.From, e.To, e.MsgType = s.Str("raft.from"), s.Member, s.Str("raft.msg_type")
			e.Label = msgLabel(s)
		case s.Name == NameWALSave:
			if s.Uint("raft.entries") > 0 || s.Uint("raft.last_index") > 0 {
				e.Label = fmt.Sprintf("wal.save[%d..%d]", s.Uint("raft.first_index"), s.Uint("raft.last_index"))
			}
			if c := s.Str("raft.hs_commit"); c != "" && s.Uint("raft.entries") == 0 {
				e.Label = "wal.save hs commit=" + c
			}
		case s.Name == NameCommit:
			if _, perEntry := s.Attr("raft.index"); perEntry {
				e.Label = fmt.Sprintf("raft.commit %d", s.Uint("raft.index"))
			} else {
				e.Label = fmt.Sprintf("raft.commit[%d..%d]", s.Uint("raft.first_index"), s.Uint("raft.last_index"))
			}
			if q := s.Str("raft.quorum_last"); q != "" {
				e.Label += " quorum_last=" + q
			}
		case s.Name == NameApply:
			e.Label = fmt.Sprintf("apply %d", s.Uint("raft.index"))
		case s.Name == NameBoltCommit:
			e.Label = fmt.Sprintf("bbolt.commit[%d..%d]", s.Uint("raft.first_index"), s.Uint("raft.last_index"))
		case s.Name == NameConfChange:
			e.Label = confChangeLabel(s)
		}
		d.Events = append(d.Events, e)
		seqOfSpan[i] = len(d.Events) - 1
	}
	d.Events = append(d.Events, Event{
		At: time.Duration(root.End - base), Member: root.Member, Name: EventReply, From: root.Member, To: ClientLane,
		Label: fmt.Sprintf("reply rev=%d", w.Revision), Peer: -1, SpanID: root.SpanID.String(), Source: root.Pos.String(), span: root,
		Attrs: root.Attrs, Linked: []int{},
	})
	// Time order; ties keep span order (already start-sorted), so the reply,
	// added last, sorts after anything that ends at the same instant.
	order := make([]int, len(d.Events))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return d.Events[order[a]].At < d.Events[order[b]].At })
	newSeq := make([]int, len(order))
	sorted := make([]Event, len(order))
	for n, old := range order {
		newSeq[old] = n
		sorted[n] = d.Events[old]
		sorted[n].Seq = n
	}
	d.Events = sorted
	// Match each recv to its send: the recv's parent is the send span.
	for n := range d.Events {
		e := &d.Events[n]
		if e.Name != NameRecv {
			continue
		}
		s := e.span
		if p, ok := t.bySpan[spanKey{s.TraceID, s.Parent}]; ok {
			if old, ok := seqOfSpan[p]; ok {
				e.Peer = newSeq[old]
				d.Events[e.Peer].Peer = n
			}
		}
	}
	d.Leader, d.Stages = t.stages(w, idx)
	return d
}

// linkedWrites lists the writes (by N) other than w that span s belongs to
// through its links or its own trace.
func (t *Trace) linkedWrites(s *Span, w *Write) []int {
	var out []int
	seen := map[int]bool{w.N: true}
	add := func(tid TraceID) {
		if o := t.writeForTrace(tid); o != nil && !seen[o.N] {
			seen[o.N] = true
			out = append(out, o.N)
		}
	}
	add(s.TraceID)
	for _, l := range s.Links {
		add(l.TraceID)
	}
	sort.Ints(out)
	if out == nil {
		out = []int{}
	}
	return out
}

// msgLabel names a raft message the way raft's own tests print them, shortened:
// MsgApp[5..7], MsgApp commit=7, MsgAppResp idx=7 (reject), MsgProp[?].
func msgLabel(s *Span) string {
	typ := s.Str("raft.msg_type")
	switch typ {
	case "MsgApp":
		if s.Uint("raft.entries") > 0 {
			return fmt.Sprintf("MsgApp[%d..%d]", s.Uint("raft.first_index"), s.Uint("raft.last_index"))
		}
		return fmt.Sprintf("MsgApp commit=%d", s.Uint("raft.commit"))
	case "MsgAppResp":
		l := fmt.Sprintf("MsgAppResp idx=%d", s.Uint("raft.index"))
		if s.Bool("raft.reject") {
			l += " reject"
		}
		return l
	case "MsgProp":
		if n := s.Uint("raft.entries"); n > 0 {
			return fmt.Sprintf("MsgProp(%d)", n)
		}
	}
	return typ
}
