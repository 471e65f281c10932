package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/kvtrace/kvtrace/instrument"
	"github.com/kvtrace/kvtrace/internal/apply"
	"github.com/kvtrace/kvtrace/internal/node"
	"github.com/kvtrace/kvtrace/internal/store"
)

// Version is the etcd API version kvd reports (Maintenance.Status).
const Version = "3.7.3"

// Limits are etcd's request limits (--max-request-bytes, --max-txn-ops).
type Limits struct {
	MaxRequestBytes int // default 1.5 MiB
	MaxTxnOps       int // default 128
}

// Server is the state machine of one member and the home of its gRPC services.
type Server struct {
	lg         *slog.Logger
	store      *store.Store
	applier    *apply.Applier
	node       *node.Node
	limits     Limits
	name       string
	clientURLs []string
	dbPath     string
	trace      *serverTracer
	ls         *leaseState  // lease forwarding and watch settings (lease.go)
	cl         clusterState // membership attributes, alarms, quota (cluster.go)
}

// New builds a server over an open store. Call SetNode before serving.
func New(st *store.Store, dbPath string, limits Limits, lg *slog.Logger) *Server {
	if limits.MaxRequestBytes == 0 {
		limits.MaxRequestBytes = 1536 * 1024
	}
	if limits.MaxTxnOps == 0 {
		limits.MaxTxnOps = 128
	}
	return &Server{lg: lg, store: st, dbPath: dbPath, applier: apply.New(st, lg), limits: limits, trace: &serverTracer{}, ls: newLeaseState()}
}

// SetNode attaches the raft member (built with this Server as StateMachine).
func (s *Server) SetNode(n *node.Node, name string, clientURLs []string) {
	s.node, s.name, s.clientURLs = n, name, clientURLs
	s.startLessor()  // runs until n stops
	s.startPublish() // name and client URLs through raft (cluster.go)
}

// Apply implements node.StateMachine.
func (s *Server) Apply(ctx context.Context, index, term uint64, data []byte) (uint64, any) {
	if data == nil {
		// An empty or conf-change entry still advances the consistent index
		// in the store, in its own batch-tx write.
		s.store.Write(index, term).End()
		return 0, nil
	}
	var r pb.InternalRaftRequest
	if err := proto.Unmarshal(data, &r); err != nil {
		s.lg.Error("skipping an undecodable entry", "index", index, "term", term, "error", err)
		s.store.Write(index, term).End()
		return 0, nil
	}
	end := s.trace.applying(ctx, index, &r)
	if ok, res := s.applyClusterRequest(index, term, &r); ok { // cluster.go
		end(res)
		return r.GetHeader().GetID(), res
	}
	res := s.applier.Apply(index, term, &r)
	end(res)
	return r.GetHeader().GetID(), res
}

// AppliedIndex implements node.StateMachine.
func (s *Server) AppliedIndex() uint64 {
	idx, _ := s.store.ConsistentIndex()
	return idx
}

func (s *Server) header(rev int64) *pb.ResponseHeader {
	return &pb.ResponseHeader{
		ClusterId: s.node.ClusterID(),
		MemberId:  s.node.ID(),
		Revision:  rev,
		RaftTerm:  s.node.Term(),
	}
}

// propose sends r through raft and returns the applier's response.
func (s *Server) propose(ctx context.Context, r *pb.InternalRaftRequest) (proto.Message, error) {
	if err := s.checkQuota(ctx, r); err != nil { // NOSPACE (maintenance.go)
		return nil, err
	}
	id := s.node.NextRequestID()
	r.Header = &pb.RequestHeader{ID: id}
	data, err := proto.Marshal(r)
	if err != nil {
		return nil, status.Error(codes.Internal, fmt.Sprintf("etcdserver: cannot encode request: %v", err))
	}
	if len(data) > s.limits.MaxRequestBytes {
		return nil, rpctypes.ErrGRPCRequestTooLarge
	}
	ctx, cancel := context.WithTimeout(ctx, s.node.RequestTimeout())
	defer cancel()
	// The write's trace context rides inside the entry (docs/spans.md).
	ctx, data, endSpan := s.trace.propose(ctx, id, r, data)
	instrument.Anchor(instrument.Propose, s.name, 0, 0)
	v, err := s.node.Propose(ctx, id, data)
	endSpan(v, err)
	if err != nil {
		return nil, togRPCError(err)
	}
	res, ok := v.(*apply.Result)
	if !ok || res == nil {
		return nil, status.Error(codes.Internal, "etcdserver: apply returned no result")
	}
	if res.Err != nil {
		return nil, togRPCError(res.Err)
	}
	return res.Resp, nil
}

// togRPCError maps node, store and context errors to etcd's gRPC errors.
func togRPCError(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, node.ErrStopped):
		return rpctypes.ErrGRPCStopped
	case errors.Is(err, node.ErrTimeoutNoLeader), errors.Is(err, node.ErrNoLeader):
		return rpctypes.ErrGRPCNoLeader
	case errors.Is(err, node.ErrTimeout):
		return rpctypes.ErrGRPCTimeout
	case errors.Is(err, node.ErrLeaderChanged):
		return rpctypes.ErrGRPCLeaderChanged
	case errors.Is(err, store.ErrCompacted):
		return rpctypes.ErrGRPCCompacted
	case errors.Is(err, store.ErrFutureRev):
		return rpctypes.ErrGRPCFutureRev
	case errors.Is(err, context.Canceled):
		return rpctypes.ErrGRPCCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return rpctypes.ErrGRPCDeadlineExceeded
	}
	return status.Error(codes.Unknown, err.Error())
}
