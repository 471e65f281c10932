// Package lease is kvtrace's lessor: the in-memory table of leases, the keys
// attached to them and, on the leader, their expiry times. It is modelled on
// etcd's server/lease/lessor.go and keeps its division of labour:
//
//  1. Every member changes the table only by applying raft entries, in log
//     order: Grant (LeaseGrant), Remove (LeaseRevoke, after the apply loop
//     deleted the lease's keys in the same store txn) and ApplyChanges (the
//     key changes of every applied request attach and detach keys). The
//     store persists leases in its `lease` bucket in the same batch, and
//     Recover rebuilds the table from that bucket and the live keys at start.
//  2. Only the PRIMARY (the leader's lessor) keeps expiry times; everyone
//     else holds every lease "forever". Expiry is decided by the primary
//     alone (Expired) and carried out through raft as a LeaseRevoke entry, so
//     every member deletes the same keys at the same revision.
//  3. Promote(extend) makes a lessor primary: every lease gets its full TTL
//     plus extend from now (etcd's rule: a new leader never shortens a
//     lease, it may only extend it, since it cannot know when the old leader
//     last renewed it). The caller promotes only after the new leader has
//     applied every entry of earlier terms. Demote drops the expiries.
//  4. Renew (keep-alive) is served by the primary only; followers forward.
//
// Not implemented: checkpoints of remaining TTLs (etcd's LeaseCheckpoint),
// so after a leader change a lease restarts from its full TTL.
//
// Locks: Lessor.mu guards everything in a Lessor and its Leases; it is never
// held while calling out of the package.
package lease
