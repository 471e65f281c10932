package transport

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/kvtrace/kvtrace/internal/metrics"
)

// The transport exports etcd's peer traffic metrics: bytes per frame sent
// (sendFrame) and received (receive), and the round-trip time of a probe.
func init() { metrics.MustRegister(metrics.Transport...) }

// probeInterval is how often a connected peer is probed. etcd probes each
// peer's /raft/probing URL and records the smoothed round trip every 5 s
// while unhealthy and every 30 s after (rafthttp/probing_status.go,
// monitorProbingStatus); one unary RPC per peer every probeInterval costs
// as little and fills the histogram sooner.
const probeInterval = 5 * time.Second

// registerProbe serves the probe on the peer gRPC server: the standard
// grpc.health.v1 service, always SERVING.
func registerProbe(s *grpc.Server) { healthpb.RegisterHealthServer(s, health.NewServer()) }

// probe measures the round trip to the peer over cc, the connection its
// message stream uses, right away and then every probeInterval, until ctx
// ends; done is closed when it returns. A failed probe records nothing: the
// stream's own failure handling reports an unreachable peer.
func (p *peer) probe(ctx context.Context, cc *grpc.ClientConn) (done <-chan struct{}) {
	d := make(chan struct{})
	go func() {
		defer close(d)
		hc := healthpb.NewHealthClient(cc)
		t := time.NewTicker(probeInterval)
		defer t.Stop()
		for {
			start := time.Now()
			pctx, cancel := context.WithTimeout(ctx, p.t.cfg.DialTimeout)
			// The connection's default codec is the frame codec; the
			// health messages are protobuf.
			_, err := hc.Check(pctx, &healthpb.HealthCheckRequest{}, grpc.CallContentSubtype("proto"))
			cancel()
			if err == nil {
				p.prom.RoundTrip.Observe(time.Since(start).Seconds())
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return d
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
