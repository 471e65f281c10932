package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kvtrace/kvtrace/internal/server"
	"github.com/kvtrace/kvtrace/internal/tlsutil"
	"github.com/kvtrace/kvtrace/internal/wal"
)

// config is what the flags say; names and defaults follow etcd
// (etcd server/embed/config.go, NewConfig; server/etcdmain/config.go).
type config struct {
	name                     string
	dataDir                  string
	listenClientURLs         []*url.URL
	advertiseClientURLs      []string
	listenPeerURLs           []*url.URL
	initialAdvertisePeerURLs []string
	initialCluster           string
	initialClusterState      string
	initialClusterToken      string
	heartbeat                time.Duration
	election                 time.Duration
	snapshotCount            uint64
	snapshotCatchUpEntries   uint64
	maxSnapshots             int
	maxWALs                  int
	maxRequestBytes          int
	maxTxnOps                int
	quotaBackendBytes        int64
	backendBatchInterval     time.Duration
	backendBatchLimit        int
	logLevel                 slog.Level
	watchProgressNotify      time.Duration // --watch-progress-notify-interval
	clientTLS, peerTLS       tlsutil.Info  // --cert-file ..., --peer-cert-file ... (tls.go)
	metrics                  *metricsFlags // --metrics, --listen-metrics-urls, ... (metrics_flags.go)

	trace            bool    // --trace
	traceFile        string  // --trace-file
	traceOTLP        string  // --trace-otlp-endpoint
	traceSampleRatio float64 // --trace-sample-ratio
	failpointAddr    string  // --failpoint-addr
	adminAddr        string  // --admin-addr
	profileRates     bool    // --debug-profile-rates
}

func parseFlags(args []string) (*config, error) {
	fs := flag.NewFlagSet("kvd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		name        = fs.String("name", "default", "human-readable name for this member")
		dataDir     = fs.String("data-dir", "", "path to the data directory (default \"<name>.kvd\")")
		lcurls      = fs.String("listen-client-urls", "http://localhost:2379", "list of URLs to listen on for client traffic")
		acurls      = fs.String("advertise-client-urls", "http://localhost:2379", "list of this member's client URLs to advertise to the rest of the cluster")
		lpurls      = fs.String("listen-peer-urls", "http://localhost:2380", "list of URLs to listen on for peer traffic")
		apurls      = fs.String("initial-advertise-peer-urls", "http://localhost:2380", "list of this member's peer URLs to advertise to the rest of the cluster")
		icluster    = fs.String("initial-cluster", "", "initial cluster configuration for bootstrapping (default \"<name>=<initial-advertise-peer-urls>\")")
		icState     = fs.String("initial-cluster-state", "new", "initial cluster state ('new' or 'existing')")
		icToken     = fs.String("initial-cluster-token", "etcd-cluster", "initial cluster token for the cluster during bootstrap")
		hb          = fs.Uint("heartbeat-interval", 100, "time (in milliseconds) of a heartbeat interval")
		el          = fs.Uint("election-timeout", 1000, "time (in milliseconds) for an election to timeout")
		snapCount   = fs.Uint64("snapshot-count", 10000, "number of committed transactions to trigger a snapshot to disk")
		catchUp     = fs.Uint64("snapshot-catchup-entries", 5000, "number of entries for a slow follower to catch-up after compacting the raft storage entries")
		catchUpExp  = fs.Uint64("experimental-snapshot-catchup-entries", 0, "deprecated: use --snapshot-catchup-entries")
		maxSnaps    = fs.Uint("max-snapshots", 5, "maximum number of snapshot files to retain (0 is unlimited)")
		maxWALs     = fs.Uint("max-wals", 5, "maximum number of wal files to retain (0 is unlimited)")
		walSegment  = fs.Int64("wal-segment-size", 0, "kvd only, for tests and labs: WAL segment size in bytes (0: 64 MiB, etcd's)")
		maxReq      = fs.Uint("max-request-bytes", 1572864, "maximum client request size in bytes the server will accept")
		maxTxn      = fs.Uint("max-txn-ops", 128, "maximum number of operations permitted in a transaction")
		quota       = fs.Int64("quota-backend-bytes", 0, "raise alarms when backend size exceeds the given quota (0 defaults to 2 GiB)")
		batchIvl    = fs.Duration("backend-batch-interval", 100*time.Millisecond, "the maximum time before commit the backend transaction")
		batchLim    = fs.Int("backend-batch-limit", 10000, "the maximum operations before commit the backend transaction")
		watchPN     = fs.Duration("watch-progress-notify-interval", server.DefaultProgressNotifyInterval, "duration of periodic watch progress notifications")
		watchPNExp  = fs.Duration("experimental-watch-progress-notify-interval", 0, "deprecated: use --watch-progress-notify-interval")
		logLevel    = fs.String("log-level", "info", "configures log level: debug, info, warn, error")
		showVersion = fs.Bool("version", false, "print the version and exit")
		traceOn     = fs.Bool("trace", false, "record spans at every raft/WAL/bbolt boundary (docs/spans.md) to <data-dir>/trace/spans.jsonl")
		traceFile   = fs.String("trace-file", "", "with --trace: write spans to this file instead (OTLP JSON lines)")
		traceOTLP   = fs.String("trace-otlp-endpoint", "", "also send spans to this OTLP gRPC collector (host:port); OTEL_EXPORTER_OTLP_* variables apply")
		traceRatio  = fs.Float64("trace-sample-ratio", 1, "fraction of client writes traced (parent-based: a sampled client traceparent is always kept)")
		fpAddr      = fs.String("failpoint-addr", "", "serve the gofail failpoint control protocol on this loopback address (e.g. 127.0.0.1:22381)")
		adminAddr   = fs.String("admin-addr", "", "serve the admin API (message faults, /faults) on this loopback address")
		profRates   = fs.Bool("debug-profile-rates", false, "with --admin-addr: record blocking and mutex contention so /debug/pprof/block and /debug/pprof/mutex are not empty (costs some CPU; for profiling only)")
	)
	clientTLS, peerTLS := addTLSFlags(fs) // tls.go
	metricsFlags := addMetricsFlags(fs)   // metrics_flags.go
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stdout)
			fmt.Println("usage: kvd [flags]\n       kvd demo [--help]\n\nflags (etcd's names and defaults):")
			fs.PrintDefaults()
			return nil, nil
		}
		return nil, fmt.Errorf("%v (see kvd --help)", err)
	}
	if *showVersion {
		fmt.Printf("kvd Version: %s (etcd API %s)\n", server.Version, server.Version)
		return nil, nil
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (flags start with --; see kvd --help)", fs.Arg(0))
	}
	c := &config{
		name:                   *name,
		dataDir:                *dataDir,
		initialCluster:         *icluster,
		initialClusterState:    *icState,
		initialClusterToken:    *icToken,
		heartbeat:              time.Duration(*hb) * time.Millisecond,
		election:               time.Duration(*el) * time.Millisecond,
		snapshotCount:          *snapCount,
		snapshotCatchUpEntries: *catchUp,
		maxSnapshots:           int(*maxSnaps),
		maxWALs:                int(*maxWALs),
		maxRequestBytes:        int(*maxReq),
		maxTxnOps:              int(*maxTxn),
		quotaBackendBytes:      *quota,
		backendBatchInterval:   *batchIvl,
		backendBatchLimit:      *batchLim,
		watchProgressNotify:    *watchPN,
		trace:                  *traceOn || *traceFile != "" || *traceOTLP != "",
		traceFile:              *traceFile,
		traceOTLP:              *traceOTLP,
		traceSampleRatio:       *traceRatio,
		failpointAddr:          *fpAddr,
		adminAddr:              *adminAddr,
		profileRates:           *profRates,
		metrics:                metricsFlags,
	}
	if c.dataDir == "" {
		c.dataDir = c.name + ".kvd"
	}
	if *walSegment > 0 {
		// A process-wide setting read by every WAL; set before any is opened.
		wal.SegmentSizeBytes = *walSegment
	}
	if *catchUpExp != 0 {
		c.snapshotCatchUpEntries = *catchUpExp
	}
	if *watchPNExp != 0 {
		c.watchProgressNotify = *watchPNExp
	}
	var err error
	if c.listenClientURLs, err = parseURLs("listen-client-urls", *lcurls); err != nil {
		return nil, err
	}
	if c.listenPeerURLs, err = parseURLs("listen-peer-urls", *lpurls); err != nil {
		return nil, err
	}
	c.advertiseClientURLs = splitList(*acurls)
	c.initialAdvertisePeerURLs = splitList(*apurls)
	if c.initialCluster == "" {
		parts := make([]string, 0, len(c.initialAdvertisePeerURLs))
		for _, u := range c.initialAdvertisePeerURLs {
			parts = append(parts, c.name+"="+u)
		}
		c.initialCluster = strings.Join(parts, ",")
	}
	c.clientTLS, c.peerTLS = *clientTLS, *peerTLS
	if err := c.checkTLS(); err != nil { // tls.go: https:// URLs need the certificate flags
		return nil, err
	}
	switch c.initialClusterState {
	case "new", "existing":
	default:
		return nil, fmt.Errorf("--initial-cluster-state must be 'new' or 'existing', not %q", c.initialClusterState)
	}
	if c.heartbeat == 0 || c.election < 5*c.heartbeat {
		return nil, fmt.Errorf("--election-timeout[%v] should be at least 5 times as --heartbeat-interval[%v]", c.election, c.heartbeat)
	}
	if c.profileRates && c.adminAddr == "" {
		return nil, errors.New("--debug-profile-rates needs --admin-addr (the profiles are served there, under /debug/pprof/)")
	}
	if c.traceSampleRatio <= 0 || c.traceSampleRatio > 1 {
		return nil, fmt.Errorf("--trace-sample-ratio %v: want a fraction in (0, 1]", c.traceSampleRatio)
	}
	if c.trace && c.traceFile == "" && c.traceOTLP == "" {
		c.traceFile = filepath.Join(c.dataDir, "trace", "spans.jsonl")
	}
	if c.quotaBackendBytes == 0 {
		c.quotaBackendBytes = 2 << 30
	}
	if err := c.logLevel.UnmarshalText([]byte(*logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", *logLevel)
	}
	return c, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parseURLs(flagName, s string) ([]*url.URL, error) {
	var out []*url.URL
	for _, p := range splitList(s) {
		u, err := url.Parse(p)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("--%s: %q is not a URL like http://127.0.0.1:2379", flagName, p)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return nil, fmt.Errorf("--%s: %q: the scheme must be http:// or https://", flagName, p)
		}
		out = append(out, u)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--%s is empty", flagName)
	}
	return out, nil
}
