package traceview_test

import (
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/kvtrace/kvtrace/instrument/names"
	"github.com/kvtrace/kvtrace/instrument/record"
	"github.com/kvtrace/kvtrace/internal/traceview"
)

// TestRecordingBoundaryAttributes: the boundaries outside a write's path
// (snapshots, conf changes, watch delivery, lease expiry) and a commit's
// quorum come back with docs/spans.md's names, kinds and attributes.
func TestRecordingBoundaryAttributes(t *testing.T) {
	dir := t.TempDir()
	m1, err := record.Open(record.Options{Dir: filepath.Join(dir, "m1"), Member: "m1", MemberID: 0x11})
	if err != nil {
		t.Fatal(err)
	}
	m2, err := record.Open(record.Options{Dir: filepath.Join(dir, "m2"), Member: "m2", MemberID: 0x22})
	if err != nil {
		t.Fatal(err)
	}
	now := m1.Mono(time.Now())
	cases := []struct {
		rec   record.Rec
		kind  int32
		attrs map[string]string
	}{
		{record.Rec{Boundary: names.MustID(names.SnapshotSave), Index: 100, LogTerm: 3, Commit: 95, Flags: record.FlagReceived}, 1,
			map[string]string{"raft.index": "100", "raft.snapshot_term": "3", "raft.compact_index": "95", "snapshot.received": "true"}},
		{record.Rec{Boundary: names.MustID(names.SnapshotSend), Index: 100, LogTerm: 3, Peer: 0x22, Bytes: 4096}, 4,
			map[string]string{"raft.to": "m2", "raft.to_id": "0000000000000022", "bytes": "4096", "raft.snapshot_term": "3"}},
		{record.Rec{Boundary: names.MustID(names.SnapshotApply), Index: 100, LogTerm: 3, Bytes: 4096}, 1,
			map[string]string{"raft.index": "100", "bytes": "4096"}},
		{record.Rec{Boundary: names.MustID(names.ConfChange), Kind: uint8(raftpb.ConfChangeAddLearnerNode) + 1, Index: 12, LogTerm: 2, Peer: 0x8e9e05c52164694d}, 1,
			map[string]string{"raft.index": "12", "raft.entry_term": "2", "raft.conf_change": "ConfChangeAddLearnerNode 8e9e05c52164694d"}},
		{record.Rec{Boundary: names.MustID(names.WatchDeliver), Index: 7, Count: 3, Commit: 42}, 1,
			map[string]string{"watch.id": "7", "watch.events": "3", "kv.revision": "42", "kv.member": "m1"}},
		{record.Rec{Boundary: names.MustID(names.LeaseExpire), Index: 0x694d, Commit: 43}, 1,
			map[string]string{"lease.id": "26957", "kv.revision": "43"}},
		{record.Rec{Boundary: names.MustID(names.CommitAdvance), First: 5, Last: 7, Commit: 7, Term: 2, Flags: record.RoleLeader, Index: 0x11, LogTerm: 0x22}, 1,
			map[string]string{"raft.quorum": "m1,m2", "raft.quorum_last": "m2", "raft.role": "leader", "raft.commit": "7", "raft.first_index": "5"}},
		{record.Rec{Boundary: names.MustID(names.GRPCRange), Kind: record.OpRange, Commit: 9, Count: 0}, 2,
			map[string]string{"rpc.method": "Range", "kv.op": "range", "kv.revision": "9"}},
	}
	for i := range cases {
		c := &cases[i]
		c.rec.SpanID = m1.NewSpanID()
		c.rec.Start, c.rec.End = now+int64(i)*1000, now+int64(i)*1000+500
		m1.Record(c.rec)
	}
	for _, r := range []*record.Recorder{m1, m2} {
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
	tr, torn, err := traceview.LoadRecordings(dir)
	if err != nil || torn != nil || len(tr.Spans) != len(cases) {
		t.Fatalf("%v, torn %v, %d spans", err, torn, len(tr.Spans))
	}
	byID := map[traceview.SpanID]*traceview.Span{}
	for i := range tr.Spans {
		byID[tr.Spans[i].SpanID] = &tr.Spans[i]
	}
	for _, c := range cases {
		s := byID[c.rec.SpanID]
		name := names.ID(c.rec.Boundary).Name()
		if s == nil || s.Name != name || s.Kind != c.kind || s.Member != "m1" || s.Duration() != 500 || s.TraceID.IsZero() {
			t.Fatalf("%s: got %+v", name, s)
		}
		for k, v := range c.attrs {
			if got, ok := s.Attr(k); !ok || got != v {
				t.Errorf("%s: %s = %q, want %q", name, k, got, v)
			}
		}
	}
	if got := tr.ConfChanges(); len(got) != 1 || got[0] != "raft.conf_change 12 ConfChangeAddLearnerNode 8e9e05c52164694d (applied on m1)" {
		t.Errorf("ConfChanges() = %q", got)
	}
}
