// Package server serves etcd's v3 gRPC API on top of a raft member
// (internal/node) and the MVCC store (internal/store).
//
// Contract:
//
//  1. Reads: a serializable Range is answered from the local store at once; a
//     linearizable one first waits for node.LinearizableRead (ReadIndex).
//  2. Writes (Put, DeleteRange, Txn, Compact) are validated here with etcd's
//     rules and errors (go.etcd.io/etcd/api/v3/v3rpc/rpctypes), wrapped in an
//     etcdserverpb.InternalRaftRequest carrying a unique request id, proposed
//     through raft, and answered with the result the apply goroutine produced
//     for that id (Server.Apply, the node.StateMachine).
//  3. Every response header carries cluster_id, member_id, revision and
//     raft_term.
//  4. Errors are etcd's gRPC codes and messages so clientv3 and etcdctl map
//     them to the same error values as against etcd.
package server
