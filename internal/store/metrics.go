package store

import "github.com/kvtrace/kvtrace/internal/metrics"

// The store exports etcd_disk_backend_commit_duration_seconds
// (commitLocked) and etcd_mvcc_db_total_size{,_in_use}_in_bytes
// (noteSizeLocked).
func init() { metrics.MustRegister(metrics.Store...) }

// noteSizeLocked records the size of the bbolt file as the batch tx tx
// sees it, for the quota check (b.size) and the metrics. b.mu MUST be held
// (or b not yet shared, in openBackend).
// In use is the file less its free and pending pages, as DBSize computes it.
func (b *backend) noteSizeLocked(size int64) {
	b.size.Store(size)
	st := b.db.Stats()
	metrics.SetDBSize(size, size-int64(st.FreePageN+st.PendingPageN)*int64(b.db.Info().PageSize))
}
