package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/kvtrace/kvtrace/internal/node"
	"github.com/kvtrace/kvtrace/internal/store"
)

// maintenanceServer implements etcdserverpb.Maintenance, following etcd's
// server/etcdserver/api/v3rpc/maintenance.go.
type maintenanceServer struct {
	pb.UnimplementedMaintenanceServer
	s *Server
}

func (m *maintenanceServer) Status(ctx context.Context, r *pb.StatusRequest) (*pb.StatusResponse, error) {
	s := m.s
	size, inUse := s.store.DBSize()
	resp := &pb.StatusResponse{
		Header:           s.header(s.store.Rev()),
		Version:          Version,
		DbSize:           size,
		DbSizeInUse:      inUse,
		DbSizeQuota:      s.quota(),
		Leader:           s.node.Leader(),
		RaftIndex:        s.node.CommittedIndex(),
		RaftTerm:         s.node.Term(),
		RaftAppliedIndex: s.node.AppliedIndex(),
		IsLearner:        s.node.IsLearner(),
		StorageVersion:   "3.7.0",
	}
	for _, a := range s.alarmList() {
		resp.Errors = append(resp.Errors, pb.AlarmType(a.Type).String())
	}
	if s.node.Leader() == 0 {
		resp.Errors = append(resp.Errors, rpctypes.ErrGRPCNoLeader.Error())
	}
	return resp, nil
}

func (m *maintenanceServer) Hash(ctx context.Context, r *pb.HashRequest) (*pb.HashResponse, error) {
	h, rev, err := m.s.store.Hash()
	if err != nil {
		return nil, togRPCError(err)
	}
	return &pb.HashResponse{Header: m.s.header(rev), Hash: h}, nil
}

func (m *maintenanceServer) HashKV(ctx context.Context, r *pb.HashKVRequest) (*pb.HashKVResponse, error) {
	h, rev, compact, err := m.s.store.HashByRev(r.Revision)
	if err != nil {
		return nil, togRPCError(err)
	}
	return &pb.HashKVResponse{Header: m.s.header(m.s.store.Rev()), Hash: h, CompactRevision: compact, HashRevision: rev}, nil
}

func (m *maintenanceServer) Defragment(ctx context.Context, r *pb.DefragmentRequest) (*pb.DefragmentResponse, error) {
	if err := m.s.store.Defragment(); err != nil {
		return nil, togRPCError(err)
	}
	return &pb.DefragmentResponse{Header: m.s.header(m.s.store.Rev())}, nil
}

// snapshotChunk is how many bytes one SnapshotResponse carries (etcd: 32 KiB).
const snapshotChunk = 32 * 1024

// Snapshot streams the bbolt file and then its sha256, which `etcdctl
// snapshot save` checks (etcd maintenance.go Snapshot: the checksum is the
// last message's blob).
func (m *maintenanceServer) Snapshot(r *pb.SnapshotRequest, srv grpc.ServerStreamingServer[pb.SnapshotResponse]) error {
	snap, err := m.s.store.Snapshot()
	if err != nil {
		return togRPCError(err)
	}
	defer snap.Close()
	h := sha256.New()
	buf := make([]byte, snapshotChunk)
	var sent int64
	for sent < snap.Size {
		n, rerr := io.ReadFull(snap, buf[:min(int64(len(buf)), snap.Size-sent)])
		if n > 0 {
			h.Write(buf[:n])
			sent += int64(n)
			resp := &pb.SnapshotResponse{RemainingBytes: uint64(snap.Size - sent), Blob: slices.Clone(buf[:n]), Version: Version}
			if sent == snap.Size || sent == int64(n) {
				resp.Header = m.s.header(m.s.store.Rev())
			}
			if err := srv.Send(resp); err != nil {
				return err
			}
		}
		if rerr != nil {
			return togRPCError(rerr)
		}
	}
	return srv.Send(&pb.SnapshotResponse{Header: m.s.header(m.s.store.Rev()), Blob: h.Sum(nil), Version: Version})
}

func (m *maintenanceServer) MoveLeader(ctx context.Context, r *pb.MoveLeaderRequest) (*pb.MoveLeaderResponse, error) {
	err := m.s.node.MoveLeader(ctx, r.TargetID)
	switch {
	case errors.Is(err, node.ErrNotLeader):
		return nil, rpctypes.ErrGRPCNotLeader
	case errors.Is(err, node.ErrIDNotFound):
		return nil, rpctypes.ErrGRPCBadLeaderTransferee
	case err != nil:
		return nil, togRPCError(err)
	}
	return &pb.MoveLeaderResponse{Header: m.s.header(m.s.store.Rev())}, nil
}

// Alarm lists, raises or disarms alarms through raft, so every member
// agrees (etcd v3_server.go Alarm, apply.go Alarm).
func (m *maintenanceServer) Alarm(ctx context.Context, r *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	s := m.s
	if r.Action == pb.AlarmRequest_GET {
		resp := &pb.AlarmResponse{Header: s.header(s.store.Rev())}
		for _, a := range s.alarmList() {
			if r.Alarm == pb.AlarmType_NONE || pb.AlarmType(a.Type) == r.Alarm {
				if r.MemberID == 0 || r.MemberID == a.MemberID {
					resp.Alarms = append(resp.Alarms, &pb.AlarmMember{MemberID: a.MemberID, Alarm: pb.AlarmType(a.Type)})
				}
			}
		}
		return resp, nil
	}
	resp, err := s.propose(ctx, &pb.InternalRaftRequest{Alarm: r})
	if err != nil {
		return nil, err
	}
	out, _ := resp.(*pb.AlarmResponse)
	if out == nil {
		out = &pb.AlarmResponse{}
	}
	out.Header = s.header(s.store.Rev())
	return out, nil
}

// ---- alarms and the quota ----

func (s *Server) quota() int64 {
	s.cl.mu.RLock()
	defer s.cl.mu.RUnlock()
	return s.cl.quota
}

func (s *Server) loadAlarms() error {
	as, err := s.store.Alarms()
	if err != nil {
		return err
	}
	s.cl.mu.Lock()
	s.cl.alarms, s.cl.loaded = as, true
	s.cl.mu.Unlock()
	return nil
}

func (s *Server) alarmList() []store.Alarm {
	s.cl.mu.RLock()
	loaded := s.cl.loaded
	s.cl.mu.RUnlock()
	if !loaded {
		s.loadAlarms()
	}
	s.cl.mu.RLock()
	defer s.cl.mu.RUnlock()
	return slices.Clone(s.cl.alarms)
}

func (s *Server) hasAlarm(t pb.AlarmType) bool {
	for _, a := range s.alarmList() {
		if pb.AlarmType(a.Type) == t {
			return true
		}
	}
	return false
}

// applyAlarm applies a committed AlarmRequest (etcd apply.go Alarm).
func (s *Server) applyAlarm(index, term uint64, r *pb.AlarmRequest) *pb.AlarmResponse {
	as := s.alarmList()
	resp := &pb.AlarmResponse{}
	switch r.Action {
	case pb.AlarmRequest_ACTIVATE:
		if r.Alarm == pb.AlarmType_NONE {
			break
		}
		a := store.Alarm{MemberID: r.MemberID, Type: int32(r.Alarm)}
		if !slices.Contains(as, a) {
			as = append(as, a)
			s.lg.Warn("alarm raised", "alarm", r.Alarm.String(), "member-id", fmt.Sprintf("%x", r.MemberID))
		}
		resp.Alarms = []*pb.AlarmMember{{MemberID: r.MemberID, Alarm: r.Alarm}}
	case pb.AlarmRequest_DEACTIVATE:
		as = slices.DeleteFunc(as, func(a store.Alarm) bool {
			hit := (r.MemberID == 0 || a.MemberID == r.MemberID) && (r.Alarm == pb.AlarmType_NONE || pb.AlarmType(a.Type) == r.Alarm)
			if hit {
				resp.Alarms = append(resp.Alarms, &pb.AlarmMember{MemberID: a.MemberID, Alarm: pb.AlarmType(a.Type)})
			}
			return hit
		})
	}
	s.store.SaveAlarms(index, term, as)
	s.cl.mu.Lock()
	s.cl.alarms, s.cl.loaded = as, true
	s.cl.mu.Unlock()
	return resp
}

// checkQuota refuses a request that needs space when NOSPACE is raised or
// the database is beyond the quota, raising the alarm in the latter case
// (etcd quota.go backendQuota.Available, v3_server.go raiseAlarm).
func (s *Server) checkQuota(ctx context.Context, r *pb.InternalRaftRequest) error {
	if !needsSpace(r) {
		return nil
	}
	if s.hasAlarm(pb.AlarmType_NOSPACE) {
		return rpctypes.ErrGRPCNoSpace
	}
	q := s.quota()
	if q <= 0 {
		return nil
	}
	// The size as of the last batch commit, like etcd's backendQuota
	// (b.Size()): a bbolt read tx per request showed in mutex profiles,
	// contending with the batch commit.
	size := s.store.CommittedSize()
	if size+int64(requestSize(r)) <= q {
		return nil
	}
	actx, cancel := context.WithTimeout(ctx, s.node.RequestTimeout())
	defer cancel()
	_, err := s.propose(actx, &pb.InternalRaftRequest{Alarm: &pb.AlarmRequest{
		Action: pb.AlarmRequest_ACTIVATE, MemberID: s.node.ID(), Alarm: pb.AlarmType_NOSPACE}})
	if err != nil {
		s.lg.Warn("raising the NOSPACE alarm failed", "error", err)
	}
	return rpctypes.ErrGRPCNoSpace
}

func requestSize(r *pb.InternalRaftRequest) int {
	// etcd estimates the bytes a write adds (quota.go costPut etc.); the
	// encoded request is a close enough upper bound here.
	return proto.Size(r)
}
