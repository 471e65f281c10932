package wal

import "github.com/kvtrace/kvtrace/internal/metrics"

// The WAL exports etcd_disk_wal_fsync_duration_seconds (syncFile) and
// etcd_disk_wal_write_{duration_seconds,bytes_total} (write).
func init() { metrics.MustRegister(metrics.WAL...) }
