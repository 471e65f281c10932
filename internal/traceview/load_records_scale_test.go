package traceview_test

import (
	"encoding/binary"
	"flag"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/kvtrace/kvtrace/instrument/names"
	"github.com/kvtrace/kvtrace/instrument/record"
	"github.com/kvtrace/kvtrace/internal/traceview"
)

var scaleWrites = flag.Int("scale", 0, "TestLoadRecordingsScale: record and load this many writes (e.g. 1000000) and log time and memory")

// recordBulk records n writes on m1 (leader), m2, m3 in batches of batch
// entries, the way the members' boundaries would: per batch one MsgApp per
// follower, its receive, each member's wal.save + wal.fsync, the acks, one
// raft.commit per member; per write a gRPC span and raft.propose on the
// leader and an apply on every member; a bbolt.commit every 20 batches.
func recordBulk(t testing.TB, dir string, n, batch int) {
	ids := map[string]uint64{"m1": 0x8e9e05c52164694d, "m2": 0x91bc3c398fb3c146, "m3": 0xfd422379fda50e48}
	rs := map[string]*record.Recorder{}
	for _, m := range []string{"m1", "m2", "m3"} {
		r, err := record.Open(record.Options{Dir: filepath.Join(dir, m+".kvd", "trace"), Member: m, MemberID: ids[m], Capacity: 1 << 18})
		if err != nil {
			t.Fatal(err)
		}
		rs[m] = r
	}
	put := func(m string, rec record.Rec) {
		r := rs[m]
		for {
			before := r.Stats().Dropped
			r.Record(rec)
			if r.Stats().Dropped == before {
				return
			}
			runtime.Gosched() // the buffer is full: a test can wait, a member never does
		}
	}
	base := rs["m1"].Mono(time.Now())
	us := int64(time.Microsecond)
	var boltFirst uint64
	var boltTrace [16]byte
	idx := uint64(4)
	for round, done := 0, 0; done < n; round++ {
		k := min(batch, n-done)
		t0 := base + int64(round)*1000*us
		first, last := idx+1, idx+uint64(k)
		var head [16]byte
		var headSpan [8]byte
		props := make([][8]byte, k)
		tids := make([][16]byte, k)
		for j := range k {
			idx++
			binary.BigEndian.PutUint64(tids[j][:8], uint64(done+j+1))
			tids[j][15] = 1
			g := rs["m1"].NewSpanID()
			props[j] = rs["m1"].NewSpanID()
			s := t0 + int64(j)*5*us
			put("m1", record.Rec{Boundary: names.MustID(names.GRPCPut), Kind: record.OpPut, TraceID: tids[j], SpanID: g, Start: s, End: s + 900*us, Commit: idx})
			put("m1", record.Rec{Boundary: names.MustID(names.Propose), TraceID: tids[j], Parent: g, SpanID: props[j], Start: s + 10*us, End: s + 850*us,
				Index: idx, Term: 2, Flags: record.RoleLeader, Bytes: 64})
		}
		head, headSpan = tids[0], props[0]
		if boltFirst == 0 {
			boltFirst, boltTrace = first, head
		}
		ready := t0 + 100*us
		for fi, f := range []string{"m2", "m3"} {
			snd := rs["m1"].NewSpanID()
			sAt := ready + int64(fi)*5*us
			msg := record.Rec{Kind: uint8(raftpb.MsgApp) + 1, TraceID: head, Term: 2, First: first, Last: last, Index: first - 1, LogTerm: 2, Commit: first - 1, Count: uint32(k), Bytes: uint32(64 * k)}
			m := msg
			m.Boundary, m.Parent, m.SpanID, m.Start, m.End, m.Peer, m.Flags = names.MustID(names.Send), headSpan, snd, sAt, sAt+8*us, ids[f], record.RoleLeader
			put("m1", m)
			m.Boundary, m.Parent, m.SpanID, m.Start, m.End, m.Peer, m.Flags = names.MustID(names.Receive), snd, rs[f].NewSpanID(), sAt+60*us, sAt+66*us, ids["m1"], record.RoleFollower
			put(f, m)
			save := rs[f].NewSpanID()
			put(f, record.Rec{Boundary: names.MustID(names.WALSave), TraceID: head, Parent: headSpan, SpanID: save, Start: sAt + 80*us, End: sAt + 400*us,
				Term: 2, First: first, Last: last, Count: uint32(k), Flags: record.RoleFollower | record.FlagMustSync, Commit: first - 1, LogTerm: 2})
			put(f, record.Rec{Boundary: names.MustID(names.WALSync), TraceID: head, Parent: save, SpanID: rs[f].NewSpanID(), Start: sAt + 100*us, End: sAt + 390*us})
			ack := rs[f].NewSpanID()
			a := record.Rec{Kind: uint8(raftpb.MsgAppResp) + 1, TraceID: head, Parent: headSpan, Term: 2, First: first, Last: last, Index: last}
			a.Boundary, a.SpanID, a.Start, a.End, a.Peer, a.Flags = names.MustID(names.Send), ack, sAt+410*us, sAt+418*us, ids["m1"], record.RoleFollower
			put(f, a)
			a.Boundary, a.Parent, a.SpanID, a.Start, a.End, a.Peer, a.Flags = names.MustID(names.Receive), ack, rs["m1"].NewSpanID(), sAt+470*us, sAt+475*us, ids[f], record.RoleLeader
			put("m1", a)
		}
		save := rs["m1"].NewSpanID()
		put("m1", record.Rec{Boundary: names.MustID(names.WALSave), TraceID: head, Parent: headSpan, SpanID: save, Start: ready + 20*us, End: ready + 420*us,
			Term: 2, First: first, Last: last, Count: uint32(k), Flags: record.RoleLeader | record.FlagMustSync, LogTerm: 2})
		put("m1", record.Rec{Boundary: names.MustID(names.WALSync), TraceID: head, Parent: save, SpanID: rs["m1"].NewSpanID(), Start: ready + 40*us, End: ready + 400*us})
		for mi, m := range []string{"m1", "m2", "m3"} {
			c := record.Rec{Boundary: names.MustID(names.CommitAdvance), TraceID: head, Parent: headSpan, SpanID: rs[m].NewSpanID(),
				Start: ready + 600*us + int64(mi)*60*us, Term: 2, First: first, Last: last, Commit: last, Flags: record.RoleFollower}
			c.End = c.Start
			if m == "m1" {
				c.Flags, c.Index, c.LogTerm = record.RoleLeader, ids["m1"], ids["m2"]
			}
			put(m, c)
			for j := range k {
				aAt := c.Start + 20*us + int64(j)*30*us
				put(m, record.Rec{Boundary: names.MustID(names.Apply), Kind: record.OpPut, TraceID: tids[j], Parent: props[j], SpanID: rs[m].NewSpanID(),
					Start: aAt, End: aAt + 25*us, Term: 2, Index: first + uint64(j), Commit: first + uint64(j)})
			}
			if (round+1)%20 == 0 || done+k == n {
				put(m, record.Rec{Boundary: names.MustID(names.BackendCommit), TraceID: boltTrace, SpanID: rs[m].NewSpanID(), Start: c.Start + 300*us,
					End: c.Start + 600*us, First: boltFirst, Last: last, Count: uint32(last - boltFirst + 1)})
			}
		}
		if (round+1)%20 == 0 {
			boltFirst = 0
		}
		done += k
	}
	for m, r := range rs {
		if err := r.Close(); err != nil {
			t.Fatalf("%s: %v", m, err)
		}
	}
}

func TestLoadRecordingsScale(t *testing.T) {
	n := 2000
	if *scaleWrites > 0 {
		n = *scaleWrites
	}
	dir := t.TempDir()
	t0 := time.Now()
	recordBulk(t, dir, n, 7)
	recorded := time.Since(t0)
	runtime.GC()
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	t1 := time.Now()
	tr, torn, err := traceview.LoadRecordings(dir)
	if err != nil || torn != nil {
		t.Fatalf("%v, torn %v", err, torn)
	}
	loaded := time.Since(t1)
	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)
	if len(tr.Writes) != n {
		t.Fatalf("%d writes loaded, %d recorded", len(tr.Writes), n)
	}
	// Every write has the stages a healthy write has.
	for _, i := range []int{0, n / 2, n - 1} {
		d := tr.Detail(&tr.Writes[i])
		if d.Leader != "m1" || len(d.Stages) != 19 {
			var names []string
			for _, s := range d.Stages {
				names = append(names, s.Name+"/"+s.Member)
			}
			t.Fatalf("write %d: leader %q, %d stages %v", i+1, d.Leader, len(d.Stages), names)
		}
	}
	bytes := dirBytes(t, dir, ".krec")
	msg := fmt.Sprintf("%d writes, %d spans, %d B recorded (%d B/write): recorded in %v, loaded in %v, heap after load %d MiB (Sys %d MiB)",
		n, len(tr.Spans), bytes, bytes/int64(n), recorded.Round(time.Millisecond), loaded.Round(time.Millisecond),
		(m1.HeapAlloc)>>20, m1.Sys>>20)
	t.Log(msg)
	runtime.KeepAlive(tr)
}
