package metrics

import (
	"fmt"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
)

// Raft member state and proposals (etcd server/etcdserver/metrics.go).
// Observed by internal/node.
var (
	HasLeader = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "etcd", Subsystem: "server", Name: "has_leader",
		Help: "Whether or not a leader exists. 1 is existence, 0 is not.",
	})
	IsLeader = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "etcd", Subsystem: "server", Name: "is_leader",
		Help: "Whether or not this member is a leader. 1 if is, 0 otherwise.",
	})
	LeaderChanges = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "etcd", Subsystem: "server", Name: "leader_changes_seen_total",
		Help: "The number of leader changes seen.",
	})
	// ProposalsCommitted and ProposalsApplied are gauges holding raft
	// indexes, as in etcd (the _total suffix is etcd's).
	ProposalsCommitted = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "etcd", Subsystem: "server", Name: "proposals_committed_total",
		Help: "The total number of consensus proposals committed.",
	})
	ProposalsApplied = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "etcd", Subsystem: "server", Name: "proposals_applied_total",
		Help: "The total number of consensus proposals applied.",
	})
	ProposalsPending = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "etcd", Subsystem: "server", Name: "proposals_pending",
		Help: "The current number of pending proposals to commit.",
	})
	ProposalsFailed = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "etcd", Subsystem: "server", Name: "proposals_failed_total",
		Help: "The total number of failed proposals seen.",
	})
	serverID = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "etcd", Subsystem: "server", Name: "id",
		Help: "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.",
	}, []string{"server_id"})
	// isLearner: etcd server/etcdserver/api/membership/metrics.go.
	isLearner = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "etcd", Subsystem: "server", Name: "is_learner",
		Help: "Whether or not this member is a learner. 1 if is, 0 otherwise.",
	})
)

// Node is every collector internal/node observes, for its registering init.
var Node = []prometheus.Collector{HasLeader, IsLeader, LeaderChanges, ProposalsCommitted,
	ProposalsApplied, ProposalsPending, ProposalsFailed, serverID, isLearner}

// SetLearner records whether this member is a raft learner, after every
// membership change.
func SetLearner(learner bool) { isLearner.Set(b2f(learner)) }

// SetLeader records a SoftState change (etcd server/etcdserver/raft.go,
// raftNode.start): changed is true when a new, known leader replaced
// another.
func SetLeader(hasLeader, isLeader, changed bool) {
	if changed {
		LeaderChanges.Inc()
	}
	HasLeader.Set(b2f(hasLeader))
	IsLeader.Set(b2f(isLeader))
}

// SetServerID exports this member's id (etcd_server_id{server_id="<hex>"} 1).
func SetServerID(id uint64) { serverID.WithLabelValues(fmt.Sprintf("%x", id)).Set(1) }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Versions (etcd server/etcdserver/metrics.go; the cluster version,
// server/etcdserver/api/membership/metrics.go). Observed by cmd/kvd.
var (
	clusterVersion = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "etcd", Subsystem: "cluster", Name: "version",
		Help: "Which version is running. 1 for 'cluster_version' label with current cluster version",
	}, []string{"cluster_version"})
	serverVersion = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "etcd", Subsystem: "server", Name: "version",
		Help: "Which version is running. 1 for 'server_version' label with current version.",
	}, []string{"server_version"})
	goVersion = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "etcd", Subsystem: "server", Name: "go_version",
		Help: "Which Go version server is running with. 1 for 'server_go_version' label with current version.",
	}, []string{"server_go_version"})
)

// RegisterVersion registers and sets etcd_server_version,
// etcd_server_go_version and etcd_cluster_version (cluster is the
// major.minor every member runs, as etcd's label shows it: "3.7"). Call
// it once per process.
func RegisterVersion(version, cluster string) {
	prometheus.MustRegister(serverVersion, goVersion, clusterVersion)
	serverVersion.WithLabelValues(version).Set(1)
	goVersion.WithLabelValues(runtime.Version()).Set(1)
	clusterVersion.WithLabelValues(cluster).Set(1)
}

// QuotaBackendBytes is the backend quota (etcd server/storage/metrics.go),
// set by internal/server when the quota is configured.
var QuotaBackendBytes = prometheus.NewGauge(prometheus.GaugeOpts{
	Namespace: "etcd", Subsystem: "server", Name: "quota_backend_bytes",
	Help: "Current backend storage quota size in bytes.",
})
