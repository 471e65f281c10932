package node

import (
	"context"
	"fmt"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/kvtrace/kvtrace/instrument"
)

// applyLoop applies committed entries one batch at a time, in log order.
func (n *Node) applyLoop() {
	defer n.wg.Done()
	sm := n.cfg.StateMachine
	for {
		select {
		case ents := <-n.applyc:
			for _, e := range ents {
				n.applyEntry(sm, e)
			}
			n.applied.set(ents[len(ents)-1].GetIndex())
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
		// Conf changes are applied to raft on EVERY start (raft's ConfState
		// is rebuilt from the log), even when the store already saw them.
		n.rn.ApplyConfChange(&cc)
		if !already {
			sm.Apply(context.Background(), idx, term, nil)
		}
	case raftpb.EntryConfChangeV2:
		var cc raftpb.ConfChangeV2
		if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
			n.fatal(fmt.Sprintf("raft: undecodable conf change v2 at index %d", idx), err)
			return
		}
		n.rn.ApplyConfChange(&cc)
		if !already {
			sm.Apply(context.Background(), idx, term, nil)
		}
	}
}

func hexID(id uint64) string { return fmt.Sprintf("%x", id) }
