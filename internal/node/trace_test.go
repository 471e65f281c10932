package node

import (
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/kvtrace/kvtrace/internal/transport"
)

// TestTracerOffAllocatesNothing: with tracing off, the per-Ready and
// per-entry tracing calls add no allocation to the write path.
func TestTracerOffAllocatesNothing(t *testing.T) {
	tr := newNodeTracer(nil, "m1", 1, []Member{{ID: 1, Name: "m1"}, {ID: 2, Name: "m2"}, {ID: 3, Name: "m3"}})
	ents := []*raftpb.Entry{{Term: proto.Uint64(2), Index: proto.Uint64(7), Data: []byte("payload")}}
	hs := &raftpb.HardState{Term: proto.Uint64(2), Commit: proto.Uint64(7)}
	env := transport.Envelope{Msg: &raftpb.Message{Type: raftpb.MessageType_MsgApp.Enum(), Entries: ents}}
	allocs := testing.AllocsPerRun(1000, func() {
		traced := tr.appended(ents)
		span := tr.startWALSave(tr.saveLinks(traced, hs, 6), hs, ents, true)
		tr.endWALSave(span, traced)
		tr.committed(7, true)
		end := tr.received(env)
		end()
		_, done := tr.applyCtx(ents[0])
		done()
	})
	if allocs != 0 {
		t.Fatalf("tracing off allocates %v times per entry", allocs)
	}
}

func BenchmarkTracerOff(b *testing.B) {
	tr := newNodeTracer(nil, "m1", 1, nil)
	ents := []*raftpb.Entry{{Term: proto.Uint64(2), Index: proto.Uint64(7), Data: make([]byte, 256)}}
	b.ReportAllocs()
	for b.Loop() {
		traced := tr.appended(ents)
		tr.endWALSave(tr.startWALSave(tr.saveLinks(traced, nil, 6), nil, ents, true), traced)
		_, done := tr.applyCtx(ents[0])
		done()
	}
}
