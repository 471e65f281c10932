package traceview_test

import (
	"maps"
	"regexp"
	"testing"
	"time"

	"github.com/kvtrace/kvtrace/internal/traceview"
	"github.com/kvtrace/kvtrace/internal/traceview/fixturegen"
)

func stage(t *testing.T, d *traceview.Detail, name, member string) traceview.Stage {
	t.Helper()
	for _, s := range d.Stages {
		if s.Name == name && s.Member == member {
			return s
		}
	}
	t.Fatalf("write #%d has no stage %s/%s", d.Write.N, name, member)
	return traceview.Stage{}
}

// find returns the first span of the write's events matching pred.
func find(d *traceview.Detail, pred func(s *traceview.Span) bool) *traceview.Span {
	for i := range d.Events {
		if s := d.Events[i].Span(); s != nil && d.Events[i].Name != traceview.EventReply && pred(s) {
			return s
		}
	}
	return nil
}

func named(name, member string) func(*traceview.Span) bool {
	return func(s *traceview.Span) bool { return s.Name == name && s.Member == member }
}

func msg(name, member, typ string) func(*traceview.Span) bool {
	return func(s *traceview.Span) bool {
		return s.Name == name && s.Member == member && s.Str("raft.msg_type") == typ
	}
}

func TestWrites(t *testing.T) {
	tr := generated(t)
	want := []struct {
		op, key, member string
		rev             int64
		index           uint64
	}{
		{"Put", "foo", "m1", 2, 5}, {"Put", "k2", "m2", 3, 6}, {"Put", "a", "m1", 4, 7}, {"Put", "b", "m1", 5, 8},
		{"Put", "c", "m3", 6, 9}, {"DeleteRange", "foo", "m1", 7, 10}, {"Txn", "k3", "m1", 8, 11},
	}
	for i, w := range want {
		g := tr.Writes[i]
		if g.N != i+1 || g.Op != w.op || g.Key != w.key || g.Member != w.member || g.Revision != w.rev || g.Index != w.index || g.Latency <= 0 {
			t.Errorf("write %d = %+v, want %+v", i+1, g, w)
		}
		if got, ok := tr.WriteByTrace(g.TraceID[:8]); !ok || got.N != g.N {
			t.Errorf("WriteByTrace(prefix of #%d) = %v, %v", g.N, got, ok)
		}
	}
	if ws := tr.WritesByKey("foo"); len(ws) != 2 || ws[1].Op != "DeleteRange" {
		t.Fatalf("WritesByKey(foo) = %v", ws)
	}
}

func TestEventsAndMessages(t *testing.T) {
	tr := generated(t)
	d := tr.Detail(&tr.Writes[1]) // Put k2 served by follower m2
	if d.Leader != "m1" || d.Lanes[0] != traceview.ClientLane {
		t.Fatalf("leader %q lanes %v", d.Leader, d.Lanes)
	}
	first, last := d.Events[0], d.Events[len(d.Events)-1]
	if first.Name != traceview.EventRequest || first.At != 0 || first.To != "m2" {
		t.Fatalf("first event %+v", first)
	}
	for i := 1; i < len(d.Events); i++ {
		if d.Events[i].At < d.Events[i-1].At || d.Events[i].Seq != i {
			t.Fatalf("events out of order at %d", i)
		}
	}
	_ = last
	// Every receive is matched to its send across members, and the arrow
	// points forward in time.
	recvs := 0
	for _, e := range d.Events {
		if e.Name != "raft.recv" {
			continue
		}
		recvs++
		if e.Peer < 0 {
			t.Fatalf("recv %d (%s) unmatched", e.Seq, e.Label)
		}
		s := d.Events[e.Peer]
		if s.Name != "raft.send" || s.Peer != e.Seq || s.From != e.From || s.To != e.To || s.At > e.At || s.Member == e.Member {
			t.Fatalf("recv %+v matched to %+v", e, s)
		}
	}
	// MsgProp m2->m1, MsgApp x2, MsgAppResp x2, commit MsgApp x2.
	if recvs != 7 {
		t.Fatalf("%d receives, want 7", recvs)
	}
	var reply *traceview.Event
	for i := range d.Events {
		if d.Events[i].Name == traceview.EventReply {
			reply = &d.Events[i]
		}
	}
	if reply == nil || reply.At != d.Write.Latency || reply.To != traceview.ClientLane {
		t.Fatalf("reply %+v", reply)
	}
}

// TestBatchedWrite: write #4 shares write #3's MsgApp, wal.save and
// bbolt.commit; it reaches them through links, and a wal.fsync through its
// batched parent.
func TestBatchedWrite(t *testing.T) {
	tr := generated(t)
	d := tr.Detail(&tr.Writes[3])
	save := find(d, named("wal.save", "m2"))
	if save == nil || save.TraceID.String() != tr.Writes[2].TraceID || !save.LinksTo(mustTrace(t, tr.Writes[3].TraceID)) {
		t.Fatalf("batched wal.save %+v", save)
	}
	if find(d, named("wal.fsync", "m2")) == nil {
		t.Fatal("wal.fsync under the batched wal.save is missing")
	}
	var ev *traceview.Event
	for i := range d.Events {
		if d.Events[i].Span() == save {
			ev = &d.Events[i]
		}
	}
	if ev == nil || len(ev.Linked) != 2 || ev.Linked[0] != 3 || ev.Linked[1] != 5 {
		t.Fatalf("linked writes %+v", ev)
	}
	if s := stage(t, d, traceview.StageBoltCommit, "m1"); s.Note != "batched with 3 other write(s)" {
		t.Fatalf("bbolt stage %+v", s)
	}
}

func mustTrace(t *testing.T, s string) traceview.TraceID {
	id, ok := traceview.ParseTraceID(s)
	if !ok {
		t.Fatalf("bad trace id %s", s)
	}
	return id
}

func TestStagesAreSpanArithmetic(t *testing.T) {
	tr := generated(t)
	for wi := range tr.Writes {
		w := &tr.Writes[wi]
		d := tr.Detail(w)
		base := w.Start
		off := func(ns int64) time.Duration { return time.Duration(ns - base) }

		propose := find(d, named("raft.propose", w.Member))
		lsave := find(d, func(s *traceview.Span) bool { return named("wal.save", "m1")(s) && s.Covers(w.Index) })
		if s := stage(t, d, traceview.StageProposeWait, w.Member); s.From != off(propose.Start) || s.To != off(lsave.Start) || s.Duration != s.To-s.From {
			t.Errorf("#%d propose.wait %+v", w.N, s)
		}
		lfsync := find(d, named("wal.fsync", "m1"))
		if s := stage(t, d, traceview.StageLeaderFsync, "m1"); s.Duration != lfsync.Duration() {
			t.Errorf("#%d leader fsync %v != span %v", w.N, s.Duration, lfsync.Duration())
		}
		lcommit := find(d, named("raft.commit", "m1"))
		if s := stage(t, d, traceview.StageCommit, "m1"); s.To != off(lcommit.Start) ||
			s.Note != "quorum "+lcommit.Str("raft.quorum")+"; completed by "+lcommit.Str("raft.quorum_last") {
			t.Errorf("#%d commit %+v", w.N, s)
		}
		for _, f := range []string{"m2", "m3"} {
			send := find(d, func(s *traceview.Span) bool {
				return msg("raft.send", "m1", "MsgApp")(s) && s.Str("raft.to") == f && s.Covers(w.Index)
			})
			ack := find(d, func(s *traceview.Span) bool {
				return msg("raft.recv", "m1", "MsgAppResp")(s) && s.Str("raft.from") == f
			})
			if s := stage(t, d, traceview.StageReplicate, f); s.Duration != time.Duration(ack.Start-send.Start) {
				t.Errorf("#%d replicate %s %+v", w.N, f, s)
			}
			fsave := find(d, func(s *traceview.Span) bool { return named("wal.save", f)(s) && s.Covers(w.Index) })
			ffsync := find(d, named("wal.fsync", f))
			fack := find(d, func(s *traceview.Span) bool { return msg("raft.send", f, "MsgAppResp")(s) })
			fcommit := find(d, named("raft.commit", f))
			fapply := find(d, named("apply", f))
			// The follower persists BEFORE it acknowledges: that is what makes
			// the ack count toward the quorum.
			if ffsync.End > fack.Start || ffsync.Start < fsave.Start || ffsync.End > fsave.End {
				t.Errorf("#%d %s: fsync [%d,%d] save [%d,%d] ack %d", w.N, f, ffsync.Start, ffsync.End, fsave.Start, fsave.End, fack.Start)
			}
			s := stage(t, d, traceview.StageFollowerFsync, f)
			if s.From != off(fcommit.Start) || s.To != off(ffsync.End) || s.Duration != time.Duration(ffsync.End-fcommit.Start) {
				t.Errorf("#%d follower fsync %s %+v", w.N, f, s)
			}
			a := stage(t, d, traceview.StageFollowerApply, f)
			if a.To != off(fapply.End) || a.Duration <= 0 || a.To < s.To {
				t.Errorf("#%d follower apply %s %+v (fsync %+v): applied before persisted", w.N, f, a, s)
			}
		}
		if s := stage(t, d, traceview.StageLatency, w.Member); s.Duration != w.Latency || s.From != 0 {
			t.Errorf("#%d latency %+v", w.N, s)
		}
	}
}

// TestQuorum: in the round with slow disks on m1 and m3, the leader's own
// fsync is what completes the quorum; otherwise m2's ack is.
func TestQuorum(t *testing.T) {
	tr := generated(t)
	for _, c := range []struct {
		n    int
		note string
	}{{1, "quorum m1,m2; completed by m2"}, {3, "quorum m2,m1; completed by m1"}, {6, "quorum m1,m2; completed by m2"}} {
		d := tr.Detail(&tr.Writes[c.n-1])
		if s := stage(t, d, traceview.StageCommit, "m1"); s.Note != c.note {
			t.Errorf("#%d commit note %q, want %q", c.n, s.Note, c.note)
		}
	}
	// m2 persists write #1 before it learns the commit; slow m3 persists it
	// after (it learns the commit from m1 while its own fsync still runs).
	d := tr.Detail(&tr.Writes[0])
	if s := stage(t, d, traceview.StageFollowerFsync, "m2"); s.Duration >= 0 {
		t.Errorf("m2 fsync %+v, want before commit", s)
	}
	if s := stage(t, d, traceview.StageFollowerFsync, "m3"); s.Duration <= 0 {
		t.Errorf("m3 fsync %+v, want after commit", s)
	}
}

func TestStats(t *testing.T) {
	tr := generated(t)
	st := tr.Stats()
	var lat *traceview.StageStats
	for i := range st {
		if st[i].Name == traceview.StageLatency && st[i].Member == "m1" {
			lat = &st[i]
		}
	}
	var ds []time.Duration
	for _, w := range tr.Writes {
		if w.Member == "m1" {
			ds = append(ds, w.Latency)
		}
	}
	if lat == nil || lat.Count != len(ds) {
		t.Fatalf("latency/m1 stats %+v, want %d samples", lat, len(ds))
	}
	mx := ds[0]
	for _, d := range ds {
		mx = max(mx, d)
	}
	if lat.Max != mx || lat.P99 != mx || lat.P50 > lat.P90 || lat.P90 > lat.P99 {
		t.Fatalf("percentiles %+v (max %v)", lat, mx)
	}
	// Nearest rank on 5 samples: p50 is the 3rd smallest.
	sorted := append([]time.Duration(nil), ds...)
	for i := range sorted {
		for j := i + 1; j < len(sorted); j++ {
			if sorted[j] < sorted[i] {
				sorted[i], sorted[j] = sorted[j], sorted[i]
			}
		}
	}
	if len(sorted) == 5 && lat.P50 != sorted[2] {
		t.Fatalf("p50 %v, want %v of %v", lat.P50, sorted[2], sorted)
	}
	if st[0].Name != traceview.StageProposeWait {
		t.Fatalf("stats not in stage order: %v", st[0])
	}
}

// TestPerEntryShapeStillReads: span files of kvd before the leaner contract
// (one raft.commit per entry, mvcc.write under apply, kv.member on every
// span) give every write the same stages, members and quorum notes as the
// current shape (one raft.commit per commit advance, linking its entries).
func TestPerEntryShapeStillReads(t *testing.T) {
	cfg := fixturegen.Fixture()
	cfg.PerEntry = true
	dir := t.TempDir()
	if err := fixturegen.WriteDir(dir, cfg); err != nil {
		t.Fatal(err)
	}
	old, err := traceview.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	cur := generated(t)
	if len(old.Writes) != len(cur.Writes) || len(cur.Writes) == 0 {
		t.Fatalf("%d writes in the per-entry shape, %d in the current one", len(old.Writes), len(cur.Writes))
	}
	// Notes compared without their durations: the per-entry shape staggers
	// a round's raft.commit spans by 2µs each.
	ms := regexp.MustCompile(`[0-9]+\.[0-9]{3}ms`)
	type key struct{ name, member, note string }
	shape := func(d *traceview.Detail) map[key]bool {
		m := map[key]bool{}
		for _, s := range d.Stages {
			m[key{s.Name, s.Member, ms.ReplaceAllString(s.Note, "D")}] = true
		}
		return m
	}
	for i := range cur.Writes {
		a, b := old.Detail(&old.Writes[i]), cur.Detail(&cur.Writes[i])
		if !maps.Equal(shape(a), shape(b)) {
			t.Errorf("write #%d: per-entry shape stages %v, current %v", i+1, shape(a), shape(b))
		}
		if stage(t, b, traceview.StageApplyWait, "m2").Duration <= 0 {
			t.Errorf("write #%d: no time between learning the commit and applying on m2", i+1)
		}
	}
}
