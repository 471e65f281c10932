package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/kvtrace/kvtrace/instrument/names"
	"github.com/kvtrace/kvtrace/instrument/record"
	"github.com/kvtrace/kvtrace/internal/traceview"
)

// readCollectorFile reads an OTLP JSON lines file with the Collector's own
// unmarshaler and returns every span by span id.
func readCollectorFile(t *testing.T, path string) (map[pcommon.SpanID]ptrace.Span, map[pcommon.SpanID]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	spans := map[pcommon.SpanID]ptrace.Span{}
	member := map[pcommon.SpanID]string{}
	var u ptrace.JSONUnmarshaler
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		td, err := u.UnmarshalTraces(sc.Bytes())
		if err != nil {
			t.Fatalf("the Collector cannot read a line of the export: %v", err)
		}
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			rs := td.ResourceSpans().At(i)
			m, _ := rs.Resource().Attributes().Get("service.instance.id")
			for j := 0; j < rs.ScopeSpans().Len(); j++ {
				ss := rs.ScopeSpans().At(j).Spans()
				for k := 0; k < ss.Len(); k++ {
					spans[ss.At(k).SpanID()] = ss.At(k)
					member[ss.At(k).SpanID()] = m.Str()
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return spans, member
}

// TestExportOTLPFileReadByCollector: the fixture's spans exported with
// `tracer export` read back with pdata's JSONUnmarshaler span for span (ids,
// parent, name, member, times, typed attributes, links), and the tracer
// loads the exported file into the same writes.
func TestExportOTLPFileReadByCollector(t *testing.T) {
	out := filepath.Join(t.TempDir(), "spans.jsonl")
	_, errOut, code := tracer(t, "export", "--out", out, fixture)
	if code != 0 || !strings.Contains(errOut, "exported") {
		t.Fatalf("export: exit %d: %s", code, errOut)
	}
	want, err := traceview.Load(fixture)
	if err != nil {
		t.Fatal(err)
	}
	got, member := readCollectorFile(t, out)
	if len(got) != len(want.Spans) {
		t.Fatalf("Collector read %d spans, the fixture has %d", len(got), len(want.Spans))
	}
	for i := range want.Spans {
		s := &want.Spans[i]
		p, ok := got[pcommon.SpanID(s.SpanID)]
		if !ok {
			t.Fatalf("span %s %s missing", s.Name, s.SpanID)
		}
		if p.Name() != s.Name || p.TraceID() != pcommon.TraceID(s.TraceID) || p.ParentSpanID() != pcommon.SpanID(s.Parent) ||
			member[p.SpanID()] != s.Member || int64(p.StartTimestamp()) != s.Start || int64(p.EndTimestamp()) != s.End ||
			p.Links().Len() != len(s.Links) || p.Attributes().Len() != len(s.Attrs) || int32(p.Kind()) != s.Kind {
			t.Fatalf("span %s %s read back differently", s.Name, s.SpanID)
		}
		if v, ok := p.Attributes().Get("raft.index"); ok && v.Type() != pcommon.ValueTypeInt {
			t.Fatalf("%s: raft.index is %s, want an integer", s.Name, v.Type())
		}
	}
	again, err := traceview.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Writes) != len(want.Writes) || len(again.Spans) != len(want.Spans) {
		t.Fatalf("the tracer reads %d writes / %d spans from the export, %d / %d from the fixture",
			len(again.Writes), len(again.Spans), len(want.Writes), len(want.Spans))
	}
}

// TestExportRecording: a recording written by the recorder on two members
// (one write: gRPC Put, propose, MsgApp, both WAL saves and applies) exports
// to spans the Collector reads, with the links the index ranges imply.
func TestExportRecording(t *testing.T) {
	dir := t.TempDir()
	open := func(m string, id uint64) *record.Recorder {
		r, err := record.Open(record.Options{Dir: filepath.Join(dir, m+".kvd", "trace"), Member: m, MemberID: id})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	m1, m2 := open("m1", 0x11), open("m2", 0x22)
	tid := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	grpc, prop := m1.NewSpanID(), m1.NewSpanID()
	send := m1.NewSpanID()
	at := func(r *record.Recorder, us int) int64 {
		return r.Mono(time.Now().Add(time.Duration(us) * time.Microsecond))
	}
	m1.Record(record.Rec{Boundary: names.MustID(names.GRPCPut), Kind: record.OpPut, TraceID: tid, SpanID: grpc, Start: at(m1, 0), End: at(m1, 900), Commit: 7})
	m1.Record(record.Rec{Boundary: names.MustID(names.Propose), TraceID: tid, Parent: grpc, SpanID: prop, Start: at(m1, 10), End: at(m1, 880), Index: 5, Term: 2, Flags: record.RoleLeader})
	m1.Record(record.Rec{Boundary: names.MustID(names.Send), Kind: uint8(raftpb.MsgApp) + 1, TraceID: tid, Parent: prop, SpanID: send,
		Start: at(m1, 100), End: at(m1, 105), Term: 2, First: 5, Last: 5, Index: 4, LogTerm: 2, Count: 1, Peer: 0x22, Flags: record.RoleLeader})
	m2.Record(record.Rec{Boundary: names.MustID(names.Receive), Kind: uint8(raftpb.MsgApp) + 1, TraceID: tid, Parent: send, SpanID: m2.NewSpanID(),
		Start: at(m2, 200), End: at(m2, 205), Term: 2, First: 5, Last: 5, Index: 4, LogTerm: 2, Count: 1, Peer: 0x11, Flags: record.RoleFollower})
	for _, r := range []*record.Recorder{m1, m2} {
		r.Record(record.Rec{Boundary: names.MustID(names.WALSave), TraceID: tid, Parent: prop, SpanID: r.NewSpanID(),
			Start: at(r, 300), End: at(r, 600), Term: 2, First: 5, Last: 5, Count: 1, Flags: record.FlagMustSync})
		r.Record(record.Rec{Boundary: names.MustID(names.Apply), Kind: record.OpPut, TraceID: tid, Parent: prop, SpanID: r.NewSpanID(),
			Start: at(r, 700), End: at(r, 750), Term: 2, Index: 5, Commit: 7})
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "spans.jsonl")
	if _, errOut, code := tracer(t, "export", dir, "--out", out); code != 0 {
		t.Fatalf("export: exit %d: %s", code, errOut)
	}
	got, member := readCollectorFile(t, out)
	if len(got) != 8 {
		t.Fatalf("Collector read %d spans, want the 8 recorded", len(got))
	}
	var recvOK, linked int
	for id, s := range got {
		if s.TraceID() != pcommon.TraceID(tid) {
			t.Fatalf("%s left the write's trace", s.Name())
		}
		switch s.Name() {
		case names.Receive:
			from, _ := s.Attributes().Get("raft.from")
			typ, _ := s.Attributes().Get("raft.msg_type")
			if member[id] == "m2" && from.Str() == "m1" && typ.Str() == "MsgApp" && s.ParentSpanID() == pcommon.SpanID(send) {
				recvOK++
			}
		case names.WALSave:
			if s.Links().Len() == 1 && s.Links().At(0).SpanID() == pcommon.SpanID(prop) {
				linked++
			}
		}
	}
	if recvOK != 1 || linked != 2 {
		t.Fatalf("raft.recv on m2 as the child of m1's send: %d; wal.save linking the entry: %d of 2", recvOK, linked)
	}
	tr, err := traceview.Load(out)
	if err != nil || len(tr.Writes) != 1 || tr.Writes[0].Index != 5 {
		t.Fatalf("the tracer reads the export: %v, %+v", err, tr)
	}
}
