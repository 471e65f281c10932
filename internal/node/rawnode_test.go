package node

import (
	"fmt"
	"testing"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// newTestRaftNode is a one-voter raft group (id 1) on a MemoryStorage, not
// yet elected; maxUncommitted is raft's MaxUncommittedEntriesSize (0: none).
func newTestRaftNode(t *testing.T, maxUncommitted uint64) (*raftNode, *raft.MemoryStorage) {
	t.Helper()
	st := raft.NewMemoryStorage()
	rn, err := raft.NewRawNode(&raft.Config{ID: 1, ElectionTick: 10, HeartbeatTick: 1, Storage: st,
		MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256, MaxUncommittedEntriesSize: maxUncommitted})
	if err != nil {
		t.Fatal(err)
	}
	if err := rn.Bootstrap([]raft.Peer{{ID: 1}}); err != nil {
		t.Fatal(err)
	}
	return newRaftNode(rn), st
}

// drain handles every Ready the way the Ready loop does (persist, advance)
// and returns the entries raft asked to persist.
func drain(t *testing.T, r *raftNode, st *raft.MemoryStorage) []*raftpb.Entry {
	t.Helper()
	var ents []*raftpb.Entry
	for i := 0; i < 100; i++ {
		rd, ok := r.ready()
		if !ok {
			return ents
		}
		if !raft.IsEmptyHardState(rd.HardState) {
			if err := st.SetHardState(rd.HardState); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Append(rd.Entries); err != nil {
			t.Fatal(err)
		}
		ents = append(ents, rd.Entries...)
		for _, e := range rd.CommittedEntries {
			if e.GetType() == raftpb.EntryType_EntryConfChange {
				var cc raftpb.ConfChange
				if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
					t.Fatal(err)
				}
				r.ApplyConfChange(&cc)
			}
		}
		r.advance(rd)
	}
	t.Fatal("raft kept producing Readys")
	return nil
}

func TestQueuedProposalsWaitForLeaderThenGoAsOneBatch(t *testing.T) {
	r, st := newTestRaftNode(t, 0)
	drain(t, r, st)

	// No leader yet: proposals stay queued, and a cancelled one is never
	// stepped.
	var ps []*proposal
	for i := range 50 {
		ps = append(ps, r.propose(fmt.Appendf(nil, "req-%d", i)))
	}
	ps[7].cancelled.Store(true)
	if got := drain(t, r, st); len(got) != 0 {
		t.Fatalf("without a leader raft persisted %d entries, want 0 (proposals must wait)", len(got))
	}

	if err := r.rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	// The first Ready that holds any proposal holds all of them: they were
	// stepped as one MsgProp before raft built it. (A one-voter candidate
	// becomes leader only when its own vote is persisted, one Ready later.)
	var got []*raftpb.Entry
	for i := 0; i < 10 && len(got) == 0; i++ {
		rd, ok := r.ready()
		if !ok {
			t.Fatal("raft has no Ready while proposals are queued")
		}
		for _, e := range rd.Entries {
			if len(e.GetData()) > 0 { // not the new leader's empty entry
				got = append(got, e)
			}
		}
		if !raft.IsEmptyHardState(rd.HardState) {
			if err := st.SetHardState(rd.HardState); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Append(rd.Entries); err != nil {
			t.Fatal(err)
		}
		r.advance(rd)
	}
	if len(got) != 49 {
		t.Fatalf("persisted %d entries after the election, want the 49 uncancelled proposals", len(got))
	}
	for i, e := range got {
		want := i
		if i >= 7 {
			want = i + 1
		}
		if string(e.GetData()) != fmt.Sprintf("req-%d", want) {
			t.Fatalf("entry %d holds %q, want req-%d (proposal order kept)", i, e.GetData(), want)
		}
		if e.GetIndex() != got[0].GetIndex()+uint64(i) {
			t.Fatalf("entry %d has index %d, want consecutive indexes", i, e.GetIndex())
		}
	}
	for i, p := range ps {
		select {
		case err := <-p.errc:
			t.Fatalf("proposal %d failed: %v", i, err)
		default:
		}
	}
}

func TestDroppedBatchFailsEveryProposer(t *testing.T) {
	// raft drops a proposal that would take the uncommitted log past
	// MaxUncommittedEntriesSize (raft.go, increaseUncommittedSize): the
	// whole batch goes, and every proposer in it must hear so.
	r, st := newTestRaftNode(t, 64)
	drain(t, r, st) // the bootstrap conf change, applied
	if err := r.rn.Campaign(); err != nil {
		t.Fatal(err)
	}
	drain(t, r, st)
	big := make([]byte, 100)
	first := r.propose(big)
	r.proposeQueued() // raft always accepts one proposal when nothing is uncommitted
	a, b := r.propose(big), r.propose(big)
	r.proposeQueued()
	select {
	case err := <-first.errc:
		t.Fatalf("the first proposal failed: %v", err)
	default:
	}
	for i, p := range []*proposal{a, b} {
		select {
		case err := <-p.errc:
			if err != raft.ErrProposalDropped {
				t.Fatalf("proposal %d: %v, want raft.ErrProposalDropped", i, err)
			}
		default:
			t.Fatalf("proposal %d of a dropped batch got no error", i)
		}
	}
}
