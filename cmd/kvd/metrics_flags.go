package main

import (
	"flag"
	"fmt"
	"net/url"

	"google.golang.org/grpc"

	"github.com/kvtrace/kvtrace/internal/metrics"
)

// metricsFlags are etcd's flags for metrics, health and profiling
// endpoints (etcd server/embed/config.go, Config.AddFlags: --metrics,
// --listen-metrics-urls, --listen-client-http-urls, --enable-pprof).
type metricsFlags struct {
	mode           string     // --metrics: metrics.ModeBasic or metrics.ModeExtensive
	metricsURLs    []*url.URL // --listen-metrics-urls: /metrics and the health endpoints only
	clientHTTPURLs []*url.URL // --listen-client-http-urls: HTTP-only client listeners
	enablePprof    bool       // --enable-pprof: /debug/pprof/ on the client HTTP side
}

// addMetricsFlags registers the flags on fs. URLs and the mode are checked
// while fs parses, so a bad value fails parseFlags.
func addMetricsFlags(fs *flag.FlagSet) *metricsFlags {
	mf := &metricsFlags{mode: metrics.ModeBasic}
	fs.Func("metrics", "set level of detail for exported metrics, specify 'extensive' to include server side grpc histogram metrics (default basic)",
		func(s string) error {
			if s != metrics.ModeBasic && s != metrics.ModeExtensive {
				return fmt.Errorf("want %q or %q, not %q", metrics.ModeBasic, metrics.ModeExtensive, s)
			}
			mf.mode = s
			return nil
		})
	fs.Func("listen-metrics-urls", "list of URLs to listen on for the metrics and health endpoints",
		urlListFlag("listen-metrics-urls", &mf.metricsURLs))
	fs.Func("listen-client-http-urls", "list of URLs to listen on for HTTP-only client traffic (JSON gateway, /metrics, /health, ...); setting it leaves only gRPC on --listen-client-urls",
		urlListFlag("listen-client-http-urls", &mf.clientHTTPURLs))
	fs.BoolVar(&mf.enablePprof, "enable-pprof", false, "enable runtime profiling data via HTTP server; address is at client URL + \"/debug/pprof/\"")
	return mf
}

// urlListFlag parses a comma-separated list of http:// or https:// URLs
// into *dst; an empty list is allowed.
func urlListFlag(name string, dst *[]*url.URL) func(string) error {
	return func(s string) error {
		var out []*url.URL
		for _, p := range splitList(s) {
			u, err := url.Parse(p)
			if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
				return fmt.Errorf("%q is not a URL like http://127.0.0.1:2381 (--%s takes http:// or https:// URLs)", p, name)
			}
			out = append(out, u)
		}
		*dst = out
		return nil
	}
}

// grpcOptions installs the gRPC server metrics (grpc_server_started_total,
// grpc_server_handled_total, and with --metrics extensive
// grpc_server_handling_seconds) and the byte-counting codec
// (etcd_network_client_grpc_{sent,received}_bytes_total) on the client
// gRPC server, as etcd's v3rpc.Server does.
func (mf *metricsFlags) grpcOptions() []grpc.ServerOption {
	gm := metrics.GRPCServer(mf.mode)
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(gm.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(gm.StreamServerInterceptor()),
		grpc.ForceServerCodecV2(metrics.ClientCodec()),
	}
}

// initGRPCMetrics gives every registered method its zero series, so a
// dashboard sees grpc_server_handled_total{...} 0 before the first call.
// Call it AFTER the services are registered on g.
func (mf *metricsFlags) initGRPCMetrics(g *grpc.Server) {
	metrics.GRPCServer(mf.mode).InitializeMetrics(g)
}
