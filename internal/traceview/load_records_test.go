package traceview_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/kvtrace/kvtrace/instrument/names"
	"github.com/kvtrace/kvtrace/instrument/record"
	"github.com/kvtrace/kvtrace/internal/traceview"
	"github.com/kvtrace/kvtrace/internal/traceview/fixturegen"
)

// toRecords is what a member's boundaries hand the recorder for the spans it
// would have written as OTLP JSON: the inverse of traceview's conversion.
// entryIndex maps an entry's context to its raft index (from apply spans),
// which gives the index range of a record whose links name entries it does
// not carry (MsgAppResp, a commit-only MsgApp or wal.save, MsgProp).
type toRecords struct {
	entryIndex map[traceview.Link]uint64
	memberID   func(string) uint64
}

func hexU(s string) uint64 { v, _ := strconv.ParseUint(s, 16, 64); return v }

var opCode = map[string]uint8{"put": record.OpPut, "txn": record.OpTxn, "deleterange": record.OpDeleteRange,
	"delete_range": record.OpDeleteRange, "range": record.OpRange, "compact": record.OpCompact}

func (c *toRecords) rec(r *record.Recorder, s *traceview.Span) (record.Rec, bool) {
	id, ok := names.Lookup(s.Name)
	if !ok {
		return record.Rec{}, false
	}
	rec := record.Rec{Boundary: id, TraceID: s.TraceID, Parent: s.Parent, SpanID: s.SpanID,
		Start: r.Mono(time.Unix(0, s.Start)), End: r.Mono(time.Unix(0, s.End)),
		Term: s.Uint("raft.term"), First: s.Uint("raft.first_index"), Last: s.Uint("raft.last_index"),
		Index: s.Uint("raft.index"), LogTerm: s.Uint("raft.log_term") + s.Uint("raft.hs_term") + s.Uint("raft.snapshot_term"),
		Count: uint32(s.Uint("raft.entries") + s.Uint("bbolt.ops")), Bytes: uint32(s.Uint("bytes"))}
	switch s.Str("raft.role") {
	case "leader":
		rec.Flags |= record.RoleLeader
	case "follower":
		rec.Flags |= record.RoleFollower
	}
	if s.Bool("raft.reject") {
		rec.Flags |= record.FlagReject
	}
	if s.Bool("wal.must_sync") {
		rec.Flags |= record.FlagMustSync
	}
	rec.Commit = s.Uint("raft.commit") + s.Uint("raft.hs_commit") + s.Uint("kv.revision")
	if op, ok := opCode[strings.ToLower(s.Str("kv.op"))]; ok {
		rec.Kind = op
	}
	rec.Peer = hexU(s.Str("kv.request_id"))
	switch s.Name {
	case names.Send:
		rec.Peer = hexU(s.Str("raft.to_id"))
	case names.Receive:
		rec.Peer = hexU(s.Str("raft.from_id"))
	case names.CommitAdvance:
		q := strings.Split(s.Str("raft.quorum"), ",")
		if q[0] != "" {
			slots := []*uint64{&rec.Index, &rec.LogTerm, &rec.Peer}
			for i, m := range q[:min(3, len(q))] {
				*slots[i] = c.memberID(m)
			}
		}
	}
	if t, ok := raftpb.MessageType_value[s.Str("raft.msg_type")]; ok {
		rec.Kind = uint8(t + 1)
	}
	if rec.First == 0 && len(s.Links) > 0 {
		for _, l := range s.Links {
			if i, ok := c.entryIndex[l]; ok {
				if rec.First == 0 || i < rec.First {
					rec.First = i
				}
				rec.Last = max(rec.Last, i)
			}
		}
	}
	return rec, true
}

// recordFromSpans records every span of tr with one real Recorder per member
// under dir/<member>.kvd/trace, as the members would have.
func recordFromSpans(t *testing.T, tr *traceview.Trace, dir string) {
	t.Helper()
	c := &toRecords{entryIndex: map[traceview.Link]uint64{}, memberID: func(m string) uint64 { return hexU(fixturegen.MemberID(m)) }}
	for i := range tr.Spans {
		if s := &tr.Spans[i]; s.Name == traceview.NameApply {
			c.entryIndex[traceview.Link{TraceID: s.TraceID, SpanID: s.Parent}] = s.Uint("raft.index")
		}
	}
	recs := map[string]*record.Recorder{}
	for _, m := range tr.Members {
		r, err := record.Open(record.Options{Dir: filepath.Join(dir, m+".kvd", "trace"), Member: m, MemberID: c.memberID(m)})
		if err != nil {
			t.Fatal(err)
		}
		recs[m] = r
	}
	for i := range tr.Spans {
		s := &tr.Spans[i]
		r := recs[s.Member]
		if rec, ok := c.rec(r, s); ok {
			r.Record(rec)
		}
	}
	for m, r := range recs {
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if st := r.Stats(); st.Dropped != 0 || st.Written != st.Recorded {
			t.Fatalf("%s: %+v", m, st)
		}
	}
}

var digits = regexp.MustCompile(`[0-9.]+`)

// TestRecordingGivesSameStagesAsOTLP: the writes of a synthetic 3-member run
// (fixturegen: a follower-served write, a batch of three, a slow leader
// fsync, batched bbolt commits), recorded through the recorder instead of
// OTLP JSON, load into the same writes, the same events and the same stages,
// and every span keeps its parent and its links.
func TestRecordingGivesSameStagesAsOTLP(t *testing.T) {
	jsonTrace := generated(t)
	dir := t.TempDir()
	recordFromSpans(t, jsonTrace, dir)
	recTrace, torn, err := traceview.LoadRecordings(dir)
	if err != nil || torn != nil {
		t.Fatalf("load: %v, torn %v", err, torn)
	}
	if len(recTrace.Writes) != len(jsonTrace.Writes) || len(recTrace.Writes) != 7 {
		t.Fatalf("%d writes from the recording, %d from OTLP JSON", len(recTrace.Writes), len(jsonTrace.Writes))
	}
	const tol = 2 * time.Microsecond // the recorder re-anchors wall time per block
	near := func(a, b time.Duration) bool { return a-b <= tol && b-a <= tol }
	for i := range jsonTrace.Writes {
		jw := &jsonTrace.Writes[i]
		rw, ok := recTrace.WriteByTrace(jw.TraceID)
		if !ok {
			t.Fatalf("write %d (%s) missing from the recording", jw.N, jw.TraceID)
		}
		if rw.Index != jw.Index || rw.Revision != jw.Revision || rw.Member != jw.Member || !near(rw.Latency, jw.Latency) {
			t.Errorf("write %d: recording %+v, OTLP %+v", jw.N, *rw, *jw)
		}
		jd, rd := jsonTrace.Detail(jw), recTrace.Detail(rw)
		if jd.Leader != rd.Leader {
			t.Errorf("write %d: leader %q vs %q", jw.N, rd.Leader, jd.Leader)
		}
		if len(jd.Stages) != len(rd.Stages) || len(jd.Stages) < 10 {
			t.Fatalf("write %d: %d stages from the recording, %d from OTLP", jw.N, len(rd.Stages), len(jd.Stages))
		}
		for k := range jd.Stages {
			j, r := jd.Stages[k], rd.Stages[k]
			if j.Name != r.Name || j.Member != r.Member || !near(j.From, r.From) || !near(j.To, r.To) ||
				!near(j.Duration, r.Duration) || digits.ReplaceAllString(j.Note, "#") != digits.ReplaceAllString(r.Note, "#") {
				t.Errorf("write %d stage %d: recording %+v, OTLP %+v", jw.N, k, r, j)
			}
		}
		ev := func(d *traceview.Detail) []string {
			var out []string
			for _, e := range d.Events {
				out = append(out, fmt.Sprintf("%s %s %s>%s %v", e.Member, e.Name, e.From, e.To, e.Linked))
			}
			slices.Sort(out)
			return out
		}
		if a, b := ev(rd), ev(jd); !slices.Equal(a, b) {
			t.Errorf("write %d events differ:\nrecording %q\nOTLP      %q", jw.N, a, b)
		}
	}
	bySpan := map[traceview.SpanID]*traceview.Span{}
	for i := range recTrace.Spans {
		bySpan[recTrace.Spans[i].SpanID] = &recTrace.Spans[i]
	}
	for i := range jsonTrace.Spans {
		j := &jsonTrace.Spans[i]
		r := bySpan[j.SpanID]
		if r == nil {
			t.Errorf("span %s %s on %s not in the recording", j.Name, j.SpanID, j.Member)
			continue
		}
		if r.Name != j.Name || r.Member != j.Member || r.Parent != j.Parent || r.TraceID != j.TraceID || r.Kind != j.Kind {
			t.Errorf("span %s: recording %s/%s parent %s, OTLP %s/%s parent %s", j.SpanID, r.Name, r.Member, r.Parent, j.Name, j.Member, j.Parent)
		}
		if !slices.Equal(sortedLinks(r.Links), sortedLinks(j.Links)) {
			t.Errorf("span %s %s on %s: links %v, OTLP %v", j.Name, j.SpanID, j.Member, sortedLinks(r.Links), sortedLinks(j.Links))
		}
	}
}

func sortedLinks(ls []traceview.Link) []string {
	out := make([]string, 0, len(ls))
	for _, l := range ls {
		out = append(out, l.TraceID.String()+"/"+l.SpanID.String())
	}
	slices.Sort(out)
	return out
}

// TestRecordingBytesPerWrite records the checked-in fixture (a real 3-member
// cluster's spans) and the generator's batched run and logs the recorded
// bytes per write against the OTLP JSON bytes of the same spans.
func TestRecordingBytesPerWrite(t *testing.T) {
	bulkDir := t.TempDir()
	if err := fixturegen.WriteDir(bulkDir, fixturegen.Bulk(700, 7)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, dir string }{{"recorded fixture", fixtureDir}, {"fixturegen Bulk(700, 7)", bulkDir}} {
		tr, err := traceview.Load(c.dir)
		if err != nil {
			t.Fatal(err)
		}
		out := t.TempDir()
		recordFromSpans(t, tr, out)
		recBytes, jsonBytes := dirBytes(t, out, ".krec"), dirBytes(t, c.dir, ".jsonl")
		n := int64(len(tr.Writes))
		if recBytes*5 > jsonBytes {
			t.Errorf("%s: %d B recorded vs %d B of OTLP JSON: more than 1/5", c.name, recBytes, jsonBytes)
		}
		t.Logf("%s: %d writes, %d spans: %d B/write recorded, %d B/write OTLP JSON (%.1fx smaller)",
			c.name, n, len(tr.Spans), recBytes/n, jsonBytes/n, float64(jsonBytes)/float64(recBytes))
	}
}

func dirBytes(t *testing.T, dir, ext string) int64 {
	t.Helper()
	var n int64
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && strings.HasSuffix(p, ext) {
			n += fi.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestLoadRecordingsTornTailIsAWarning: a member's recording cut inside its
// last block (a crash) still loads with the other members'; the cut is a
// warning naming the file, the other members lose nothing, and the cut
// member keeps exactly the records before its last block.
func TestLoadRecordingsTornTailIsAWarning(t *testing.T) {
	dir := t.TempDir()
	recordFromSpans(t, generated(t), dir)
	whole, _, err := traceview.LoadRecordings(dir)
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "m3.kvd", "trace", "*.krec"))
	if err != nil || len(files) != 1 {
		t.Fatalf("m3's recording: %v %v", files, err)
	}
	st, _ := os.Stat(files[0])
	if err := os.Truncate(files[0], st.Size()-10); err != nil {
		t.Fatal(err)
	}
	survivors := 0
	if _, err := record.ReadFile(files[0], func(_ *record.Header, b *record.Block) error {
		survivors += len(b.Records)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	tr, torn, err := traceview.LoadRecordings(dir)
	if err != nil {
		t.Fatalf("a torn tail must not fail the load: %v", err)
	}
	if len(torn) != 1 || torn[0].File != files[0] {
		t.Fatalf("torn %v, want one warning for %s", torn, files[0])
	}
	count := func(tr *traceview.Trace) map[string]int {
		n := map[string]int{}
		for i := range tr.Spans {
			n[tr.Spans[i].Member]++
		}
		return n
	}
	before, after := count(whole), count(tr)
	if after["m1"] != before["m1"] || after["m2"] != before["m2"] || after["m3"] != survivors || survivors >= before["m3"] {
		t.Fatalf("spans per member %v, before the cut %v; m3 kept %d records", after, before, survivors)
	}
}
