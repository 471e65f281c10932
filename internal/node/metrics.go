package node

import "github.com/kvtrace/kvtrace/internal/metrics"

// The node exports etcd's leader and proposal metrics: setLeader (has/is
// leader, leader changes), noteCommit (committed), appliedWaiters.set
// (applied), Propose (pending, failed), Start (etcd_server_id).
func init() { metrics.MustRegister(metrics.Node...) }
