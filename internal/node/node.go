package node

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/kvtrace/kvtrace/instrument"
	"github.com/kvtrace/kvtrace/internal/metrics"
	"github.com/kvtrace/kvtrace/internal/snap"
	"github.com/kvtrace/kvtrace/internal/transport"
	"github.com/kvtrace/kvtrace/internal/wal"
)

// Node is one running raft member.
type Node struct {
	cfg       Config
	lg        *slog.Logger
	id        uint64
	clusterID uint64
	ms        *membership
	ss        *snap.Snapshotter

	// snapIndex is the index of the newest snapshot (taken or received).
	snapIndex atomic.Uint64
	// csMu guards confState, raft's configuration as of the last applied
	// conf change or snapshot (what a snapshot taken now must record).
	csMu      sync.Mutex
	confState *raftpb.ConfState
	// removedc is closed when this member applies its own removal.
	removedc    chan struct{}
	removedOnce sync.Once
	// published is set once this member's name and client URLs are applied.
	published atomic.Bool

	rn      *raftNode
	storage *raft.MemoryStorage
	w       *wal.WAL
	tr      *transport.Transport

	trace   *nodeTracer
	waits   *waitRegistry
	applied *appliedWaiters
	reqSeq  atomic.Uint64 // low bits of request ids; high bits are the member id

	lead      atomic.Uint64
	term      atomic.Uint64
	committed atomic.Uint64
	isLeader  atomic.Bool

	// leaderChangedMu guards leaderChanged, a channel closed (and replaced)
	// whenever the leader changes, so reads waiting on a ReadIndex abort.
	leaderChangedMu sync.Mutex
	leaderChanged   chan struct{}

	readStateC chan raft.ReadState
	readwaitc  chan struct{}
	// readMu guards readNotifier, the notifier shared by every
	// LinearizableRead that arrived since the last ReadIndex round began.
	readMu       sync.RWMutex
	readNotifier *notifier

	applyc   chan toApply
	stopc    chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup

	// OnFatal is called when persistence fails; default logs and exits(1).
	OnFatal func(msg string, err error)
}

// ID returns this member's raft id; ClusterID the cluster's.
func (n *Node) ID() uint64                      { return n.id }
func (n *Node) ClusterID() uint64               { return n.clusterID }
func (n *Node) Transport() *transport.Transport { return n.tr }
func (n *Node) Leader() uint64                  { return n.lead.Load() }
func (n *Node) Term() uint64                    { return n.term.Load() }
func (n *Node) IsLeader() bool                  { return n.isLeader.Load() }
func (n *Node) CommittedIndex() uint64          { return n.committed.Load() }
func (n *Node) AppliedIndex() uint64            { return n.applied.get() }
func (n *Node) RaftStatus() raft.Status         { return n.rn.Status() }

// walMetadata is the first record of every WAL segment.
type walMetadata struct {
	MemberID  uint64
	ClusterID uint64
}

func (m walMetadata) encode() []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b[0:], m.MemberID)
	binary.BigEndian.PutUint64(b[8:], m.ClusterID)
	return b
}

func decodeWALMetadata(b []byte) (walMetadata, error) {
	if len(b) != 16 {
		return walMetadata{}, fmt.Errorf("node: WAL metadata is %d bytes, want 16", len(b))
	}
	return walMetadata{binary.BigEndian.Uint64(b[0:]), binary.BigEndian.Uint64(b[8:])}, nil
}

// New opens (or creates) the member's WAL and builds its raft node. A
// restarting member first loads the newest snapshot that its WAL also
// records (snap.LoadNewestAvailable over wal.SnapshotMarkers, as etcd's
// bootstrap does in server/etcdserver/bootstrap.go) and replays the WAL
// from it; if the state machine is older than that snapshot, the database
// received with it is swapped in before raft starts (crash recovery of
// applySnapshot, see snapshot.go).
func New(cfg Config) (*Node, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	self := cfg.self()
	n := &Node{
		cfg:           cfg,
		lg:            cfg.Logger,
		id:            self.ID,
		clusterID:     ClusterID(cfg.InitialCluster),
		ms:            newMembership(),
		storage:       raft.NewMemoryStorage(),
		waits:         newWaitRegistry(),
		applied:       newAppliedWaiters(),
		leaderChanged: make(chan struct{}),
		readStateC:    make(chan raft.ReadState, 1),
		readwaitc:     make(chan struct{}, 1),
		readNotifier:  newNotifier(),
		applyc:        make(chan toApply, 128),
		stopc:         make(chan struct{}),
		removedc:      make(chan struct{}),
	}
	n.OnFatal = func(msg string, err error) {
		n.lg.Error(msg, "error", err)
		os.Exit(1)
	}
	n.reqSeq.Store(uint64(time.Now().UnixMilli()) << 16)

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("node: cannot create data dir %s: %w", cfg.DataDir, err)
	}
	ss, err := snap.New(filepath.Join(cfg.DataDir, "snap"), cfg.Logger.With("component", "snap"))
	if err != nil {
		return nil, err
	}
	n.ss = ss
	walDir := walDirOf(cfg.DataDir)
	rcfg := &raft.Config{
		ID:                        n.id,
		ElectionTick:              int(cfg.ElectionTimeout / cfg.HeartbeatInterval),
		HeartbeatTick:             1,
		Storage:                   n.storage,
		MaxSizePerMsg:             cfg.MaxSizePerMsg,
		MaxInflightMsgs:           cfg.MaxInflightMsgs,
		MaxUncommittedEntriesSize: 1 << 30,
		CheckQuorum:               true,
		PreVote:                   true,
		Logger:                    raftLogger{cfg.Logger.With("component", "raft")},
	}
	for _, m := range cfg.InitialCluster {
		n.ms.members[m.ID] = &MemberInfo{ID: m.ID, Name: m.Name, PeerURLs: m.PeerURLs}
	}

	switch {
	case wal.Exist(walDir):
		if err := n.restart(walDir, rcfg); err != nil {
			return nil, err
		}
	case cfg.NewCluster:
		w, err := wal.Create(walDir, walMetadata{n.id, n.clusterID}.encode(), n.lg)
		if err != nil {
			return nil, err
		}
		n.w = w
		peers := make([]raft.Peer, 0, len(cfg.InitialCluster))
		for _, m := range cfg.InitialCluster {
			ctx, _ := json.Marshal(confChangeContext{Member: MemberInfo{ID: m.ID, Name: m.Name, PeerURLs: m.PeerURLs}})
			peers = append(peers, raft.Peer{ID: m.ID, Context: ctx})
		}
		n.lg.Info("starting a new member", "name", cfg.Name, "member-id", fmt.Sprintf("%x", n.id),
			"cluster-id", fmt.Sprintf("%x", n.clusterID), "initial-cluster-size", len(peers))
		rn, err := raft.NewRawNode(rcfg)
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("node: starting raft: %w", err)
		}
		if err := rn.Bootstrap(peers); err != nil {
			w.Close()
			return nil, fmt.Errorf("node: bootstrapping raft with --initial-cluster: %w", err)
		}
		n.rn = newRaftNode(rn)
	default:
		// Joining an existing cluster with an empty data dir: learn the
		// cluster ID and this member's ID (MemberAdd chose it) from a peer,
		// then start with no log; the leader sends the log or a snapshot.
		if err := n.fetchCluster(); err != nil {
			return nil, err
		}
		rcfg.ID = n.id
		w, err := wal.Create(walDir, walMetadata{n.id, n.clusterID}.encode(), n.lg)
		if err != nil {
			return nil, err
		}
		n.w = w
		n.lg.Info("joining an existing cluster", "name", cfg.Name, "member-id", fmt.Sprintf("%x", n.id),
			"cluster-id", fmt.Sprintf("%x", n.clusterID))
		rn, err := raft.NewRawNode(rcfg)
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("node: starting raft: %w", err)
		}
		n.rn = newRaftNode(rn)
	}

	n.trace = newNodeTracer(cfg.Tracer, cfg.Name, n.id, n.Members())
	n.tr = transport.New(transport.Config{
		ID:        n.id,
		ClusterID: n.clusterID,
		Handler:   n,
		Logger:    n.lg.With("component", "transport"),
		TLS:       cfg.PeerTLS,
	})
	n.syncPeers()
	return n, nil
}

// restart rebuilds raft's storage from the newest usable snapshot and the
// WAL after it, and the member list from the state machine.
func (n *Node) restart(walDir string, rcfg *raft.Config) error {
	cfg := n.cfg
	markers, err := wal.SnapshotMarkers(walDir)
	if err != nil {
		return err
	}
	ms := make([]snap.Marker, len(markers))
	for i, m := range markers {
		ms[i] = snap.Marker{Index: m.Index, Term: m.Term}
	}
	at := wal.Snapshot{}
	snapshot, err := n.ss.LoadNewestAvailable(ms)
	switch {
	case errors.Is(err, snap.ErrNoSnapshot):
	case err != nil:
		return err
	default:
		md := snapshot.GetMetadata()
		at = wal.Snapshot{Index: md.GetIndex(), Term: md.GetTerm()}
		if err := n.recoverSnapshotDB(md.GetIndex()); err != nil {
			return err
		}
		if err := n.storage.ApplySnapshot(snapshot); err != nil {
			return err
		}
		n.snapIndex.Store(md.GetIndex())
		n.setConfState(md.GetConfState())
		if err := n.ms.loadSnapshotData(snapshot.GetData()); err != nil {
			return err
		}
		n.lg.Info("loaded snapshot", "index", md.GetIndex(), "term", md.GetTerm(),
			"voters", md.GetConfState().GetVoters(), "learners", md.GetConfState().GetLearners())
	}
	if msm, ok := cfg.StateMachine.(MembershipStateMachine); ok {
		enc, removed, ok, err := msm.LoadMembers()
		if err != nil {
			return err
		}
		if ok {
			if err := n.ms.load(enc, removed); err != nil {
				return err
			}
		}
	}
	w, err := wal.Open(walDir, at, n.lg)
	if err != nil {
		return err
	}
	metaBytes, hs, ents, err := w.ReadAll()
	if err != nil {
		w.Close()
		return err
	}
	meta, err := decodeWALMetadata(metaBytes)
	if err != nil {
		w.Close()
		return err
	}
	if meta.MemberID != n.id && cfg.NewCluster {
		// The flags bootstrap a new cluster in which this member has another
		// id (another --initial-cluster-token or --initial-cluster): the data
		// dir belongs to another cluster. Restarting it as its old member
		// would silently ignore the flags and talk to that cluster's peers.
		w.Close()
		return fmt.Errorf("%w: %s was written by member %x of cluster %x, but --initial-cluster and --initial-cluster-token make --name %s member %x of cluster %x; use this cluster's own data dir (or --initial-cluster-state existing for a member that joined)",
			ErrMemberIDMismatch, cfg.DataDir, meta.MemberID, meta.ClusterID, cfg.Name, n.id, n.clusterID)
	}
	if meta.MemberID != n.id {
		// A member that joined through MemberAdd has the id the cluster
		// gave it; it is still this member if its peer URLs match.
		m, ok := n.ms.get(meta.MemberID)
		if !ok || !sameURLs(m.PeerURLs, cfg.self().PeerURLs) {
			w.Close()
			return fmt.Errorf("%w: %s holds member %x but --name %s with these peer URLs is member %x; use this member's own data dir", ErrMemberIDMismatch, cfg.DataDir, meta.MemberID, cfg.Name, n.id)
		}
		n.id = meta.MemberID
		rcfg.ID = n.id
	}
	n.clusterID = meta.ClusterID
	if hs != nil {
		if err := n.storage.SetHardState(hs); err != nil {
			w.Close()
			return err
		}
		n.committed.Store(hs.GetCommit())
		n.term.Store(hs.GetTerm())
	}
	if err := n.storage.Append(ents); err != nil {
		w.Close()
		return err
	}
	n.w = w
	n.lg.Info("restarting member from its WAL", "name", cfg.Name, "member-id", fmt.Sprintf("%x", n.id),
		"cluster-id", fmt.Sprintf("%x", n.clusterID), "snapshot-index", at.Index, "commit-index", hs.GetCommit(),
		"term", hs.GetTerm(), "last-index", lastIndex(ents), "entries", len(ents))
	rn, err := raft.NewRawNode(rcfg)
	if err != nil {
		w.Close()
		return fmt.Errorf("node: restarting raft: %w", err)
	}
	n.rn = newRaftNode(rn)
	return nil
}

func sameURLs(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// clusterInfo is what FetchClusterInfo carries (transport/cluster_info.go).
type clusterInfo struct {
	ClusterID uint64       `json:"clusterID"`
	Members   []MemberInfo `json:"members"`
}

// ClusterInfo implements transport.ClusterInfoHandler.
func (n *Node) ClusterInfo() []byte {
	b, _ := json.Marshal(clusterInfo{ClusterID: n.clusterID, Members: n.ms.list()})
	return b
}

// fetchCluster asks the other members of --initial-cluster for the
// cluster's ID and member list and finds this member in it by peer URLs.
func (n *Node) fetchCluster() error {
	self := n.cfg.self()
	var errs []error
	for _, m := range n.cfg.InitialCluster {
		if m.Name == self.Name {
			continue
		}
		for _, u := range m.PeerURLs {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			b, err := transport.FetchClusterInfo(ctx, u, n.cfg.PeerTLS)
			cancel()
			if err != nil {
				errs = append(errs, err)
				continue
			}
			var ci clusterInfo
			if err := json.Unmarshal(b, &ci); err != nil {
				errs = append(errs, err)
				continue
			}
			for _, cm := range ci.Members {
				if sameURLs(cm.PeerURLs, self.PeerURLs) {
					n.id, n.clusterID = cm.ID, ci.ClusterID
					n.ms = newMembership()
					for _, mm := range ci.Members {
						c := mm
						n.ms.members[c.ID] = &c
					}
					return nil
				}
			}
			return fmt.Errorf("node: the cluster at %s has no member with peer URLs %v; add it first (etcdctl member add %s --peer-urls=%s)",
				u, self.PeerURLs, self.Name, strings.Join(self.PeerURLs, ","))
		}
	}
	return fmt.Errorf("node: --initial-cluster-state existing: no member of --initial-cluster answered: %w", errors.Join(errs...))
}

func walDirOf(dataDir string) string { return dataDir + "/wal" }

func lastIndex(ents []*raftpb.Entry) uint64 {
	if len(ents) == 0 {
		return 0
	}
	return ents[len(ents)-1].GetIndex()
}

// Start runs the Ready loop, the apply goroutine and the read loop.
func (n *Node) Start() {
	before, after := n.trace.walHooks()
	n.w.SetHooks(wal.Hooks{BeforeSync: before, AfterSync: after})
	n.applied.set(n.cfg.StateMachine.AppliedIndex())
	metrics.SetServerID(n.id)
	n.wg.Add(3)
	go n.readyLoop()
	go n.applyLoop()
	go n.readLoop()
}

// Stop stops raft and the loops and closes the WAL. Safe to call twice.
func (n *Node) Stop() {
	n.stopOnce.Do(func() {
		close(n.stopc)
		n.wg.Wait()
		n.tr.Stop()
		// AFTER every goroutine that describes spans has stopped, BEFORE
		// the caller shuts the tracer provider down.
		n.trace.close()
		if err := n.w.Close(); err != nil {
			n.lg.Error("closing the WAL failed", "error", err)
		}
	})
}

// Done is closed when Stop has begun.
func (n *Node) Done() <-chan struct{} { return n.stopc }

// NextRequestID returns an id unique across members and restarts: the member
// id in the top 16 bits, a millisecond clock and counter below.
func (n *Node) NextRequestID() uint64 {
	return n.id<<48 | (n.reqSeq.Add(1) & (1<<48 - 1))
}

// Propose hands data (which carries request id) to raft and waits for the
// result of applying it. The caller's ctx bounds the wait. The proposal is
// queued and stepped with the others of the same Ready (rawnode.go); while
// no leader is known it waits for one, as raft.Node's Propose does.
func (n *Node) Propose(ctx context.Context, id uint64, data []byte) (any, error) {
	ch := n.waits.register(id)
	p := n.rn.propose(data)
	metrics.ProposalsPending.Inc()
	defer metrics.ProposalsPending.Dec()
	select {
	case res := <-ch:
		return res, nil
	case err := <-p.errc:
		metrics.ProposalsFailed.Inc()
		n.waits.cancel(id)
		return nil, n.ctxErr(ctx, err)
	case <-ctx.Done():
		metrics.ProposalsFailed.Inc()
		p.cancelled.Store(true)
		n.waits.cancel(id)
		return nil, n.ctxErr(ctx, ctx.Err())
	case <-n.stopc:
		return nil, ErrStopped
	}
}

// ctxErr turns a cancelled or expired wait into the error etcd would give.
func (n *Node) ctxErr(ctx context.Context, err error) error {
	if errors.Is(err, raft.ErrStopped) {
		return ErrStopped
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		if n.lead.Load() == raft.None {
			return ErrTimeoutNoLeader
		}
		return ErrTimeout
	}
	return err
}

// Process implements transport.Handler: a peer's message enters raft.
//
// A forwarded proposal (MsgProp) is stepped like any other message: on a
// RawNode it never blocks (raft drops it when no leader is known, and the
// proposer times out and retries). With raft.Node it blocked until a leader
// was known, and every message behind it on that peer's stream (the
// leader's heartbeats and MsgApps, the very messages that would tell it the
// leader) waited too: that deadlock was seen when a restarted ex-leader
// received MsgProps queued for it while it was down (e2e
// TestKillLeaderDuringWrites). etcd keeps proposals on a separate channel
// for the same reason (server/etcdserver/api/rafthttp/peer.go, propc vs
// recvc).
func (n *Node) Process(_ context.Context, env transport.Envelope) error {
	end := n.trace.received(env)
	if env.Msg.GetType() != raftpb.MessageType_MsgProp {
		instrument.Anchor(instrument.Receive, n.cfg.Name, env.Msg.GetTerm(), env.Msg.GetIndex())
	}
	err := n.rn.Step(env.Msg)
	end()
	switch {
	case err == nil:
		return nil
	case env.Msg.GetType() == raftpb.MessageType_MsgProp:
		n.lg.Debug("forwarded proposal not accepted", "error", err)
		return errProposalDropped
	case errors.Is(err, raft.ErrStepPeerNotFound):
		return nil // a late answer from a removed member; raft.Node drops these silently too
	}
	return err
}

// errProposalDropped: a forwarded proposal arrived while this member knows
// no leader (raft drops proposals in that state too, ErrProposalDropped);
// the proposer times out and retries.
var errProposalDropped = errors.New("node: forwarded proposal dropped: no leader known here")

// IsIDRemoved implements transport.Handler.
func (n *Node) IsIDRemoved(id uint64) bool { return n.ms.isRemoved(id) }

// ReportUnreachable implements transport.Handler.
func (n *Node) ReportUnreachable(id uint64) { n.rn.ReportUnreachable(id) }

func (n *Node) fatal(msg string, err error) { n.OnFatal(msg, err) }
