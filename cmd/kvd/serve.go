package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/kvtrace/kvtrace/internal/node"
	"github.com/kvtrace/kvtrace/internal/server"
	"github.com/kvtrace/kvtrace/internal/store"
)

// grpcOverheadBytes is the room etcd leaves above --max-request-bytes for
// gRPC framing (etcd server/embed/config.go, grpcOverheadBytes).
const grpcOverheadBytes = 512 * 1024

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

	srv := server.New(st, dbPath, server.Limits{MaxRequestBytes: c.maxRequestBytes, MaxTxnOps: c.maxTxnOps}, lg.With("component", "server"))
	n, err := node.New(node.Config{
		Name:              c.name,
		DataDir:           c.dataDir,
		InitialCluster:    members,
		NewCluster:        c.initialClusterState == "new",
		ClusterToken:      c.initialClusterToken,
		HeartbeatInterval: c.heartbeat,
		ElectionTimeout:   c.election,
		SnapshotCount:     c.snapshotCount,
		StateMachine:      srv,
		Logger:            lg.With("component", "node"),
	})
	if err != nil {
		st.Close()
		return err
	}
	srv.SetNode(n, c.name, c.advertiseClientURLs)

	peerGRPC := grpc.NewServer(n.Transport().ServerOptions()...)
	n.Transport().Register(peerGRPC)
	for _, ln := range peerLns {
		lg.Info("serving peer traffic", "address", ln.Addr().String())
		go peerGRPC.Serve(ln)
	}
	n.Start()

	clientGRPC := grpc.NewServer(
		grpc.MaxRecvMsgSize(c.maxRequestBytes+grpcOverheadBytes),
		grpc.MaxSendMsgSize(1<<31-1),
		grpc.MaxConcurrentStreams(1<<31-1),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
	)
	srv.Register(clientGRPC)
	for _, ln := range clientLns {
		lg.Info("ready to serve client requests", "address", ln.Addr().String())
		go clientGRPC.Serve(ln)
	}

	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	sig := <-sigc
	lg.Info("received signal; shutting down", "signal", sig.String())

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
