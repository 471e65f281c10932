package metrics

import "github.com/prometheus/client_golang/prometheus"

// MVCC operation counters and the live-key gauge (etcd
// server/storage/mvcc/metrics.go, counted as metrics_txn.go counts them:
// per operation of a txn, and a txn counted when it holds more than one).
// Observed by internal/store.
var (
	MVCCRanges = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "etcd", Subsystem: "mvcc", Name: "range_total",
		Help: "Total number of ranges seen by this member.",
	})
	mvccPuts = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "etcd", Subsystem: "mvcc", Name: "put_total",
		Help: "Total number of puts seen by this member.",
	})
	mvccDeletes = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "etcd", Subsystem: "mvcc", Name: "delete_total",
		Help: "Total number of deletes seen by this member.",
	})
	mvccTxns = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "etcd", Subsystem: "mvcc", Name: "txn_total",
		Help: "Total number of txns seen by this member.",
	})
	// MVCCKeys is the number of live keys.
	MVCCKeys = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "etcd_debugging", Subsystem: "mvcc", Name: "keys_total",
		Help: "Total number of keys.",
	})
)

// MVCCTxnEnd records a write txn that ran ranges, puts and deletes
// operations and changed the number of live keys by keysDelta.
func MVCCTxnEnd(ranges, puts, deletes, keysDelta int) {
	if ranges+puts+deletes > 1 {
		mvccTxns.Inc()
	}
	MVCCRanges.Add(float64(ranges))
	mvccPuts.Add(float64(puts))
	mvccDeletes.Add(float64(deletes))
	MVCCKeys.Add(float64(keysDelta))
}
