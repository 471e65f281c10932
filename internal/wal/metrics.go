package wal

import "github.com/kvtrace/kvtrace/internal/metrics"

// The WAL exports etcd_disk_wal_fsync_duration_seconds (syncFile).
func init() { metrics.MustRegister(metrics.WALFsyncSeconds) }
