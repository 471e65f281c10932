package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	"github.com/kvtrace/kvtrace/instrument"
	"github.com/kvtrace/kvtrace/internal/lease"
)

// Span names for lease expiry and watch delivery (docs/spans.md).
const (
	SpanLeaseExpire  = instrument.LeaseExpire
	SpanWatchDeliver = instrument.WatchDeliver
)

// tracer is the global OpenTelemetry tracer: a no-op until kvd installs a
// provider.
func tracer() trace.Tracer {
	return otel.GetTracerProvider().Tracer("github.com/kvtrace/kvtrace/internal/server")
}

const (
	// leaseCheckInterval is how often the primary looks for expired leases
	// (etcd: lessor.runLoop every 500ms).
	leaseCheckInterval = 500 * time.Millisecond
	// leaseRevokeBatch caps the revokes proposed per check (etcd revokes at
	// most leaseRevokeRate/2 per 500ms).
	leaseRevokeBatch = 500
)

// leaseState is the per-Server state of the lease service: connections to
// peers used to forward keep-alives and TimeToLive to the leader.
type leaseState struct {
	// mu guards conns.
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn // by peer URL host
	// progressNotify overrides DefaultProgressNotifyInterval (tests).
	progressNotify time.Duration
}

func newLeaseState() *leaseState { return &leaseState{conns: make(map[string]*grpc.ClientConn)} }

func (s *Server) progressNotifyInterval() time.Duration {
	if s.ls.progressNotify > 0 {
		return s.ls.progressNotify
	}
	return DefaultProgressNotifyInterval
}

// SetProgressNotifyInterval changes how often idle progress_notify watchers
// hear from the server (etcd's --experimental-watch-progress-notify-interval).
func (s *Server) SetProgressNotifyInterval(d time.Duration) { s.ls.progressNotify = d }

// electionTimeout recovers the election timeout from the node's request
// timeout (5s + 2 * election timeout, node.RequestTimeout), which is all
// internal/node exposes of its timing.
func (s *Server) electionTimeout() time.Duration {
	return max((s.node.RequestTimeout()-5*time.Second)/2, 100*time.Millisecond)
}

// startLessor runs the lease loop until the node stops: it promotes the
// lessor once this member leads and has applied every entry of earlier
// terms, demotes it when leadership is lost, and proposes a LeaseRevoke
// for each lease the primary finds expired (etcd: EtcdServer.run's
// revokeExpiredLeases and applyEntryNormal's Promote on the first entry
// of a term).
func (s *Server) startLessor() {
	le := s.applier.Lessor()
	// etcd's minimum TTL: 3/2 of an election timeout, in whole seconds.
	et := s.electionTimeout()
	le.SetMinTTL(int64((3*et/2 + time.Second - 1) / time.Second))
	go func() {
		defer s.closeLeaseConns()
		tick := time.NewTicker(leaseCheckInterval)
		defer tick.Stop()
		var promotedTerm uint64
		for {
			changed := s.node.LeaderChangedNotify()
			switch {
			case s.node.IsLeader() && (!le.IsPrimary() || promotedTerm != s.node.Term()):
				term := s.node.Term()
				// A ReadIndex returns once everything committed when it was
				// issued, including this term's first entry, is applied:
				// only then are all grants of earlier terms in the table.
				ctx, cancel := context.WithTimeout(context.Background(), s.node.RequestTimeout())
				err := s.node.LinearizableRead(ctx)
				cancel()
				if err == nil && s.node.IsLeader() && s.node.Term() == term {
					le.Promote(et)
					promotedTerm = term
				}
			case !s.node.IsLeader() && le.IsPrimary():
				le.Demote()
			}
			if le.IsPrimary() {
				for _, id := range le.Expired(leaseRevokeBatch) {
					go s.revokeExpired(id)
				}
			}
			select {
			case <-changed:
			case <-tick.C:
			case <-s.node.Done():
				return
			}
		}
	}()
}

// revokeExpired proposes the revoke of an expired lease. If the proposal
// fails the lessor hands the lease out again later.
func (s *Server) revokeExpired(id int64) {
	ctx, span := tracer().Start(context.Background(), SpanLeaseExpire,
		trace.WithAttributes(attribute.Int64("lease.id", id), attribute.String("kv.member", s.name)))
	defer span.End()
	m, err := s.propose(ctx, &pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: id}})
	if err != nil {
		if !errors.Is(err, rpctypes.ErrGRPCLeaseNotFound) {
			s.lg.Warn("lease: revoking an expired lease failed; will retry", "lease", fmt.Sprintf("%016x", id), "error", err)
		}
		span.RecordError(err)
		return
	}
	span.SetAttributes(attribute.Int64("kv.revision", m.(*pb.LeaseRevokeResponse).GetHeader().GetRevision()))
}

// leaseServer implements etcdserverpb.LeaseServer. On the client port it
// forwards what only the leader can answer; on the peer port (peer true)
// it is the leader's end of that forwarding and never forwards again.
type leaseServer struct {
	pb.UnimplementedLeaseServer
	s    *Server
	peer bool
}

func (l *leaseServer) LeaseGrant(ctx context.Context, r *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error) {
	if r.GetTTL() > lease.MaxLeaseTTL {
		return nil, rpctypes.ErrGRPCLeaseTTLTooLarge
	}
	// No id given: choose one here, BEFORE proposing, so every member
	// applies the same one (etcd: only positive ids).
	for r.ID == 0 {
		r.ID = int64(l.s.node.NextRequestID() & (1<<63 - 1))
	}
	m, err := l.s.propose(ctx, &pb.InternalRaftRequest{LeaseGrant: r})
	if err != nil {
		return nil, err
	}
	resp := m.(*pb.LeaseGrantResponse)
	resp.Header = l.s.header(respRev(resp.Header))
	return resp, nil
}

func (l *leaseServer) LeaseRevoke(ctx context.Context, r *pb.LeaseRevokeRequest) (*pb.LeaseRevokeResponse, error) {
	m, err := l.s.propose(ctx, &pb.InternalRaftRequest{LeaseRevoke: r})
	if err != nil {
		return nil, err
	}
	resp := m.(*pb.LeaseRevokeResponse)
	resp.Header = l.s.header(respRev(resp.Header))
	return resp, nil
}

func (l *leaseServer) LeaseLeases(ctx context.Context, r *pb.LeaseLeasesRequest) (*pb.LeaseLeasesResponse, error) {
	if err := l.s.node.LinearizableRead(ctx); err != nil {
		return nil, togRPCError(err)
	}
	resp := &pb.LeaseLeasesResponse{Header: l.s.header(l.s.store.Rev())}
	for _, id := range l.s.applier.Lessor().Leases() {
		resp.Leases = append(resp.Leases, &pb.LeaseStatus{ID: id})
	}
	return resp, nil
}

func (l *leaseServer) LeaseTimeToLive(ctx context.Context, r *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, l.s.node.RequestTimeout())
	defer cancel()
	for {
		if l.s.node.IsLeader() {
			resp, err := l.timeToLiveLocal(ctx, r)
			if err == nil || l.peer || !errors.Is(err, lease.ErrNotPrimary) {
				return resp, err
			}
		} else if l.peer {
			return nil, rpctypes.ErrGRPCNotLeader
		} else {
			resp, err := l.forwardTimeToLive(ctx, r)
			if err == nil {
				resp.Header = l.s.header(l.s.store.Rev())
				return resp, nil
			}
			l.s.lg.Debug("lease: forwarding TimeToLive failed; retrying", "error", err)
		}
		if err := waitRetry(ctx); err != nil {
			return nil, err
		}
	}
}

func (l *leaseServer) timeToLiveLocal(ctx context.Context, r *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	// Wait until this leader applied what it committed, so a grant that a
	// follower already acknowledged is in the table (etcd: waitAppliedIndex).
	if err := l.s.node.LinearizableRead(ctx); err != nil {
		return nil, togRPCError(err)
	}
	le := l.s.applier.Lessor()
	if !le.IsPrimary() {
		if l.peer {
			return nil, rpctypes.ErrGRPCNotLeader
		}
		return nil, lease.ErrNotPrimary
	}
	granted, remaining, keys, err := le.TimeToLive(r.GetID())
	resp := &pb.LeaseTimeToLiveResponse{Header: l.s.header(l.s.store.Rev()), ID: r.GetID()}
	if errors.Is(err, lease.ErrLeaseNotFound) {
		resp.TTL = -1 // as etcd: a missing lease is an answer, not an error
		return resp, nil
	}
	resp.TTL, resp.GrantedTTL = remaining, granted
	if r.GetKeys() {
		for _, k := range keys {
			resp.Keys = append(resp.Keys, []byte(k))
		}
	}
	return resp, nil
}

func (l *leaseServer) LeaseKeepAlive(stream pb.Lease_LeaseKeepAliveServer) error {
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		ttl, err := l.renew(stream.Context(), req.GetID())
		if errors.Is(err, lease.ErrLeaseNotFound) {
			ttl, err = 0, nil // clientv3 reads TTL <= 0 as "lease gone"
		}
		if err != nil {
			return togRPCError(err)
		}
		resp := &pb.LeaseKeepAliveResponse{Header: l.s.header(l.s.store.Rev()), ID: req.GetID(), TTL: ttl}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

// renew renews lease id on the leader, forwarding from a follower.
func (l *leaseServer) renew(ctx context.Context, id int64) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, l.s.node.RequestTimeout())
	defer cancel()
	for {
		if l.s.node.IsLeader() {
			if err := l.s.node.LinearizableRead(ctx); err != nil {
				return -1, err
			}
			ttl, err := l.s.applier.Lessor().Renew(ctx, id)
			if !errors.Is(err, lease.ErrNotPrimary) {
				return ttl, err
			}
			if l.peer {
				return -1, rpctypes.ErrGRPCNotLeader
			}
			// Just elected and not promoted yet, or just deposed: retry.
		} else if l.peer {
			return -1, rpctypes.ErrGRPCNotLeader
		} else {
			ttl, err := l.forwardRenew(ctx, id)
			if err == nil {
				if ttl <= 0 {
					return -1, lease.ErrLeaseNotFound
				}
				return ttl, nil
			}
			l.s.lg.Debug("lease: forwarding keep-alive failed; retrying", "error", err)
		}
		if err := waitRetry(ctx); err != nil {
			return -1, err
		}
	}
}

func waitRetry(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(50 * time.Millisecond):
		return nil
	}
}

// leaderLeaseClient returns a Lease client on the leader's peer port. etcd
// forwards keep-alives and TimeToLive to the leader's peer URLs over HTTP
// (server/etcdserver/api/v3rpc/lease.go -> leasehttp); kvd registers the
// Lease service on the peer gRPC server instead (RegisterPeer).
func (s *Server) leaderLeaseClient() (pb.LeaseClient, error) {
	lead := s.node.Leader()
	var host, peerURL string
	for _, m := range s.node.Members() {
		if m.ID == lead && len(m.PeerURLs) > 0 {
			u, err := url.Parse(m.PeerURLs[0])
			if err != nil {
				return nil, err
			}
			host, peerURL = u.Host, m.PeerURLs[0]
		}
	}
	if host == "" {
		return nil, rpctypes.ErrGRPCNoLeader
	}
	s.ls.mu.Lock()
	defer s.ls.mu.Unlock()
	cc := s.ls.conns[host]
	if cc == nil {
		var err error
		// https:// peer URLs dial with the peer certificate (--peer-cert-file).
		target, creds, err := s.node.Transport().DialOptions(peerURL)
		if err != nil {
			return nil, err
		}
		cc, err = grpc.NewClient(target, creds)
		if err != nil {
			return nil, err
		}
		s.ls.conns[host] = cc
	}
	return pb.NewLeaseClient(cc), nil
}

func (l *leaseServer) forwardRenew(ctx context.Context, id int64) (int64, error) {
	c, err := l.s.leaderLeaseClient()
	if err != nil {
		return -1, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the one-shot stream
	ka, err := c.LeaseKeepAlive(ctx)
	if err != nil {
		return -1, err
	}
	if err := ka.Send(&pb.LeaseKeepAliveRequest{ID: id}); err != nil {
		return -1, err
	}
	resp, err := ka.Recv()
	if err != nil {
		return -1, err
	}
	return resp.GetTTL(), nil
}

func (l *leaseServer) forwardTimeToLive(ctx context.Context, r *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	c, err := l.s.leaderLeaseClient()
	if err != nil {
		return nil, err
	}
	return c.LeaseTimeToLive(ctx, r)
}

// RegisterPeer adds the leader's end of lease forwarding to the member's
// peer gRPC server.
//
// Only the two calls a follower forwards are served there; Grant, Revoke and
// Leases answer Unimplemented, so the peer port is not a second client port.
func (s *Server) RegisterPeer(g *grpc.Server) {
	pb.RegisterLeaseServer(g, &peerLeaseServer{l: &leaseServer{s: s, peer: true}})
}

// peerLeaseServer exposes leaseServer's forwarding targets on the peer port.
type peerLeaseServer struct {
	pb.UnimplementedLeaseServer
	l *leaseServer
}

func (p *peerLeaseServer) LeaseKeepAlive(stream pb.Lease_LeaseKeepAliveServer) error {
	return p.l.LeaseKeepAlive(stream)
}

func (p *peerLeaseServer) LeaseTimeToLive(ctx context.Context, r *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	return p.l.LeaseTimeToLive(ctx, r)
}

// closeLeaseConns closes the forwarding connections.
func (s *Server) closeLeaseConns() {
	s.ls.mu.Lock()
	defer s.ls.mu.Unlock()
	for h, cc := range s.ls.conns {
		cc.Close()
		delete(s.ls.conns, h)
	}
}
