package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/kvtrace/kvtrace/internal/metrics"
	"github.com/kvtrace/kvtrace/internal/node"
	"github.com/kvtrace/kvtrace/internal/server"
	"github.com/kvtrace/kvtrace/internal/tlsutil"
)

// httpListeners are the listeners of --listen-client-http-urls and
// --listen-metrics-urls.
type httpListeners struct {
	client  []net.Listener // HTTP-only client listeners
	metrics []net.Listener // /metrics and the health endpoints only
}

func (l *httpListeners) close() {
	closeAll(l.client)
	closeAll(l.metrics)
}

// listen opens the HTTP-only listeners; https:// ones use the client
// certificate flags (etcd does the same for both kinds,
// embed/etcd.go: createMetricsListener, configureClientListeners). Call it
// with the other listeners, BEFORE anything touches the disk.
func (mf *metricsFlags) listen(lg *slog.Logger, clientTLS tlsutil.Info) (*httpListeners, error) {
	l := &httpListeners{}
	open := func(flagName string, urls []*url.URL) ([]net.Listener, error) {
		lns, err := listenAll(urls)
		if err != nil || !anyHTTPS(urls) {
			return lns, err
		}
		cfg, err := clientTLS.ServerConfig()
		if err != nil {
			closeAll(lns)
			return nil, fmt.Errorf("--%s: %w", flagName, err)
		}
		cfg.NextProtos = []string{"http/1.1"} // no gRPC here
		return wrapTLS(lg, lns, urls, cfg), nil
	}
	var err error
	if l.client, err = open("listen-client-http-urls", mf.clientHTTPURLs); err != nil {
		return nil, err
	}
	if l.metrics, err = open("listen-metrics-urls", mf.metricsURLs); err != nil {
		l.close()
		return nil, err
	}
	return l, nil
}

// clientWeb is the HTTP side of the client port (serveClients).
type clientWeb struct {
	// handler serves etcd's HTTP endpoints and hands the rest to gw, the
	// JSON gateway.
	handler func(gw http.Handler) http.Handler
	// httpOnly are the --listen-client-http-urls listeners; when there
	// are any, the --listen-client-urls listeners serve gRPC only.
	httpOnly []net.Listener
}

var registerProcessMetrics sync.Once

// startWeb sets up what etcd serves beside its gRPC API: the grpc.health.v1
// service and the gRPC metrics on g (call it AFTER the etcd services are
// registered on g and BEFORE g serves), the client port's HTTP endpoints
// (returned for serveClients), and the --listen-metrics-urls servers. stop
// closes those servers and turns the gRPC health status to NOT_SERVING.
func startWeb(lg *slog.Logger, mf *metricsFlags, srv *server.Server, n *node.Node, g *grpc.Server, lns *httpListeners) (web *clientWeb, stop func()) {
	registerProcessMetrics.Do(func() { metrics.RegisterProcess(server.Version, majorMinor(server.Version)) })
	hs := registerGRPCHealth(lg, g, n) // grpc_health.go
	mf.initGRPCMetrics(g)

	web = &clientWeb{httpOnly: lns.client, handler: func(gw http.Handler) http.Handler {
		mux := http.NewServeMux()
		mux.Handle(metrics.Path, metrics.Handler())
		handleHealth(lg, mux, srv)
		handleVersion(mux)
		handleDebugVars(mux) // http_debug.go
		if mf.enablePprof {
			handlePprof(mux)
		}
		mux.Handle("/", gw)
		return accessControl(allowAllOrigins, mux) // http_access.go
	}}
	if mf.enablePprof {
		lg.Info("pprof is enabled", "path", "/debug/pprof/")
	}

	// etcd's metrics listeners serve /metrics and the health endpoints,
	// not /version (embed/etcd.go, serveMetrics).
	mux := http.NewServeMux()
	mux.Handle(metrics.Path, metrics.Handler())
	handleHealth(lg, mux, srv)
	var servers []*http.Server
	for _, ln := range lns.metrics {
		s := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, s)
		lg.Info("serving metrics", "address", ln.Addr().String())
		go s.Serve(ln)
	}
	return web, func() {
		hs.Shutdown()
		for _, s := range servers {
			s.Close()
		}
	}
}
