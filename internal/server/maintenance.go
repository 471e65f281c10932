package server

import (
	"context"
	"os"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// maintenanceServer implements the parts of etcdserverpb.Maintenance that
// tools need to find the leader and the member's progress (Status); the rest
// arrives with snapshots and maintenance work.
type maintenanceServer struct {
	pb.UnimplementedMaintenanceServer
	s *Server
}

func (m *maintenanceServer) Status(ctx context.Context, r *pb.StatusRequest) (*pb.StatusResponse, error) {
	s := m.s
	resp := &pb.StatusResponse{
		Header:           s.header(s.store.Rev()),
		Version:          Version,
		Leader:           s.node.Leader(),
		RaftIndex:        s.node.CommittedIndex(),
		RaftTerm:         s.node.Term(),
		RaftAppliedIndex: s.node.AppliedIndex(),
		StorageVersion:   "3.7.0",
	}
	if fi, err := os.Stat(s.dbPath); err == nil {
		resp.DbSize = fi.Size()
		resp.DbSizeInUse = fi.Size()
	}
	return resp, nil
}

func (m *maintenanceServer) HashKV(ctx context.Context, r *pb.HashKVRequest) (*pb.HashKVResponse, error) {
	h, rev, err := m.s.store.Hash()
	if err != nil {
		return nil, togRPCError(err)
	}
	return &pb.HashKVResponse{Header: m.s.header(rev), Hash: h, CompactRevision: m.s.store.CompactRev(), HashRevision: rev}, nil
}

// clusterServer implements etcdserverpb.Cluster's MemberList; membership
// changes arrive with later work.
type clusterServer struct {
	pb.UnimplementedClusterServer
	s *Server
}

func (c *clusterServer) MemberList(ctx context.Context, r *pb.MemberListRequest) (*pb.MemberListResponse, error) {
	s := c.s
	resp := &pb.MemberListResponse{Header: s.header(0)}
	for _, mem := range s.node.Members() {
		pm := &pb.Member{ID: mem.ID, Name: mem.Name, PeerURLs: mem.PeerURLs}
		if mem.ID == s.node.ID() {
			pm.ClientURLs = s.clientURLs
		}
		resp.Members = append(resp.Members, pm)
	}
	return resp, nil
}
