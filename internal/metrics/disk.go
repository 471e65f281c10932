package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// diskBuckets: 1ms to 8.192s by powers of two, etcd's buckets for both disk
// histograms.
var diskBuckets = prometheus.ExponentialBuckets(0.001, 2, 14)

// WALFsyncSeconds is observed by internal/wal around every fdatasync of a
// segment (etcd server/storage/wal/metrics.go).
var WALFsyncSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
	Namespace: "etcd", Subsystem: "disk", Name: "wal_fsync_duration_seconds",
	Help:    "The latency distributions of fsync called by WAL.",
	Buckets: diskBuckets,
})

// WAL writes (etcd server/storage/wal/metrics.go), observed by internal/wal
// for every write of records to a segment. etcd's wal_write_bytes_total is a
// gauge that only grows; so is this one.
var (
	WALWriteSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "etcd", Subsystem: "disk", Name: "wal_write_duration_seconds",
		Help:    "The latency distributions of write called by WAL.",
		Buckets: diskBuckets,
	})
	WALWriteBytes = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "etcd", Subsystem: "disk", Name: "wal_write_bytes_total",
		Help: "Total number of bytes written in WAL.",
	})
)

// WALWrite records one write of n bytes that took d.
func WALWrite(d time.Duration, n int) {
	WALWriteSeconds.Observe(d.Seconds())
	WALWriteBytes.Add(float64(n))
}

// WAL is every collector internal/wal observes.
var WAL = []prometheus.Collector{WALFsyncSeconds, WALWriteSeconds, WALWriteBytes}

// BackendCommitSeconds is observed by internal/store for every bbolt commit
// of the batch tx (etcd server/storage/backend/metrics.go).
var BackendCommitSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
	Namespace: "etcd", Subsystem: "disk", Name: "backend_commit_duration_seconds",
	Help:    "The latency distributions of commit called by backend.",
	Buckets: diskBuckets,
})

// DB sizes (etcd server/storage/mvcc/metrics.go), set by internal/store
// whenever it learns the file's size: at open, after each batch commit and
// after a restore.
var (
	DBTotalSize = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "etcd", Subsystem: "mvcc", Name: "db_total_size_in_bytes",
		Help: "Total size of the underlying database physically allocated in bytes.",
	})
	DBTotalSizeInUse = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "etcd", Subsystem: "mvcc", Name: "db_total_size_in_use_in_bytes",
		Help: "Total size of the underlying database logically in use in bytes.",
	})
)

// Store is every collector internal/store observes.
var Store = []prometheus.Collector{BackendCommitSeconds, DBTotalSize, DBTotalSizeInUse,
	MVCCRanges, mvccPuts, mvccDeletes, mvccTxns, MVCCKeys}

// SetDBSize records the bbolt file's size and the bytes in use.
func SetDBSize(size, inUse int64) {
	DBTotalSize.Set(float64(size))
	DBTotalSizeInUse.Set(float64(inUse))
}
