package traceview

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// Stage names, in the order a write meets them. Each stage is an interval
// between two span boundaries of the write; From and To are offsets from the
// write's start, Duration is To-From.
const (
	StageProposeWait   = "propose.wait"       // serving member's raft.propose start -> leader's wal.save start (includes MsgProp forwarding)
	StageLeaderFsync   = "leader.wal.fsync"   // the leader's wal.fsync of the entry
	StageReplicate     = "replicate"          // per follower: leader's MsgApp send start -> leader's MsgAppResp recv start
	StageCommit        = "commit"             // leader's wal.save start -> leader's raft.commit start; notes the quorum
	StageApplyWait     = "apply.wait"         // per member: its raft.commit start -> its apply start
	StageApply         = "apply"              // per member: the apply span
	StageBoltCommit    = "bbolt.commit"       // per member: the bbolt.commit span that made the write durable
	StageFollowerFsync = "follower.wal.fsync" // per follower: its raft.commit start -> its wal.fsync END (negative: persisted before it learned the commit)
	StageFollowerApply = "follower.apply"     // per follower: its raft.commit start -> its apply END
	StageLatency       = "latency"            // the gRPC span: client request -> reply
)

// StageOrder lists stage names in display order.
var StageOrder = []string{
	StageProposeWait, StageLeaderFsync, StageReplicate, StageCommit, StageApplyWait, StageApply,
	StageBoltCommit, StageFollowerFsync, StageFollowerApply, StageLatency,
}

// Stage is one measured interval of a write.
type Stage struct {
	Name     string        `json:"name"`
	Member   string        `json:"member,omitempty"`
	From     time.Duration `json:"from_ns"`
	To       time.Duration `json:"to_ns"`
	Duration time.Duration `json:"duration_ns"`
	Note     string        `json:"note,omitempty"`
}

// stageSpans finds a write's spans by kind. Every lookup takes the earliest
// match, because a retry or a re-sent MsgApp repeats a boundary and the first
// crossing is the one the write waited for.
type stageSpans struct {
	t    *Trace
	w    *Write
	spns []*Span
}

func (f *stageSpans) first(pred func(*Span) bool) *Span {
	for _, s := range f.spns {
		if pred(s) {
			return s
		}
	}
	return nil
}

// carries reports whether s holds the write's entry (by index range), or,
// when the entry's index is unknown, whether s belongs to the write at all.
func (f *stageSpans) carries(s *Span) bool {
	return f.w.Index == 0 || s.Covers(f.w.Index)
}

func (f *stageSpans) atIndex(s *Span) bool {
	return f.w.Index == 0 || s.Uint("raft.index") == f.w.Index
}

// commitCovers reports whether raft.commit span s announces the write's
// entry: one span per commit advance covering raft.first_index..
// raft.last_index (docs/spans.md), or, in files of kvd before that change,
// one span per entry with raft.index.
func (f *stageSpans) commitCovers(s *Span) bool {
	if _, perEntry := s.Attr("raft.index"); perEntry {
		return f.atIndex(s)
	}
	return f.carries(s)
}

func (t *Trace) stages(w *Write, idx []int32) (leader string, out []Stage) {
	f := &stageSpans{t: t, w: w}
	for _, i := range idx {
		f.spns = append(f.spns, &t.Spans[i])
	}
	root := &t.Spans[w.root]
	base := root.Start
	off := func(ns int64) time.Duration { return time.Duration(ns - base) }
	add := func(name, member string, from, to int64, note string) {
		out = append(out, Stage{Name: name, Member: member, From: off(from), To: off(to), Duration: time.Duration(to - from), Note: note})
	}

	// The leader: the member whose raft.commit names a quorum, else the one
	// that says it is leader, else the sender of MsgApp.
	if c := f.first(func(s *Span) bool { return s.Name == NameCommit && s.Str("raft.quorum") != "" && f.commitCovers(s) }); c != nil {
		leader = c.Member
	} else if c := f.first(func(s *Span) bool { return s.Str("raft.role") == "leader" }); c != nil {
		leader = c.Member
	} else if c := f.first(func(s *Span) bool { return s.Name == NameSend && s.Str("raft.msg_type") == "MsgApp" }); c != nil {
		leader = c.Member
	}

	propose := f.first(func(s *Span) bool { return s.Name == NamePropose && s.Member == w.Member && s.TraceID == w.tid })
	leaderSave := f.first(func(s *Span) bool { return s.Name == NameWALSave && s.Member == leader && f.carries(s) })
	if propose != nil && leaderSave != nil {
		add(StageProposeWait, w.Member, propose.Start, leaderSave.Start, "")
	}
	if fs := t.childNamed(leaderSave, NameWALSync); fs != nil {
		add(StageLeaderFsync, leader, fs.Start, fs.End, "")
	}

	followers := make([]string, 0, len(t.Members))
	for _, m := range t.Members {
		if m != leader {
			followers = append(followers, m)
		}
	}
	for _, fm := range followers {
		send := f.first(func(s *Span) bool {
			return s.Name == NameSend && s.Member == leader && s.Str("raft.to") == fm && s.Str("raft.msg_type") == "MsgApp" && f.carries(s)
		})
		if send == nil {
			continue
		}
		ack := f.first(func(s *Span) bool {
			return s.Name == NameRecv && s.Member == leader && s.Str("raft.from") == fm && s.Str("raft.msg_type") == "MsgAppResp" &&
				!s.Bool("raft.reject") && s.Start >= send.Start && (w.Index == 0 || s.Uint("raft.index") >= w.Index)
		})
		if ack != nil {
			add(StageReplicate, fm, send.Start, ack.Start, "MsgApp sent -> MsgAppResp received on "+leader)
		}
	}

	commitOn := func(m string) *Span {
		return f.first(func(s *Span) bool { return s.Name == NameCommit && s.Member == m && f.commitCovers(s) })
	}
	applyOn := func(m string) *Span {
		return f.first(func(s *Span) bool { return s.Name == NameApply && s.Member == m && f.atIndex(s) })
	}
	if lc := commitOn(leader); lc != nil && leaderSave != nil {
		note := ""
		if q := lc.Str("raft.quorum"); q != "" {
			note = "quorum " + q
		}
		if ql := lc.Str("raft.quorum_last"); ql != "" {
			note += "; completed by " + ql
		}
		add(StageCommit, leader, leaderSave.Start, lc.Start, strings.TrimPrefix(note, "; "))
	}
	members := append([]string{leader}, followers...)
	if leader == "" {
		members = followers
	}
	for _, m := range members {
		c, a := commitOn(m), applyOn(m)
		if c != nil && a != nil {
			add(StageApplyWait, m, c.Start, a.Start, "")
		}
	}
	for _, m := range members {
		if a := applyOn(m); a != nil {
			add(StageApply, m, a.Start, a.End, "")
		}
	}
	for _, m := range members {
		b := f.first(func(s *Span) bool {
			return s.Name == NameBoltCommit && s.Member == m && (s.TraceID == w.tid || s.LinksTo(w.tid))
		})
		if b != nil {
			note := ""
			if n := len(t.linkedWrites(b, w)); n > 0 {
				note = fmt.Sprintf("batched with %d other write(s)", n)
			}
			add(StageBoltCommit, m, b.Start, b.End, note)
		}
	}
	for _, fm := range followers {
		c := commitOn(fm)
		if c == nil {
			continue
		}
		save := f.first(func(s *Span) bool { return s.Name == NameWALSave && s.Member == fm && f.carries(s) })
		if fs := t.childNamed(save, NameWALSync); fs != nil {
			add(StageFollowerFsync, fm, c.Start, fs.End, relNote("persisted", fs.End-c.Start))
		}
	}
	for _, fm := range followers {
		c, a := commitOn(fm), applyOn(fm)
		if c != nil && a != nil {
			add(StageFollowerApply, fm, c.Start, a.End, relNote("applied", a.End-c.Start))
		}
	}
	add(StageLatency, w.Member, root.Start, root.End, "")
	return leader, out
}

func relNote(what string, d int64) string {
	if d < 0 {
		return fmt.Sprintf("%s %s BEFORE learning the commit", what, fmtMS(time.Duration(-d)))
	}
	return fmt.Sprintf("%s %s after learning the commit", what, fmtMS(time.Duration(d)))
}

// childNamed returns the first child of s called name (nil if s is nil).
func (t *Trace) childNamed(s *Span, name string) *Span {
	if s == nil {
		return nil
	}
	for _, c := range t.children[spanKey{s.TraceID, s.SpanID}] {
		if t.Spans[c].Name == name {
			return &t.Spans[c]
		}
	}
	return nil
}

// StageStats summarises one stage (name and member) over many writes.
type StageStats struct {
	Name   string        `json:"name"`
	Member string        `json:"member,omitempty"`
	Count  int           `json:"count"`
	P50    time.Duration `json:"p50_ns"`
	P90    time.Duration `json:"p90_ns"`
	P99    time.Duration `json:"p99_ns"`
	Max    time.Duration `json:"max_ns"`
}

// Stats computes per-stage percentiles over all writes (nearest-rank:
// the p-th percentile is the ceil(p*n)-th smallest duration).
func (t *Trace) Stats() []StageStats {
	return t.StatsOf(nil)
}

// StatsOf is Stats over the given writes (all writes when ws is nil).
func (t *Trace) StatsOf(ws []*Write) []StageStats {
	if ws == nil {
		for i := range t.Writes {
			ws = append(ws, &t.Writes[i])
		}
	}
	type key struct{ name, member string }
	samples := map[key][]time.Duration{}
	for _, w := range ws {
		_, st := t.stages(w, t.spansOf(w))
		for _, s := range st {
			k := key{s.Name, s.Member}
			samples[k] = append(samples[k], s.Duration)
		}
	}
	out := make([]StageStats, 0, len(samples))
	for k, v := range samples {
		slices.Sort(v)
		out = append(out, StageStats{Name: k.name, Member: k.member, Count: len(v),
			P50: rank(v, 0.50), P90: rank(v, 0.90), P99: rank(v, 0.99), Max: v[len(v)-1]})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := slices.Index(StageOrder, out[i].Name), slices.Index(StageOrder, out[j].Name)
		if a != b {
			return a < b
		}
		return out[i].Member < out[j].Member
	})
	return out
}

func rank(sorted []time.Duration, p float64) time.Duration {
	n := int(math.Ceil(float64(len(sorted))*p - 1e-9))
	if n < 1 {
		n = 1
	}
	if n > len(sorted) {
		n = len(sorted)
	}
	return sorted[n-1]
}

// fmtMS prints a duration in milliseconds with microsecond precision.
func fmtMS(d time.Duration) string {
	return fmt.Sprintf("%.3fms", float64(d)/float64(time.Millisecond))
}
