package server

import (
	"context"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// What the HTTP health endpoints (/health, /livez, /readyz) ask of a member;
// etcd asks the same of its EtcdServer (server/etcdserver/api/etcdhttp/
// health.go, ServerHealth).

// Alarms returns the active alarms of every member.
func (s *Server) Alarms() []*pb.AlarmMember {
	as := s.alarmList()
	out := make([]*pb.AlarmMember, 0, len(as))
	for _, a := range as {
		out = append(out, &pb.AlarmMember{MemberID: a.MemberID, Alarm: pb.AlarmType(a.Type)})
	}
	return out
}

// Leader returns the leader's member id, 0 when none is known.
func (s *Server) Leader() uint64 { return s.node.Leader() }

// IsLearner reports whether this member is a raft learner.
func (s *Server) IsLearner() bool { return s.node.IsLearner() }

// RequestTimeout is how long /health waits for its read (etcd:
// ServerConfig.ReqTimeout).
func (s *Server) RequestTimeout() time.Duration { return s.node.RequestTimeout() }

// HealthRead runs the read etcd's health checks make: a keys-only Range of
// one key, serializable or linearizable. It runs with the member's own
// authority (etcd: AuthStore().WithRoot), never a client's.
func (s *Server) HealthRead(ctx context.Context, serializable bool) error {
	if !serializable {
		if err := s.node.LinearizableRead(ctx); err != nil {
			return togRPCError(err)
		}
	}
	// etcd's request has no key and reads nothing; a one-key lookup reads
	// as little.
	r := &pb.RangeRequest{Key: []byte{0}, KeysOnly: true, Limit: 1, Serializable: serializable}
	if _, err := s.applier.Range(r); err != nil {
		return togRPCError(err)
	}
	return nil
}
