package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/kvtrace/kvtrace/instrument"
	"github.com/kvtrace/kvtrace/internal/transport"
	"github.com/kvtrace/kvtrace/internal/wal"
)

// SnapshotStateMachine is implemented by a StateMachine whose state can be
// snapshotted and replaced (internal/server over the bbolt store). Without
// it the node never snapshots and cannot install a leader's snapshot.
type SnapshotStateMachine interface {
	// ForceCommit makes every applied entry durable.
	ForceCommit() error
	// OpenSnapshot returns a consistent byte copy of the whole state (the
	// bbolt file) and the raft entry (index, term) it holds last. The
	// reader MUST be closed.
	OpenSnapshot() (db io.ReadCloser, size int64, index, term uint64, err error)
	// RestoreSnapshot replaces the state with the database at path (it
	// takes the file over) and rebuilds everything derived from it.
	RestoreSnapshot(path string) error
}

// toApply is one hand-over from the Ready loop to the apply goroutine: a
// received snapshot to install (already durable in the snap dir and the
// WAL), then committed entries, IN LOG ORDER.
type toApply struct {
	snap *raftpb.Snapshot
	ents []*raftpb.Entry
}

func (n *Node) setConfState(cs *raftpb.ConfState) {
	n.csMu.Lock()
	n.confState = proto.Clone(cs).(*raftpb.ConfState)
	n.csMu.Unlock()
}

func (n *Node) getConfState() *raftpb.ConfState {
	n.csMu.Lock()
	defer n.csMu.Unlock()
	if n.confState == nil {
		return &raftpb.ConfState{}
	}
	return proto.Clone(n.confState).(*raftpb.ConfState)
}

// SnapshotIndex is the index of the newest snapshot taken or installed.
func (n *Node) SnapshotIndex() uint64 { return n.snapIndex.Load() }

// recoverSnapshotDB runs at start: the WAL records a snapshot at index. If
// the state machine is older, this member crashed after recording a
// received snapshot but BEFORE swapping in its database; the database is
// still in the snap dir (it was made durable before raft saw the MsgSnap),
// so finish the swap now (etcd server/storage/backend.go,
// RecoverSnapshotBackend).
func (n *Node) recoverSnapshotDB(index uint64) error {
	if n.cfg.StateMachine.AppliedIndex() >= index {
		return nil
	}
	ssm, ok := n.cfg.StateMachine.(SnapshotStateMachine)
	path := n.ss.DBPath(index)
	if _, err := os.Stat(path); err != nil || !ok {
		return fmt.Errorf("node: the WAL records snapshot %d but the store is at %d and %s is missing: %v",
			index, n.cfg.StateMachine.AppliedIndex(), path, err)
	}
	n.lg.Warn("finishing an interrupted snapshot install", "index", index, "db", path)
	return ssm.RestoreSnapshot(path)
}

// saveReceivedSnapshot persists a snapshot raft handed to this follower in
// a Ready. Called from the Ready loop BEFORE the Ready's WAL Save; the
// ORDER is what makes a crash anywhere recoverable (etcd
// server/etcdserver/raft.go raftNode.start, storage.go SaveSnap):
//
//  1. the database is already durable as snap/<index>.snap.db (the
//     transport wrote and verified it BEFORE stepping the MsgSnap);
//  2. the .snap file is written BEFORE the WAL marker, so a marker never
//     names a missing file (a crash in between leaves an orphan .snap that
//     the next start ignores);
//  3. the WAL marker is synced BEFORE the apply goroutine swaps the
//     database in (applySnapshot): a restart that finds the marker and an
//     old store redoes the swap (recoverSnapshotDB); one that finds no
//     marker still has the old store and its full log.
func (n *Node) saveReceivedSnapshot(s *raftpb.Snapshot) {
	md := s.GetMetadata()
	start := time.Now()
	instrument.Failpoint(instrument.BeforeSaveSnap)
	if err := n.ss.SaveSnap(s); err != nil {
		n.fatal("snap: saving a received snapshot failed", err)
		return
	}
	if err := n.w.SaveSnapshot(wal.Snapshot{Index: md.GetIndex(), Term: md.GetTerm()}); err != nil {
		n.fatal("wal: saving a snapshot record failed", err)
		return
	}
	instrument.Failpoint(instrument.AfterSaveSnap)
	n.trace.snapshotSpan(instrument.SnapshotSave, start, md.GetIndex(), md.GetTerm(), 0, nil, attribute.Bool("snapshot.received", true))
}

// applySnapshot installs a received snapshot on the apply goroutine, AFTER
// the Ready loop made it durable (saveReceivedSnapshot) and BEFORE any
// entry that follows it.
func (n *Node) applySnapshot(s *raftpb.Snapshot) {
	md := s.GetMetadata()
	idx := md.GetIndex()
	sm := n.cfg.StateMachine
	if idx <= sm.AppliedIndex() {
		n.lg.Info("ignoring a snapshot the store already covers", "snapshot-index", idx, "applied", sm.AppliedIndex())
		return
	}
	ssm, ok := sm.(SnapshotStateMachine)
	if !ok {
		n.fatal("node: received a snapshot but the state machine cannot restore one", errors.New("no SnapshotStateMachine"))
		return
	}
	start := time.Now()
	instrument.Failpoint(instrument.BeforeApplySnap)
	path := n.ss.DBPath(idx)
	fi, _ := os.Stat(path)
	if err := ssm.RestoreSnapshot(path); err != nil {
		n.fatal(fmt.Sprintf("node: installing the snapshot database %s failed", path), err)
		return
	}
	n.setConfState(md.GetConfState())
	n.snapIndex.Store(idx)
	if msm, ok := sm.(MembershipStateMachine); ok {
		if enc, removed, ok, err := msm.LoadMembers(); err == nil && ok {
			n.ms.load(enc, removed)
		} else if err := n.ms.loadSnapshotData(s.GetData()); err != nil {
			n.lg.Warn("snapshot carries no member list", "error", err)
		}
	}
	n.syncPeers()
	if err := n.ss.ReleaseDBs(idx + 1); err != nil {
		n.lg.Warn("removing old snapshot databases failed", "error", err)
	}
	instrument.Failpoint(instrument.AfterApplySnap)
	var size int64
	if fi != nil {
		size = fi.Size()
	}
	n.trace.snapshotSpan(instrument.SnapshotApply, start, idx, md.GetTerm(), size, nil)
	n.lg.Info("installed a snapshot from the leader", "index", idx, "term", md.GetTerm(), "bytes", size,
		"took", time.Since(start).String())
}

// maybeSnapshot takes a snapshot once SnapshotCount entries were applied
// since the last one (etcd server.go, triggerSnapshot and snapshot). It runs
// on the apply goroutine, so the state and conf state it records are
// exactly those at applied.
func (n *Node) maybeSnapshot(applied uint64) {
	if applied-n.snapIndex.Load() <= n.cfg.SnapshotCount {
		return
	}
	ssm, ok := n.cfg.StateMachine.(SnapshotStateMachine)
	if !ok {
		return
	}
	start := time.Now()
	// The store MUST be durable up to applied BEFORE a snapshot claims it:
	// after a restart the WAL is replayed only from the snapshot on, so an
	// entry at or below it that the store lost would be lost for good.
	if err := ssm.ForceCommit(); err != nil {
		n.fatal("store: commit before a snapshot failed", err)
		return
	}
	s, err := n.storage.CreateSnapshot(applied, n.getConfState(), n.ms.snapshotData())
	if errors.Is(err, raft.ErrSnapOutOfDate) {
		return // a newer snapshot was installed meanwhile
	}
	if err != nil {
		n.fatal("raft storage: creating a snapshot failed", err)
		return
	}
	md := s.GetMetadata()
	instrument.Failpoint(instrument.BeforeSaveSnap)
	// The .snap file BEFORE the WAL marker (see saveReceivedSnapshot).
	if err := n.ss.SaveSnap(s); err != nil {
		n.fatal("snap: saving a snapshot failed", err)
		return
	}
	if err := n.w.SaveSnapshot(wal.Snapshot{Index: md.GetIndex(), Term: md.GetTerm()}); err != nil {
		n.fatal("wal: saving a snapshot record failed", err)
		return
	}
	instrument.Failpoint(instrument.AfterSaveSnap)
	n.snapIndex.Store(md.GetIndex())
	// Only AFTER the marker is durable may older segments go.
	if err := n.w.ReleaseLockTo(md.GetIndex()); err != nil {
		n.fatal("wal: releasing segments failed", err)
		return
	}
	// Keep SnapshotCatchUpEntries in the log so a follower slightly behind
	// catches up from entries rather than a whole database.
	compacted := uint64(0)
	if applied > n.cfg.SnapshotCatchUpEntries {
		compacted = applied - n.cfg.SnapshotCatchUpEntries
		if err := n.storage.Compact(compacted); err != nil && !errors.Is(err, raft.ErrCompacted) {
			n.fatal("raft storage: compaction failed", err)
			return
		}
	}
	if err := n.ss.Purge(n.cfg.MaxSnapshots); err != nil {
		n.lg.Warn("purging snapshot files failed", "error", err)
	}
	if _, err := n.w.Purge(n.cfg.MaxWALs); err != nil {
		n.lg.Warn("purging WAL segments failed", "error", err)
	}
	n.trace.snapshotSpan(instrument.SnapshotSave, start, md.GetIndex(), md.GetTerm(), 0, nil,
		attribute.Int64("raft.compact_index", int64(compacted)))
	n.lg.Info("saved snapshot", "snapshot-index", md.GetIndex(), "compact-index", compacted,
		"took", time.Since(start).String())
}

// sendSnapshot streams this member's database to m.To in place of the
// snapshot raft chose, on its own goroutine, and reports the outcome to
// raft. The message is MERGED with the database like etcd's
// createMergedSnapshotMessage (server/etcdserver/snapshot_merge.go): its
// metadata names the entry the database holds last, which is at or after
// raft's snapshot, so the follower applies the log from there.
func (n *Node) sendSnapshot(m *raftpb.Message) {
	ssm, ok := n.cfg.StateMachine.(SnapshotStateMachine)
	to := m.GetTo()
	if !ok {
		n.rn.ReportSnapshot(to, raft.SnapshotFailure)
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		start := time.Now()
		db, size, index, term, err := ssm.OpenSnapshot()
		if err != nil {
			n.lg.Error("cannot open the database for a snapshot", "to", hexID(to), "error", err)
			n.rn.ReportSnapshot(to, raft.SnapshotFailure)
			return
		}
		defer db.Close()
		merged := proto.Clone(m).(*raftpb.Message)
		merged.Snapshot = &raftpb.Snapshot{
			Metadata: &raftpb.SnapshotMetadata{Index: proto.Uint64(index), Term: proto.Uint64(term), ConfState: n.getConfState()},
			Data:     n.ms.snapshotData(),
		}
		env := transport.Envelope{Msg: merged}
		ctx, span := n.trace.startSnapshotSend(merged, size)
		if span != nil {
			env.Meta = instrument.EncodeMeta(span.SpanContext())
		}
		n.lg.Info("sending database snapshot", "to", hexID(to), "index", index, "term", term, "bytes", size)
		sent, err := n.tr.SendSnapshot(ctx, env, db, size)
		n.trace.endSpan(span, err)
		if err != nil {
			n.lg.Warn("snapshot send failed", "to", hexID(to), "index", index, "sent-bytes", sent, "error", err)
			n.rn.ReportSnapshot(to, raft.SnapshotFailure)
			return
		}
		n.lg.Info("sent database snapshot", "to", hexID(to), "index", index, "bytes", sent,
			"took", time.Since(start).String())
		n.rn.ReportSnapshot(to, raft.SnapshotFinish)
	}()
}

// SaveSnapshotDB implements transport.SnapshotHandler: the received
// database becomes durable (and verified) BEFORE raft sees the MsgSnap.
func (n *Node) SaveSnapshotDB(env transport.Envelope, size int64, r io.Reader) error {
	idx := env.Msg.GetSnapshot().GetMetadata().GetIndex()
	_, err := n.ss.SaveDBFrom(r, size, idx)
	return err
}

// snapshotSpan records one snapshot span (a root span: snapshots belong
// to no client write) ending now.
func (t *nodeTracer) snapshotSpan(name string, start time.Time, index, term uint64, size int64, parent *trace.SpanContext, extra ...attribute.KeyValue) {
	if !t.on {
		return
	}
	ctx := context.Background()
	if parent != nil {
		ctx = trace.ContextWithRemoteSpanContext(ctx, *parent)
	}
	attrs := append(t.base(), instrument.AttrIndex.Int64(int64(index)), attribute.Int64("raft.snapshot_term", int64(term)))
	if size > 0 {
		attrs = append(attrs, instrument.AttrBytes.Int64(size))
	}
	_, span := t.tr.Start(ctx, name, trace.WithTimestamp(start), trace.WithAttributes(append(attrs, extra...)...))
	span.End()
}

func (t *nodeTracer) startSnapshotSend(m *raftpb.Message, size int64) (context.Context, trace.Span) {
	if !t.on {
		return context.Background(), nil
	}
	md := m.GetSnapshot().GetMetadata()
	ctx, span := t.tr.Start(context.Background(), instrument.SnapshotSend, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(append(t.base(),
			instrument.AttrIndex.Int64(int64(md.GetIndex())),
			attribute.Int64("raft.snapshot_term", int64(md.GetTerm())),
			instrument.AttrTo.String(t.name(m.GetTo())),
			instrument.AttrToID.String(instrument.HexID(m.GetTo())),
			instrument.AttrBytes.Int64(size))...))
	return ctx, span
}

func (t *nodeTracer) endSpan(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
