// Package apply turns etcd v3 KV requests into operations on internal/store,
// following etcd's server/etcdserver/txn package (range.go, put.go,
// delete.go, txn.go) and the request checks of
// server/etcdserver/api/v3rpc/key.go.
//
// # Contract
//
//  1. Before proposing, the gRPC layer validates requests with
//     CheckRangeRequest, CheckPutRequest, CheckDeleteRequest and
//     CheckTxnRequest; they return etcd's rpctypes errors.
//  2. The apply loop calls Apply once per committed raft entry, in index
//     order, from one goroutine. Each call is ONE store write txn: every
//     write of a request, a whole Txn with nested txns included, gets one
//     revision. The entry's index is recorded as applied even when the
//     request fails (the failure is deterministic, so every member fails it).
//  3. A Txn is decided before it runs: all compares, nested ones included,
//     see the state before the txn; then every op on the chosen path is
//     checked (compacted/future revisions, ignore_value/ignore_lease on a
//     missing key); only then are ops executed, in order, each seeing the
//     ones before it.
//  4. Range serves local reads (serializable, or after ReadIndex) from a
//     store read view; it may run concurrently with Apply.
//
// Responses carry only Header.Revision (the store revision after the
// request); the caller fills cluster_id, member_id and raft_term. Store
// errors are mapped to rpctypes.ErrGRPCCompacted and ErrGRPCFutureRev.
//
// Leases are stored on kvs but not checked: Applier.checkLease is the place
// for the lessor. Auth, leases, alarms and membership requests return
// ErrUnsupported.
package apply
