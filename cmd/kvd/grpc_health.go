package main

import (
	"log/slog"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/kvtrace/kvtrace/internal/node"
)

// registerGRPCHealth serves grpc.health.v1 on the client gRPC server for
// every service (the empty service name, as etcd). etcd turns it SERVING
// when its gRPC server starts, which is only once the member is ready:
// joined and with a leader (server/etcdserver/api/v3rpc/health.go,
// newHealthNotifier). kvd serves gRPC from the start, so it reports
// NOT_SERVING until the member first knows a leader, then SERVING until
// shutdown (Shutdown turns it NOT_SERVING).
func registerGRPCHealth(lg *slog.Logger, g *grpc.Server, n *node.Node) *health.Server {
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(g, hs)
	go func() {
		for {
			changed := n.LeaderChangedNotify() // BEFORE reading the leader: no change is missed
			if n.Leader() != 0 {
				hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
				lg.Info("grpc service status changed", "service", "", "status", healthpb.HealthCheckResponse_SERVING.String())
				return
			}
			select {
			case <-changed:
			case <-n.Done():
				return
			}
		}
	}()
	return hs
}
