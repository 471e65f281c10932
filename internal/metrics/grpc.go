package metrics

import (
	"sync"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
)

// Modes of --metrics (etcd server/embed/config.go, Config.Metrics).
const (
	ModeBasic     = "basic"
	ModeExtensive = "extensive" // adds grpc_server_handling_seconds
)

var (
	grpcMu      sync.Mutex
	grpcMetrics *grpcprom.ServerMetrics // guarded by grpcMu; built once
)

// GRPCServer returns the client gRPC server's metrics
// (grpc_server_started_total, grpc_server_handled_total, ...), built and
// registered on the first call with the mode then given, as etcd's
// server/etcdserver/api/v3rpc/grpc.go (getServerMetrics) does. Install its
// interceptors on the server and call InitializeMetrics once the services
// are registered.
func GRPCServer(mode string) *grpcprom.ServerMetrics {
	grpcMu.Lock()
	defer grpcMu.Unlock()
	if grpcMetrics == nil {
		var opts []grpcprom.ServerMetricsOption
		if mode == ModeExtensive {
			opts = append(opts, grpcprom.WithServerHandlingTimeHistogram())
		}
		grpcMetrics = grpcprom.NewServerMetrics(opts...)
		prometheus.MustRegister(grpcMetrics)
	}
	return grpcMetrics
}
