package node

import (
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/kvtrace/kvtrace/instrument"
	"github.com/kvtrace/kvtrace/internal/metrics"
)

// readyLoop is the heart of a member: it ticks raft and handles every Ready in
// the order the raft package requires (go.etcd.io/raft/v3 node.go, Ready).
// It is the only goroutine that writes the WAL and the MemoryStorage.
func (n *Node) readyLoop() {
	defer n.wg.Done()
	ticker := time.NewTicker(n.cfg.HeartbeatInterval)
	defer ticker.Stop()
	role := raft.StateFollower
	var prevCommit uint64
	if hs, _, err := n.storage.InitialState(); err == nil {
		prevCommit = hs.GetCommit()
	}
	t := n.trace
	for {
		select {
		case <-ticker.C:
			n.rn.Tick()
			continue
		case <-n.rn.wake:
		case <-n.stopc:
			return
		}
		rd, ok := n.rn.ready()
		if !ok {
			continue
		}
		if rd.SoftState != nil {
			role = rd.SoftState.RaftState
			n.setLeader(rd.SoftState.Lead, role == raft.StateLeader)
			t.role.Store(roleName(role))
		}
		if rd.HardState != nil && rd.HardState.GetTerm() != 0 {
			t.term.Store(rd.HardState.GetTerm())
		}
		for _, rs := range rd.ReadStates {
			select {
			case n.readStateC <- rs:
			case <-n.stopc:
				return
			}
		}
		isLeader := role == raft.StateLeader

		// The leader sends BEFORE it persists: appending to its own WAL
		// and replicating to followers happen in parallel (raft thesis
		// §10.2.1; etcd server/etcdserver/raft.go, raftNode.start). Its
		// own ack is counted by raft only after Advance, i.e. after the
		// fsync below, so the commit still needs a durable majority.
		traced := t.appended(rd.Entries)
		if isLeader {
			instrument.Failpoint(instrument.BeforeLeaderSend)
			n.send(rd.Messages)
		}

		// A received snapshot: .snap file, then WAL marker, BEFORE the
		// Ready's entries and HardState and BEFORE the database swap
		// (the crash-safe order is spelled out in saveReceivedSnapshot).
		hasSnap := !raft.IsEmptySnap(rd.Snapshot)
		if hasSnap {
			n.saveReceivedSnapshot(rd.Snapshot)
		}

		saveLinks := t.saveLinks(traced, rd.HardState, prevCommit)

		// A Ready with no new entries (and no snapshot) commits only
		// entries persisted by earlier Readys, whose Advance came after
		// their fsync: they go to the apply goroutine BEFORE this Ready's
		// WAL write of the commit index, which need not be durable first
		// (etcd's raftNode.start hands applyc its entries before
		// storage.Save the same way). On a sequential write this takes the
		// leader's HardState write off the reply's path.
		applied := false
		if !hasSnap && len(rd.Entries) == 0 && len(rd.CommittedEntries) > 0 {
			prevCommit = n.noteCommit(rd.HardState, prevCommit, isLeader)
			if !n.toApply(toApply{ents: rd.CommittedEntries}) {
				return
			}
			applied = true
		}

		// Entries and HardState MUST be durable BEFORE a follower sends
		// MsgAppResp or a vote: the ack is a promise that survives a crash.
		instrument.Failpoint(instrument.BeforeSave)
		instrument.Anchor(instrument.WALSave, n.cfg.Name, rd.HardState.GetTerm(), lastIndex(rd.Entries))
		span := t.startWALSave(saveLinks, rd.HardState, rd.Entries, rd.MustSync)
		// With a snapshot the HardState is synced too: the WAL MUST
		// hold a commit covering the marker BEFORE old data goes
		// (etcd raft.go: "Force WAL to fsync its hard state before
		// Release()").
		if err := n.w.Save(rd.HardState, rd.Entries, rd.MustSync || hasSnap); err != nil {
			n.fatal("wal: saving entries failed; this member cannot persist and must stop", err)
			return
		}
		t.endWALSave(span, traced)
		instrument.Failpoint(instrument.AfterSave)
		if !raft.IsEmptyHardState(rd.HardState) {
			if err := n.storage.SetHardState(rd.HardState); err != nil {
				n.fatal("raft storage: setting hard state failed", err)
				return
			}
			n.term.Store(rd.HardState.GetTerm())
			prevCommit = n.noteCommit(rd.HardState, prevCommit, isLeader)
		}
		if hasSnap {
			if err := n.storage.ApplySnapshot(rd.Snapshot); err != nil {
				n.fatal("raft storage: applying a snapshot failed", err)
				return
			}
			if err := n.w.ReleaseLockTo(rd.Snapshot.GetMetadata().GetIndex()); err != nil {
				n.fatal("wal: releasing segments failed", err)
				return
			}
		}
		if len(rd.Entries) > 0 {
			if err := n.storage.Append(rd.Entries); err != nil {
				n.fatal("raft storage: append failed", err)
				return
			}
		}

		// A follower (or candidate) sends AFTER the fsync above.
		if !isLeader {
			instrument.Failpoint(instrument.BeforeFollowerSend)
			n.send(rd.Messages)
		}

		// Committed entries go to the apply goroutine IN LOG ORDER; applying
		// runs concurrently with the next Ready.
		if !applied && (hasSnap || len(rd.CommittedEntries) > 0) {
			ap := toApply{ents: rd.CommittedEntries}
			if hasSnap {
				ap.snap = rd.Snapshot
			}
			if !n.toApply(ap) {
				return
			}
		}
		// advance wakes this loop again: raft may have more (the
		// leader's self-ack in Advance can commit), and the select
		// above keeps ticks flowing between back-to-back Readys.
		n.rn.advance(rd)
	}
}

// noteCommit records a commit index raft reports in hs (if it grew past
// prev): the committed index, the debugger anchor, the raft.commit spans.
// It returns the commit index now known.
func (n *Node) noteCommit(hs *raftpb.HardState, prev uint64, isLeader bool) uint64 {
	c := hs.GetCommit()
	if raft.IsEmptyHardState(hs) || c <= prev {
		return prev
	}
	n.committed.Store(c)
	metrics.ProposalsCommitted.Set(float64(c))
	instrument.Anchor(instrument.CommitAdvance, n.cfg.Name, hs.GetTerm(), c)
	n.trace.committed(c, isLeader)
	return c
}

// toApply hands ap to the apply goroutine; false when the node stops.
func (n *Node) toApply(ap toApply) bool {
	select {
	case n.applyc <- ap:
		return true
	case <-n.stopc:
		return false
	}
}

func (n *Node) setLeader(lead uint64, isLeader bool) {
	n.isLeader.Store(isLeader)
	old := n.lead.Swap(lead)
	metrics.SetLeader(lead != raft.None, isLeader, lead != raft.None && old != lead)
	if old != lead {
		n.lg.Info("leader changed", "leader", hexID(lead), "previous", hexID(old), "term", n.rn.Status().Term)
		n.leaderChangedMu.Lock()
		close(n.leaderChanged)
		n.leaderChanged = make(chan struct{})
		n.leaderChangedMu.Unlock()
	}
}

// LeaderChangedNotify returns a channel closed at the next leader change.
func (n *Node) LeaderChangedNotify() <-chan struct{} {
	n.leaderChangedMu.Lock()
	defer n.leaderChangedMu.Unlock()
	return n.leaderChanged
}

// send hands messages to the transport; a MsgSnap goes on its own stream
// with the database (sendSnapshot), never on the message stream.
func (n *Node) send(msgs []*raftpb.Message) {
	if len(msgs) == 0 {
		return
	}
	out := msgs[:0:0]
	for _, m := range msgs {
		if m.GetType() == raftpb.MessageType_MsgSnap {
			n.sendSnapshot(m)
			continue
		}
		out = append(out, m)
	}
	if len(out) > 0 {
		n.tr.Send(n.trace.envelopes(out))
	}
}
