package node

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/kvtrace/kvtrace/instrument"
	"github.com/kvtrace/kvtrace/internal/metrics"
)

// healthInterval is how long a peer stream must have been up to count as
// active for the reconfiguration checks (etcd: HealthInterval, 5s).
const healthInterval = 5 * time.Second

// Members returns the current members (id, name, peer URLs).
func (n *Node) Members() []Member {
	var out []Member
	for _, m := range n.ms.list() {
		out = append(out, Member{ID: m.ID, Name: m.Name, PeerURLs: m.PeerURLs})
	}
	return out
}

// MemberList returns every member with its client URLs and learner flag.
func (n *Node) MemberList() []MemberInfo { return n.ms.list() }

// Removed is closed once this member applied its own removal; the process
// should then stop, as etcd does.
func (n *Node) Removed() <-chan struct{} { return n.removedc }

// syncPeers makes the transport's peers match the member list.
func (n *Node) syncPeers() {
	metrics.SetLearner(n.IsLearner())
	if n.tr == nil {
		return
	}
	want := map[uint64]bool{}
	for _, m := range n.ms.list() {
		if m.ID == n.id {
			continue
		}
		want[m.ID] = true
		n.tr.AddPeer(m.ID, m.PeerURLs) // updates the URLs of a known peer
	}
	for id := range n.tr.Stats() {
		if !want[id] {
			n.tr.RemovePeer(id)
		}
	}
}

// AddMember proposes adding a member with peerURLs (as a learner if asked)
// and returns it and the member list after the change was applied. Its id
// is derived from the URLs, the cluster token and the time, like etcd's
// NewMember, so a re-added member never reuses a removed id.
func (n *Node) AddMember(ctx context.Context, peerURLs []string, learner bool) (MemberInfo, []MemberInfo, error) {
	for _, m := range n.ms.list() {
		for _, u := range m.PeerURLs {
			for _, nu := range peerURLs {
				if u == nu {
					return MemberInfo{}, nil, ErrPeerURLExists
				}
			}
		}
	}
	if !learner {
		if err := n.mayAddVoter(); err != nil {
			return MemberInfo{}, nil, err
		}
	}
	id := MemberID(peerURLs, n.cfg.ClusterToken+time.Now().String())
	if n.ms.isRemoved(id) {
		return MemberInfo{}, nil, ErrIDRemoved
	}
	m := MemberInfo{ID: id, PeerURLs: peerURLs, IsLearner: learner}
	typ := raftpb.ConfChangeType_ConfChangeAddNode
	if learner {
		typ = raftpb.ConfChangeType_ConfChangeAddLearnerNode
	}
	list, err := n.proposeConfChange(ctx, typ, m)
	return m, list, err
}

// RemoveMember proposes removing id.
func (n *Node) RemoveMember(ctx context.Context, id uint64) ([]MemberInfo, error) {
	m, ok := n.ms.get(id)
	if !ok {
		if n.ms.isRemoved(id) {
			return nil, ErrIDRemoved
		}
		return nil, ErrIDNotFound
	}
	if !m.IsLearner {
		if err := n.mayRemoveVoter(id); err != nil {
			return nil, err
		}
	}
	return n.proposeConfChange(ctx, raftpb.ConfChangeType_ConfChangeRemoveNode, m)
}

// UpdateMember proposes new peer URLs for id.
func (n *Node) UpdateMember(ctx context.Context, id uint64, peerURLs []string) ([]MemberInfo, error) {
	m, ok := n.ms.get(id)
	if !ok {
		return nil, ErrIDNotFound
	}
	m.PeerURLs = peerURLs
	return n.proposeConfChange(ctx, raftpb.ConfChangeType_ConfChangeUpdateNode, m)
}

// PromoteMember proposes making learner id a voter. Only the leader knows
// whether the learner caught up, so other members return ErrNotLeader and
// the server forwards the request (etcd server.go, PromoteMember).
func (n *Node) PromoteMember(ctx context.Context, id uint64) ([]MemberInfo, error) {
	m, ok := n.ms.get(id)
	if !ok {
		return nil, ErrIDNotFound
	}
	if !m.IsLearner {
		return nil, ErrMemberNotLearner
	}
	if !n.IsLeader() {
		return nil, ErrNotLeader
	}
	// etcd isLearnerReady: the learner's match MUST be within 10% of the
	// leader's, or promoting it could stall commits while it catches up.
	st := n.rn.Status()
	leaderMatch := st.Progress[n.id].Match
	if lp, ok := st.Progress[id]; !ok || float64(lp.Match) < float64(leaderMatch)*0.9 {
		return nil, ErrLearnerNotReady
	}
	if err := n.mayAddVoter(); err != nil {
		return nil, err
	}
	m.IsLearner = false
	return n.proposeConfChange(ctx, raftpb.ConfChangeType_ConfChangeAddNode, m)
}

// mayAddVoter is etcd's strict reconfiguration check for a new voter
// (server.go mayAddMember; membership/cluster.go IsReadyToAddVotingMember):
// the started voters MUST still be a quorum of the grown cluster, and
// every voter MUST be connected, or the new, empty voter could cost the
// cluster its quorum.
func (n *Node) mayAddVoter() error {
	voters, started := 0, 0
	for _, m := range n.ms.list() {
		if m.IsLearner {
			continue
		}
		voters++
		if m.Name != "" {
			started++
		}
	}
	if !(started == 1 && voters == 2) && started < (voters+1)/2+1 {
		return ErrNotEnoughStartedMembers
	}
	if n.activeVoters(time.Now().Add(-healthInterval)) < voters {
		return ErrUnhealthy
	}
	return nil
}

// mayRemoveVoter refuses a removal that would leave fewer active voters
// than a quorum of the shrunk cluster (etcd server.go mayRemoveMember,
// membership/cluster.go IsReadyToRemoveVotingMember).
func (n *Node) mayRemoveVoter(id uint64) error {
	voters, started := 0, 0
	for _, m := range n.ms.list() {
		if m.IsLearner {
			continue
		}
		voters++
		if m.Name != "" && m.ID != id {
			started++
		}
	}
	if started < (voters-1)/2+1 {
		return ErrNotEnoughStartedMembers
	}
	if id == n.id {
		return nil // removing ourselves: etcd checks nothing more
	}
	active := n.activeVoters(time.Now().Add(-healthInterval))
	m, _ := n.ms.get(id)
	if n.tr.ActiveSince(id).IsZero() || m.IsLearner {
		active++ // it was not counted; removing it costs nothing
	}
	if active-1 < 1+(voters-1)/2 {
		return ErrUnhealthy
	}
	return nil
}

// activeVoters counts this member and the voters whose stream from us has
// been up since before since (etcd numConnectedSince).
func (n *Node) activeVoters(since time.Time) int {
	c := 0
	for _, m := range n.ms.list() {
		if m.IsLearner {
			continue
		}
		if m.ID == n.id {
			c++
			continue
		}
		if t := n.tr.ActiveSince(m.ID); !t.IsZero() && t.Before(since) {
			c++
		}
	}
	return c
}

// proposeConfChange proposes one ConfChangeV2 and waits until it is
// applied, returning the member list after it.
func (n *Node) proposeConfChange(ctx context.Context, typ raftpb.ConfChangeType, m MemberInfo) ([]MemberInfo, error) {
	reqID := n.NextRequestID()
	cctx, _ := json.Marshal(confChangeContext{ReqID: reqID, Member: m})
	cc := &raftpb.ConfChangeV2{
		Changes: []*raftpb.ConfChangeSingle{{Type: typ.Enum(), NodeId: proto.Uint64(m.ID)}},
		Context: cctx,
	}
	ctx, cancel := context.WithTimeout(ctx, n.requestTimeout())
	defer cancel()
	ch := n.waits.register(reqID)
	if err := n.rn.ProposeConfChange(ctx, cc); err != nil {
		n.waits.cancel(reqID)
		return nil, n.ctxErr(ctx, err)
	}
	select {
	case v := <-ch:
		list, _ := v.([]MemberInfo)
		return list, nil
	case <-ctx.Done():
		n.waits.cancel(reqID)
		return nil, n.ctxErr(ctx, ctx.Err())
	case <-n.stopc:
		return nil, ErrStopped
	}
}

// ApplyMemberAttrs applies a committed ClusterMemberAttrSet entry: member
// id published its name and client URLs (etcd: the member publishes them
// through raft at start, server.go publishV3). The state machine calls it
// from Apply; it persists the list in the same transaction as the entry.
func (n *Node) ApplyMemberAttrs(index, term, id uint64, name string, clientURLs []string) {
	if !n.ms.setAttrs(id, name, clientURLs) {
		n.lg.Warn("attributes for an unknown member ignored", "member-id", hexID(id))
	}
	if msm, ok := n.cfg.StateMachine.(MembershipStateMachine); ok {
		enc, removed := n.ms.encode()
		msm.SaveMembers(index, term, enc, removed)
	}
	if id == n.id {
		n.published.Store(true)
	}
}

// NeedsPublish reports whether this member's applied name and client URLs
// differ from what it runs with.
func (n *Node) NeedsPublish(clientURLs []string) bool {
	m, ok := n.ms.get(n.id)
	return !ok || m.Name != n.cfg.Name || !sameURLs(m.ClientURLs, clientURLs)
}

// MoveLeader transfers leadership to transferee and waits until it leads
// (etcd server.go, MoveLeader). Only the leader can do it.
func (n *Node) MoveLeader(ctx context.Context, transferee uint64) error {
	if !n.IsLeader() {
		return ErrNotLeader
	}
	m, ok := n.ms.get(transferee)
	if !ok || m.IsLearner {
		return ErrIDNotFound
	}
	ctx, cancel := context.WithTimeout(ctx, n.requestTimeout())
	defer cancel()
	n.rn.TransferLeadership(ctx, n.id, transferee)
	for n.Leader() != transferee {
		select {
		case <-ctx.Done():
			return ErrTimeout
		case <-time.After(n.cfg.HeartbeatInterval):
		}
	}
	return nil
}

// IsLearner reports whether this member is a learner.
func (n *Node) IsLearner() bool {
	m, ok := n.ms.get(n.id)
	return ok && m.IsLearner
}

func confChangeString(cc *raftpb.ConfChangeV2) string {
	var parts []string
	for _, ch := range cc.GetChanges() {
		parts = append(parts, fmt.Sprintf("%s %x", ch.GetType(), ch.GetNodeId()))
	}
	return strings.Join(parts, ",")
}

func (t *nodeTracer) startConfChange(cc *raftpb.ConfChangeV2, index, term uint64) trace.Span {
	if !t.on {
		return nil
	}
	_, span := t.tr.Start(context.Background(), instrument.ConfChange, trace.WithAttributes(append(t.base(),
		instrument.AttrIndex.Int64(int64(index)),
		attribute.Int64("raft.entry_term", int64(term)),
		attribute.String("raft.conf_change", confChangeString(cc)))...))
	return span
}

// RemovedByPeer implements transport.RemovedHandler: a peer that applied
// our removal refuses our streams; we may never apply the entry ourselves
// (the leader stops replicating to a removed member), so stop now.
func (n *Node) RemovedByPeer(peer uint64) {
	n.removedOnce.Do(func() {
		n.lg.Warn("a peer says this member was removed from the cluster; stopping", "peer", hexID(peer))
		close(n.removedc)
	})
}
