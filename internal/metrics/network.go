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
)

// Transport is every collector internal/transport observes.
var Transport = []prometheus.Collector{peerSentBytes, peerReceivedBytes, peerRTT}

// Peer holds one remote member's resolved children, so observing is an
// Add or Observe with no label lookup.
type Peer struct {
	SentBytes     prometheus.Counter  // bytes of frames written to the member
	ReceivedBytes prometheus.Counter  // bytes of frames read from the member
	RoundTrip     prometheus.Observer // seconds per probe round trip
}

// ForPeer resolves the children for member id. Call it once per peer.
func ForPeer(id uint64) Peer {
	hex := fmt.Sprintf("%x", id)
	return Peer{
		SentBytes:     peerSentBytes.WithLabelValues(hex),
		ReceivedBytes: peerReceivedBytes.WithLabelValues(hex),
		RoundTrip:     peerRTT.WithLabelValues(hex),
	}
}
