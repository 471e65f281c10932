package metrics

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Peer traffic (etcd server/etcdserver/api/rafthttp/metrics.go), observed
// by internal/transport. The label value is the remote member's id in
// hex, as etcd's types.ID prints it.
var (
	peerSentBytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "etcd", Subsystem: "network", Name: "peer_sent_bytes_total",
		Help: "The total number of bytes sent to peers.",
	}, []string{"To"})
	peerReceivedBytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "etcd", Subsystem: "network", Name: "peer_received_bytes_total",
		Help: "The total number of bytes received from peers.",
	}, []string{"From"})
	peerRTT = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "etcd", Subsystem: "network", Name: "peer_round_trip_time_seconds",
		Help: "Round-Trip-Time histogram between peers",
		// 0.1ms to 3.2768s by powers of two, etcd's buckets.
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
	}, []string{"To"})
	activePeers = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "etcd", Subsystem: "network", Name: "active_peers",
		Help: "The current number of active peer connections.",
	}, []string{"Local", "Remote"})
	disconnectedPeers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "etcd", Subsystem: "network", Name: "disconnected_peers_total",
		Help: "The total number of disconnected peers.",
	}, []string{"Local", "Remote"})
	peerSentFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "etcd", Subsystem: "network", Name: "peer_sent_failures_total",
		Help: "The total number of send failures from peers.",
	}, []string{"To"})
	peerReceivedFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "etcd", Subsystem: "network", Name: "peer_received_failures_total",
		Help: "The total number of receive failures from peers.",
	}, []string{"From"})
	// knownPeers: etcd server/etcdserver/api/membership/metrics.go.
	knownPeers = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "etcd", Subsystem: "network", Name: "known_peers",
		Help: "The current number of known peers.",
	}, []string{"Local", "Remote"})
)

// Transport is every collector internal/transport observes.
var Transport = []prometheus.Collector{peerSentBytes, peerReceivedBytes, peerRTT, activePeers, disconnectedPeers,
	knownPeers, peerSentFailures, peerReceivedFailures}

// Peer holds one remote member's resolved children, so observing is an
// Add or Observe with no label lookup.
type Peer struct {
	SentBytes     prometheus.Counter  // bytes of frames written to the member
	ReceivedBytes prometheus.Counter  // bytes of frames read from the member
	RoundTrip     prometheus.Observer // seconds per probe round trip
	Active        prometheus.Gauge    // 1 while the stream to the member is up
	Disconnected  prometheus.Counter  // streams to the member that went down
	Known         prometheus.Gauge    // 1 while the member is a peer
	// SentFailures counts messages to the member that were dropped (queue
	// full, stream write failed); ReceivedFailures, streams from it that
	// ended in an error.
	SentFailures, ReceivedFailures prometheus.Counter
}

// ForPeer resolves the children for member id as seen by member local.
// Call it once per peer.
func ForPeer(local, id uint64) Peer {
	l, hex := fmt.Sprintf("%x", local), fmt.Sprintf("%x", id)
	return Peer{
		SentBytes:     peerSentBytes.WithLabelValues(hex),
		ReceivedBytes: peerReceivedBytes.WithLabelValues(hex),
		RoundTrip:     peerRTT.WithLabelValues(hex),
		Active:        activePeers.WithLabelValues(l, hex),
		Disconnected:  disconnectedPeers.WithLabelValues(l, hex),
		Known:         knownPeers.WithLabelValues(l, hex),

		SentFailures:     peerSentFailures.WithLabelValues(hex),
		ReceivedFailures: peerReceivedFailures.WithLabelValues(hex),
	}
}
