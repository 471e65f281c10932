package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/kvtrace/kvtrace/instrument"
	"github.com/kvtrace/kvtrace/internal/node"
	"github.com/kvtrace/kvtrace/internal/server"
	"github.com/kvtrace/kvtrace/internal/store"
)

// grpcOverheadBytes is the room etcd leaves above --max-request-bytes for
// gRPC framing (etcd server/embed/config.go, grpcOverheadBytes).
const grpcOverheadBytes = 512 * 1024

// minWatchProgressNotifyInterval is the smallest --watch-progress-notify-interval
// honoured (etcd: v3rpc.minWatchProgressInterval).
const minWatchProgressNotifyInterval = 100 * time.Millisecond

// serve runs one member until SIGINT/SIGTERM.
func serve(c *config) error {
	lg := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: c.logLevel})).With("member", c.name)
	lg.Info("kvd starting", "version", server.Version, "go-version", runtimeVersion(), "pid", os.Getpid())
	lg.Info("configuration", "name", c.name, "data-dir", c.dataDir,
		"listen-client-urls", urlsString(c.listenClientURLs), "advertise-client-urls", c.advertiseClientURLs,
		"listen-peer-urls", urlsString(c.listenPeerURLs), "initial-advertise-peer-urls", c.initialAdvertisePeerURLs,
		"initial-cluster", c.initialCluster, "initial-cluster-state", c.initialClusterState,
		"heartbeat-interval", c.heartbeat, "election-timeout", c.election, "snapshot-count", c.snapshotCount,
		"max-request-bytes", c.maxRequestBytes, "max-txn-ops", c.maxTxnOps, "quota-backend-bytes", c.quotaBackendBytes,
		"backend-batch-interval", c.backendBatchInterval, "backend-batch-limit", c.backendBatchLimit)

	members, err := node.ParseInitialCluster(c.initialCluster, c.initialClusterToken)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.dataDir, 0o700); err != nil {
		return fmt.Errorf("cannot create --data-dir %s: %w", c.dataDir, err)
	}

	tlsc, err := c.loadTLS() // tls.go: bad certificate files fail here, before any listener
	if err != nil {
		return err
	}
	// Listen first so a port clash fails before anything touches the disk.
	peerLns, err := listenAll(c.listenPeerURLs)
	if err != nil {
		return err
	}
	clientLns, err := listenAll(c.listenClientURLs)
	if err != nil {
		closeAll(peerLns)
		return err
	}
	httpLns, err := c.metrics.listen(lg, c.clientTLS) // http_serve.go: --listen-client-http-urls, --listen-metrics-urls
	if err != nil {
		closeAll(peerLns)
		closeAll(clientLns)
		return err
	}
	peerLns = wrapTLS(lg, peerLns, c.listenPeerURLs, tlsc.peer)         // https:// only
	clientLns = wrapTLS(lg, clientLns, c.listenClientURLs, tlsc.client) // https:// only

	dbPath := filepath.Join(c.dataDir, "db")
	st, err := store.Open(store.Config{
		Path:          dbPath,
		BatchInterval: c.backendBatchInterval,
		BatchLimit:    c.backendBatchLimit,
		Logger:        lg.With("component", "store"),
	})
	if err != nil {
		return fmt.Errorf("opening the backend %s: %w", dbPath, err)
	}
	ci, ct := st.ConsistentIndex()
	lg.Info("opened backend", "path", dbPath, "consistent-index", ci, "term", ct, "revision", st.Rev(), "compact-revision", st.CompactRev())

	// Tracing, failpoints and the admin API are opt-in; with none of their
	// flags kvd runs the plain write path (instrument's off paths are a
	// branch each).
	memberID := node.MemberID(c.initialAdvertisePeerURLs, c.initialClusterToken)
	for _, m := range members {
		if m.Name == c.name {
			memberID = m.ID
		}
	}
	tp := instrument.Disabled()
	if c.trace {
		if tp, err = instrument.Setup(instrument.Config{Member: c.name, MemberID: memberID, File: c.traceFile,
			OTLPEndpoint: c.traceOTLP, SampleRatio: c.traceSampleRatio}); err != nil {
			st.Close()
			return fmt.Errorf("setting up tracing: %w", err)
		}
		// Watch delivery and lease expiry spans use the global provider.
		otel.SetTracerProvider(tp.TracerProvider())
		lg.Info("tracing on", "file", c.traceFile, "otlp-endpoint", c.traceOTLP, "sample-ratio", c.traceSampleRatio)
		if pct, raised := tracingGCPercent(os.Getenv("GOGC")); raised {
			debug.SetGCPercent(pct)
			lg.Info("tracing on: garbage collector target raised (set GOGC to choose another)", "gogc", pct)
		}
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tp.Shutdown(ctx); err != nil {
			lg.Error("flushing spans failed", "error", err)
		}
	}()
	if c.failpointAddr != "" {
		if err := instrument.EnableFailpoints(c.failpointAddr); err != nil {
			st.Close()
			return err
		}
		lg.Info("serving failpoint control", "address", instrument.FailpointsAddr())
	}

	srv := server.New(st, dbPath, server.Limits{MaxRequestBytes: c.maxRequestBytes, MaxTxnOps: c.maxTxnOps}, lg.With("component", "server"))
	n, err := node.New(node.Config{
		Name:                   c.name,
		DataDir:                c.dataDir,
		InitialCluster:         members,
		NewCluster:             c.initialClusterState == "new",
		ClusterToken:           c.initialClusterToken,
		HeartbeatInterval:      c.heartbeat,
		ElectionTimeout:        c.election,
		SnapshotCount:          c.snapshotCount,
		SnapshotCatchUpEntries: c.snapshotCatchUpEntries,
		MaxSnapshots:           c.maxSnapshots,
		MaxWALs:                c.maxWALs,
		StateMachine:           srv,
		Logger:                 lg.With("component", "node"),
		Tracer:                 tracerOrNil(tp),
		PeerTLS:                tlsc.peerDial,
	})
	if err != nil {
		st.Close()
		return err
	}
	srv.SetQuota(c.quotaBackendBytes)
	if d := c.watchProgressNotify; d > 0 {
		// etcd raises intervals below 100ms to 100ms (v3rpc.NewWatchServer):
		// a tiny interval would turn idle watch streams into busy loops.
		if d < minWatchProgressNotifyInterval {
			lg.Warn("adjusting watch progress notify interval to minimum period", "min-watch-progress-notify-interval", minWatchProgressNotifyInterval)
			d = minWatchProgressNotifyInterval
		}
		srv.SetProgressNotifyInterval(d)
	}
	// The tracer BEFORE the node: SetNode starts publishing this member's
	// attributes, and that proposal goes through the server's tracer.
	srv.SetTracer(tracerOrNil(tp))
	srv.SetNode(n, c.name, c.advertiseClientURLs)
	if c.adminAddr != "" {
		ln, err := listenLoopback(c.adminAddr, "admin-addr")
		if err != nil {
			st.Close()
			return err
		}
		admin := &adminServer{lg: lg.With("component", "admin"), tr: n.Transport(), members: members, self: n.ID()}
		if c.profileRates {
			setProfileRates()
		}
		lg.Info("serving the admin API", "address", ln.Addr().String())
		go http.Serve(ln, admin.handler())
	}

	peerGRPC := grpc.NewServer(n.Transport().ServerOptions()...)
	n.Transport().Register(peerGRPC)
	srv.RegisterPeer(peerGRPC) // followers forward lease keep-alives to the leader here
	for _, ln := range peerLns {
		lg.Info("serving peer traffic", "address", ln.Addr().String())
		go peerGRPC.Serve(ln)
	}
	n.Start()

	clientOpts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(c.maxRequestBytes + grpcOverheadBytes),
		grpc.MaxSendMsgSize(1<<31 - 1),
		grpc.MaxConcurrentStreams(1<<31 - 1),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		// Fixed windows: no BDP-estimator pings on client connections
		// (one write and one read per round trip while requests flow);
		// internal/transport does the same for peers (streamWindow).
		grpc.InitialWindowSize(1 << 20),
		grpc.InitialConnWindowSize(16 << 20),
	}
	clientOpts = append(clientOpts, c.metrics.grpcOptions()...) // metrics_flags.go: grpc_server_* metrics
	if tp.Enabled() {
		// otelgrpc opens the RPC span, continuing a client's W3C traceparent.
		clientOpts = append(clientOpts, grpc.StatsHandler(otelgrpc.NewServerHandler(
			otelgrpc.WithTracerProvider(tp.TracerProvider()))))
	}
	clientGRPC := grpc.NewServer(clientOpts...)
	srv.Register(clientGRPC)
	web, stopWeb := startWeb(lg, c.metrics, srv, n, clientGRPC, httpLns) // http_serve.go: grpc health, /metrics, /health, ...
	stopClients := serveClients(lg, clientGRPC, clientLns, web)          // gRPC + JSON gateway (client_serve.go)

	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	select {
	case sig := <-sigc:
		lg.Info("received signal; shutting down", "signal", sig.String())
	case <-n.Removed(): // etcd stops a member once it applied its own removal
		lg.Warn("this member was removed from the cluster; shutting down")
	}

	stopClients() // BEFORE the graceful stop: gateway streams would hold it up
	stopWeb()
	stopped := make(chan struct{})
	go func() { clientGRPC.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(2 * time.Second):
		clientGRPC.Stop()
	}
	n.Stop()
	peerGRPC.Stop()
	if err := st.Close(); err != nil {
		return fmt.Errorf("closing the backend: %w", err)
	}
	lg.Info("stopped")
	return nil
}

func listenAll(urls []*url.URL) ([]net.Listener, error) {
	var lns []net.Listener
	for _, u := range urls {
		ln, err := net.Listen("tcp", u.Host)
		if err != nil {
			closeAll(lns)
			return nil, fmt.Errorf("cannot listen on %s: %w (is another member or etcd using this port?)", u, err)
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

func closeAll(lns []net.Listener) {
	for _, ln := range lns {
		ln.Close()
	}
}

func urlsString(us []*url.URL) string {
	s := make([]string, len(us))
	for i, u := range us {
		s[i] = u.String()
	}
	return strings.Join(s, ",")
}

func runtimeVersion() string { return runtime.Version() }

// tracingGOGC is the GC target kvd uses while tracing, unless GOGC is set.
// Every span allocates (attributes, links, its encoded line), and with the
// default target of 100 the collector ran often enough to cost a traced
// cluster ~20% of its put throughput; at 200 the member's heap may grow to
// twice its live size before a collection (peak RSS of a traced leader under
// 64 concurrent puts ~55 -> ~75 MiB). docs/performance.md, Round 3.
const tracingGOGC = 200

// tracingGCPercent returns the GC target to set when tracing is on, and
// whether to set one at all: not when the user chose GOGC.
func tracingGCPercent(gogcEnv string) (int, bool) {
	if gogcEnv != "" {
		return 0, false
	}
	return tracingGOGC, true
}

// tracerOrNil gives the node and server a tracer only when tracing is on, so
// their off paths skip span work entirely.
func tracerOrNil(p *instrument.Provider) trace.Tracer {
	if !p.Enabled() {
		return nil
	}
	return p.Tracer()
}
