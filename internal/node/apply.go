package node

import (
	"context"
	"fmt"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/kvtrace/kvtrace/instrument"
)

// applyLoop installs received snapshots and applies committed entries, one
// hand-over at a time, in log order; then it takes a snapshot if one is due.
func (n *Node) applyLoop() {
	defer n.wg.Done()
	sm := n.cfg.StateMachine
	for {
		select {
		case ap := <-n.applyc:
			if ap.snap != nil {
				n.applySnapshot(ap.snap)
				n.applied.set(max(n.applied.get(), sm.AppliedIndex()))
			}
			for _, e := range ap.ents {
				n.applyEntry(sm, e)
			}
			if len(ap.ents) > 0 {
				n.applied.set(max(n.applied.get(), ap.ents[len(ap.ents)-1].GetIndex()))
			}
			n.maybeSnapshot(n.applied.get())
		case <-n.stopc:
			return
		}
	}
}

func (n *Node) applyEntry(sm StateMachine, e *raftpb.Entry) {
	idx, term := e.GetIndex(), e.GetTerm()
	// After a crash raft hands back entries the store already holds: the
	// store's consistent index is written in the same bbolt transaction as
	// the data, so skipping <= AppliedIndex applies each entry exactly once
	// (etcd issue 13766 is the bug this ordering prevents).
	already := idx <= sm.AppliedIndex()
	switch e.GetType() {
	case raftpb.EntryNormal:
		if already {
			return
		}
		ctx, end := n.trace.applyCtx(e)
		instrument.Failpoint(instrument.BeforeApply)
		instrument.Anchor(instrument.Apply, n.cfg.Name, term, idx)
		id, res := sm.Apply(ctx, idx, term, e.GetData())
		instrument.Failpoint(instrument.AfterApply)
		end()
		if id != 0 {
			n.waits.trigger(id, res)
		}
	case raftpb.EntryConfChange:
		var cc raftpb.ConfChange
		if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
			n.fatal(fmt.Sprintf("raft: undecodable conf change at index %d", idx), err)
			return
		}
		n.applyConfChange(sm, idx, term, already, cc.AsV2())
	case raftpb.EntryConfChangeV2:
		var cc raftpb.ConfChangeV2
		if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
			n.fatal(fmt.Sprintf("raft: undecodable conf change v2 at index %d", idx), err)
			return
		}
		n.applyConfChange(sm, idx, term, already, &cc)
	}
}

// applyConfChange applies a committed conf change to raft on EVERY start
// (raft's ConfState is rebuilt from the log after the snapshot), and to the
// member list and the store only once (already: the store holds it).
func (n *Node) applyConfChange(sm StateMachine, idx, term uint64, already bool, cc *raftpb.ConfChangeV2) {
	span := n.trace.startConfChange(cc, idx, term)
	cs := n.rn.ApplyConfChange(cc)
	n.setConfState(cs)
	if already {
		n.trace.endSpan(span, nil)
		return
	}
	ctx := n.ms.applyConfChange(cc, n.cfg.InitialCluster)
	if msm, ok := sm.(MembershipStateMachine); ok {
		enc, removed := n.ms.encode()
		msm.SaveMembers(idx, term, enc, removed)
	} else {
		sm.Apply(context.Background(), idx, term, nil)
	}
	n.syncPeers()
	n.trace.endSpan(span, nil)
	n.lg.Info("applied a membership change", "index", idx, "changes", confChangeString(cc),
		"voters", cs.GetVoters(), "learners", cs.GetLearners())
	if ctx.ReqID != 0 {
		n.waits.trigger(ctx.ReqID, n.ms.list())
	}
	if n.ms.isRemoved(n.id) {
		n.lg.Warn("this member was removed from the cluster; stopping")
		n.removedOnce.Do(func() { close(n.removedc) })
	}
}

func hexID(id uint64) string { return fmt.Sprintf("%x", id) }
