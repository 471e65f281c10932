package server

import (
	"context"
	"errors"
	"io"
	"net/url"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/membershippb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"

	"github.com/kvtrace/kvtrace/internal/apply"
	"github.com/kvtrace/kvtrace/internal/metrics"
	"github.com/kvtrace/kvtrace/internal/node"
	"github.com/kvtrace/kvtrace/internal/store"
)

// clusterState is the server's part of membership, alarms and the quota.
// The zero value is ready; mu guards alarms and quota.
type clusterState struct {
	mu      sync.RWMutex
	alarms  []store.Alarm // active alarms, as applied
	loaded  bool          // alarms were read from the store
	quota   int64         // --quota-backend-bytes
	publish sync.Once
}

// SetQuota sets --quota-backend-bytes (NOSPACE is raised beyond it).
func (s *Server) SetQuota(bytes int64) {
	s.cl.mu.Lock()
	s.cl.quota = bytes
	s.cl.mu.Unlock()
	metrics.QuotaBackendBytes.Set(float64(bytes))
}

// ---- node.SnapshotStateMachine and node.MembershipStateMachine ----

// ForceCommit implements node.SnapshotStateMachine.
func (s *Server) ForceCommit() error { return s.store.ForceCommit() }

// OpenSnapshot implements node.SnapshotStateMachine.
func (s *Server) OpenSnapshot() (db io.ReadCloser, size int64, index, term uint64, err error) {
	snap, err := s.store.Snapshot()
	if err != nil {
		return nil, 0, 0, 0, err
	}
	return snap, snap.Size, snap.Index, snap.Term, nil
}

// RestoreSnapshot implements node.SnapshotStateMachine: the store takes the
// received database over; leases and alarms are read again from it.
func (s *Server) RestoreSnapshot(path string) error {
	if err := s.store.Restore(path); err != nil {
		return err
	}
	if err := s.applier.Lessor().Recover(s.store); err != nil {
		return err
	}
	return s.loadAlarms()
}

// SaveMembers implements node.MembershipStateMachine.
func (s *Server) SaveMembers(index, term uint64, members map[uint64][]byte, removed []uint64) {
	s.store.SaveMembers(index, term, members, removed)
}

// LoadMembers implements node.MembershipStateMachine.
func (s *Server) LoadMembers() (map[uint64][]byte, []uint64, bool, error) {
	return s.store.Members()
}

// applyClusterRequest applies the raft requests this file owns
// (ClusterMemberAttrSet, Alarm) and enforces the NOSPACE alarm on writes
// (etcd apply/apply.go applierV3Capped). handled is false for requests the
// applier should apply as usual.
func (s *Server) applyClusterRequest(index, term uint64, r *pb.InternalRaftRequest) (handled bool, res *apply.Result) {
	switch {
	case r.ClusterMemberAttrSet != nil:
		a := r.ClusterMemberAttrSet
		s.node.ApplyMemberAttrs(index, term, a.Member_ID, a.GetMemberAttributes().GetName(), a.GetMemberAttributes().GetClientUrls())
		return true, &apply.Result{}
	case r.Alarm != nil:
		resp := s.applyAlarm(index, term, r.Alarm)
		return true, &apply.Result{Resp: resp}
	case s.hasAlarm(pb.AlarmType_NOSPACE) && needsSpace(r):
		s.store.Write(index, term).End() // the entry counts as applied
		return true, &apply.Result{Err: rpctypes.ErrGRPCNoSpace}
	}
	return false, nil
}

// needsSpace: requests refused while NOSPACE is raised (etcd: Put, Txn
// with a put, LeaseGrant).
func needsSpace(r *pb.InternalRaftRequest) bool {
	switch {
	case r.Put != nil, r.LeaseGrant != nil:
		return true
	case r.Txn != nil:
		return txnHasPut(r.Txn)
	}
	return false
}

func txnHasPut(t *pb.TxnRequest) bool {
	for _, ops := range [][]*pb.RequestOp{t.Success, t.Failure} {
		for _, op := range ops {
			if op.GetRequestPut() != nil {
				return true
			}
			if tx := op.GetRequestTxn(); tx != nil && txnHasPut(tx) {
				return true
			}
		}
	}
	return false
}

// startPublish proposes this member's name and client URLs until they are
// applied (etcd server.go publishV3, retried until it succeeds).
func (s *Server) startPublish() {
	s.cl.publish.Do(func() {
		go func() {
			for s.node.NeedsPublish(s.clientURLs) {
				select {
				case <-s.node.Done():
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := s.propose(ctx, &pb.InternalRaftRequest{ClusterMemberAttrSet: &membershippb.ClusterMemberAttrSetRequest{
					Member_ID:        s.node.ID(),
					MemberAttributes: &membershippb.Attributes{Name: s.name, ClientUrls: s.clientURLs},
				}})
				cancel()
				if err != nil {
					s.lg.Debug("publishing member attributes failed; retrying", "error", err)
					select {
					case <-s.node.Done():
						return
					case <-time.After(500 * time.Millisecond):
					}
				}
			}
			s.lg.Info("published member attributes", "name", s.name, "client-urls", s.clientURLs)
		}()
	})
}

// ---- etcdserverpb.Cluster ----

// clusterServer implements etcdserverpb.Cluster over raft conf changes.
type clusterServer struct {
	pb.UnimplementedClusterServer
	s *Server
}

func toPBMembers(ms []node.MemberInfo) []*pb.Member {
	out := make([]*pb.Member, 0, len(ms))
	for _, m := range ms {
		out = append(out, toPBMember(m))
	}
	return out
}

func toPBMember(m node.MemberInfo) *pb.Member {
	return &pb.Member{ID: m.ID, Name: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs, IsLearner: m.IsLearner}
}

func validURLs(us []string) error {
	if len(us) == 0 {
		return rpctypes.ErrGRPCMemberBadURLs
	}
	for _, u := range us {
		p, err := url.Parse(u)
		if err != nil || p.Host == "" || (p.Scheme != "http" && p.Scheme != "https") {
			return rpctypes.ErrGRPCMemberBadURLs
		}
	}
	return nil
}

func (c *clusterServer) MemberAdd(ctx context.Context, r *pb.MemberAddRequest) (*pb.MemberAddResponse, error) {
	if err := validURLs(r.PeerURLs); err != nil {
		return nil, err
	}
	m, list, err := c.s.node.AddMember(ctx, r.PeerURLs, r.IsLearner)
	if err != nil {
		return nil, memberError(err)
	}
	return &pb.MemberAddResponse{Header: c.s.header(c.s.store.Rev()), Member: toPBMember(m), Members: toPBMembers(list)}, nil
}

func (c *clusterServer) MemberRemove(ctx context.Context, r *pb.MemberRemoveRequest) (*pb.MemberRemoveResponse, error) {
	list, err := c.s.node.RemoveMember(ctx, r.ID)
	if err != nil {
		return nil, memberError(err)
	}
	return &pb.MemberRemoveResponse{Header: c.s.header(c.s.store.Rev()), Members: toPBMembers(list)}, nil
}

func (c *clusterServer) MemberUpdate(ctx context.Context, r *pb.MemberUpdateRequest) (*pb.MemberUpdateResponse, error) {
	if err := validURLs(r.PeerURLs); err != nil {
		return nil, err
	}
	list, err := c.s.node.UpdateMember(ctx, r.ID, r.PeerURLs)
	if err != nil {
		return nil, memberError(err)
	}
	return &pb.MemberUpdateResponse{Header: c.s.header(c.s.store.Rev()), Members: toPBMembers(list)}, nil
}

func (c *clusterServer) MemberPromote(ctx context.Context, r *pb.MemberPromoteRequest) (*pb.MemberPromoteResponse, error) {
	list, err := c.s.node.PromoteMember(ctx, r.ID)
	if errors.Is(err, node.ErrNotLeader) {
		// Only the leader knows whether the learner caught up: forward, as
		// etcd does (server.go PromoteMember -> promoteMemberHTTP).
		cc, ferr := c.s.leaderClientConn()
		if ferr != nil {
			return nil, memberError(err)
		}
		defer cc.Close()
		return pb.NewClusterClient(cc).MemberPromote(ctx, r)
	}
	if err != nil {
		return nil, memberError(err)
	}
	return &pb.MemberPromoteResponse{Header: c.s.header(c.s.store.Rev()), Members: toPBMembers(list)}, nil
}

func (c *clusterServer) MemberList(ctx context.Context, r *pb.MemberListRequest) (*pb.MemberListResponse, error) {
	if r.Linearizable {
		if err := c.s.node.LinearizableRead(ctx); err != nil {
			return nil, togRPCError(err)
		}
	}
	return &pb.MemberListResponse{Header: c.s.header(c.s.store.Rev()), Members: toPBMembers(c.s.node.MemberList())}, nil
}

// leaderClientConn dials the leader's first client URL.
func (s *Server) leaderClientConn() (*grpc.ClientConn, error) {
	lead := s.node.Leader()
	for _, m := range s.node.MemberList() {
		if m.ID == lead && len(m.ClientURLs) > 0 {
			// An https:// client URL is dialed with the peer TLS
			// configuration: the leader's client port must accept the
			// peer certificate (same CA, or no --client-cert-auth).
			target, creds, err := s.node.Transport().DialOptions(m.ClientURLs[0])
			if err != nil {
				return nil, err
			}
			return grpc.NewClient(target, creds)
		}
	}
	return nil, rpctypes.ErrGRPCNoLeader
}

// memberError maps node membership errors to etcd's.
func memberError(err error) error {
	switch {
	case errors.Is(err, node.ErrIDRemoved):
		return rpctypes.ErrGRPCMemberNotFound
	case errors.Is(err, node.ErrIDExists):
		return rpctypes.ErrGRPCMemberExist
	case errors.Is(err, node.ErrIDNotFound):
		return rpctypes.ErrGRPCMemberNotFound
	case errors.Is(err, node.ErrPeerURLExists):
		return rpctypes.ErrGRPCPeerURLExist
	case errors.Is(err, node.ErrMemberNotLearner):
		return rpctypes.ErrGRPCMemberNotLearner
	case errors.Is(err, node.ErrLearnerNotReady):
		return rpctypes.ErrGRPCLearnerNotReady
	case errors.Is(err, node.ErrTooManyLearners):
		return rpctypes.ErrGRPCTooManyLearners
	case errors.Is(err, node.ErrNotEnoughStartedMembers):
		return rpctypes.ErrGRPCMemberNotEnoughStarted
	case errors.Is(err, node.ErrUnhealthy):
		return rpctypes.ErrGRPCUnhealthy
	case errors.Is(err, node.ErrNotLeader):
		return rpctypes.ErrGRPCNotLeader
	}
	return togRPCError(err)
}
