package node

import (
	"context"
	"sync"
	"sync/atomic"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// raftNode drives a raft.RawNode under a mutex instead of running raft.Node's
// goroutine (go.etcd.io/raft/v3 node.go, node.run). Every caller (a peer
// stream delivering a message, the ticker, a ReadIndex, a conf change) steps
// raft directly on its own goroutine and then wakes the Ready loop; with
// raft.Node each of those was a channel hand-off to raft's goroutine first,
// and the Ready another hand-off back. Two goroutine switches fewer on every
// hop of a write matters on a 2-core machine (docs/performance.md, Round 3).
//
// Client proposals are not stepped by their callers: they queue here, and
// the Ready loop steps everything queued as ONE MsgProp at the start of each
// Ready (proposeQueued). raft appends the whole batch with one appendEntry
// and broadcasts it with one MsgApp per follower, which each answers with
// one MsgAppResp, where one MsgProp per request meant one MsgApp and one
// MsgAppResp per request per follower. raft.Node offers no way to step a
// multi-entry proposal and learn whether it was dropped; RawNode.Step
// returns the error, which goes to every proposer in the batch.
//
// Like raft.Node (which stops reading its proposal channel while raft knows
// no leader), queued proposals wait while there is no leader; a proposer
// that gives up marks its proposal cancelled and it is never stepped.
type raftNode struct {
	mu sync.Mutex
	rn *raft.RawNode

	// wake (capacity 1) tells the Ready loop that raft may have a Ready or
	// that proposals are queued.
	wake chan struct{}

	qmu   sync.Mutex
	queue []*proposal
	spare []*proposal
}

// proposal is one queued client request.
type proposal struct {
	data []byte
	// errc receives the error if raft dropped the batch. Nothing is sent on
	// success: the proposer then waits for the entry to be applied.
	errc      chan error
	cancelled atomic.Bool
}

func newRaftNode(rn *raft.RawNode) *raftNode {
	return &raftNode{rn: rn, wake: make(chan struct{}, 1)}
}

func (r *raftNode) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// propose queues data for the next Ready. The caller waits on p.errc (and
// for the entry to apply) and calls p.cancelled.Store(true) if it gives up.
func (r *raftNode) propose(data []byte) *proposal {
	p := &proposal{data: data, errc: make(chan error, 1)}
	r.qmu.Lock()
	r.queue = append(r.queue, p)
	r.qmu.Unlock()
	r.signal()
	return p
}

// proposeQueued steps every queued, uncancelled proposal as one MsgProp.
// It returns with nothing stepped (proposals kept) while raft has no
// leader. Called by the Ready loop only.
func (r *raftNode) proposeQueued() {
	r.qmu.Lock()
	if len(r.queue) == 0 {
		r.qmu.Unlock()
		return
	}
	r.mu.Lock()
	if r.rn.BasicStatus().Lead == raft.None {
		r.mu.Unlock()
		// Drop the proposers that gave up meanwhile; keep the rest.
		kept := r.queue[:0]
		for _, p := range r.queue {
			if !p.cancelled.Load() {
				kept = append(kept, p)
			}
		}
		clear(r.queue[len(kept):])
		r.queue = kept
		r.qmu.Unlock()
		return
	}
	batch := r.queue
	r.queue, r.spare = r.spare[:0], nil
	r.qmu.Unlock()

	// A fresh slice every time: raft keeps it (a follower forwards this
	// very message to the leader).
	ents := make([]*raftpb.Entry, 0, len(batch))
	for _, p := range batch {
		if !p.cancelled.Load() {
			ents = append(ents, &raftpb.Entry{Data: p.data})
		}
	}
	var err error
	if len(ents) > 0 {
		err = r.rn.Step(&raftpb.Message{Type: raftpb.MessageType_MsgProp.Enum(), Entries: ents})
	}
	r.mu.Unlock()
	if err != nil {
		for _, p := range batch {
			p.errc <- err
		}
	}
	clear(batch)
	r.qmu.Lock()
	r.spare = batch[:0]
	r.qmu.Unlock()
}

// ready returns the next Ready, if raft has one. Called by the Ready loop
// only, which MUST call advance after handling it.
func (r *raftNode) ready() (raft.Ready, bool) {
	r.proposeQueued()
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.rn.HasReady() {
		return raft.Ready{}, false
	}
	return r.rn.Ready(), true
}

func (r *raftNode) advance(rd raft.Ready) {
	r.mu.Lock()
	r.rn.Advance(rd)
	r.mu.Unlock()
	r.signal() // the self-ack in Advance may have committed entries
}

// Tick advances raft's logical clock by one heartbeat interval.
func (r *raftNode) Tick() {
	r.mu.Lock()
	r.rn.Tick()
	r.mu.Unlock()
	r.signal()
}

// Step hands raft a peer's message.
func (r *raftNode) Step(m *raftpb.Message) error {
	r.mu.Lock()
	err := r.rn.Step(m)
	r.mu.Unlock()
	r.signal()
	return err
}

// ReadIndex starts a ReadIndex round; the answer comes back in a Ready's
// ReadStates. raft drops it (logging why) while no leader is known.
func (r *raftNode) ReadIndex(_ context.Context, rctx []byte) error {
	r.mu.Lock()
	r.rn.ReadIndex(rctx)
	r.mu.Unlock()
	r.signal()
	return nil
}

// ProposeConfChange proposes cc; raft refuses it (ErrProposalDropped) when
// no leader is known or a conf change is still pending.
func (r *raftNode) ProposeConfChange(_ context.Context, cc raftpb.ConfChangeI) error {
	r.mu.Lock()
	err := r.rn.ProposeConfChange(cc)
	r.mu.Unlock()
	r.signal()
	return err
}

// ApplyConfChange applies a committed conf change to raft's configuration.
func (r *raftNode) ApplyConfChange(cc raftpb.ConfChangeI) *raftpb.ConfState {
	r.mu.Lock()
	cs := r.rn.ApplyConfChange(cc)
	r.mu.Unlock()
	r.signal()
	return cs
}

// Status returns raft's status, progress of every peer included.
func (r *raftNode) Status() raft.Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rn.Status()
}

// ReportUnreachable tells raft a message to id could not be sent.
func (r *raftNode) ReportUnreachable(id uint64) {
	r.mu.Lock()
	r.rn.ReportUnreachable(id)
	r.mu.Unlock()
	r.signal()
}

// ReportSnapshot tells raft how sending a snapshot to id ended.
func (r *raftNode) ReportSnapshot(id uint64, st raft.SnapshotStatus) {
	r.mu.Lock()
	r.rn.ReportSnapshot(id, st)
	r.mu.Unlock()
	r.signal()
}

// TransferLeadership asks the leader (this member) to hand over to
// transferee.
func (r *raftNode) TransferLeadership(_ context.Context, _, transferee uint64) {
	r.mu.Lock()
	r.rn.TransferLeader(transferee)
	r.mu.Unlock()
	r.signal()
}
