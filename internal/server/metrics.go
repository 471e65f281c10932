package server

import "github.com/kvtrace/kvtrace/internal/metrics"

// The server exports etcd_server_quota_backend_bytes (SetQuota).
func init() { metrics.MustRegister(metrics.QuotaBackendBytes) }
