// Package node runs one raft member: the Ready loop that persists to the WAL,
// sends peer messages and hands committed entries to the state machine, plus
// the proposal waits and the ReadIndex loop that serve the client API.
//
// Usage contract, in the order a caller uses it:
//
//  1. Build a Config (member name, data dir, initial cluster, timing) and a
//     StateMachine, then call New. New opens or creates the WAL under
//     DataDir/wal, replays it into a raft.MemoryStorage and builds a
//     raft.RawNode behind a mutex (rawnode.go: every goroutine steps raft
//     itself; raft.Node's goroutine is not used). It starts no goroutine.
//  2. Register Node.Transport() on the member's peer gRPC server, then call
//     Start. From now on the Ready loop runs (ready.go) and committed entries
//     are applied in log order on one apply goroutine (apply.go).
//  3. Propose(ctx, id, data) queues an encoded request (the Ready loop steps
//     all queued requests as one MsgProp) and waits until the entry carrying
//     it is applied; the StateMachine returns the request id with the
//     result, which wakes the waiter (wait.go).
//  4. LinearizableRead(ctx) returns once this member has applied everything
//     that was committed when the call began (ReadIndex, readindex.go).
//  5. Stop stops raft, waits for the loops, and closes the WAL.
//
// Snapshots (snapshot.go): every Config.SnapshotCount applied entries the
// apply goroutine commits the store, writes a raft snapshot (.snap file
// BEFORE the WAL marker), releases and purges WAL segments (MaxWALs) and
// .snap files (MaxSnapshots) and compacts raft's log, keeping
// SnapshotCatchUpEntries. A leader sends a follower that is too far behind
// its whole database on the transport's snapshot stream; the follower
// installs it in the crash-safe order written on saveReceivedSnapshot.
// These need a StateMachine that also implements SnapshotStateMachine.
//
// Membership (membership.go, confchange.go): AddMember, RemoveMember,
// PromoteMember, UpdateMember propose ConfChangeV2 entries after etcd's
// strict reconfiguration checks; the applied member list is persisted by a
// MembershipStateMachine in the same transaction as the entry. Removed()
// is closed when this member is removed.
//
// The Ready loop follows etcd's ordering (etcd v3.7
// server/etcdserver/raft.go, raftNode.start): the leader sends its messages
// BEFORE it persists (raft thesis §10.2.1, appending in parallel), a follower
// sends AFTER it has fsynced (its MsgAppResp promises the entry is durable).
// Every WAL error is fatal: a member that cannot persist must not vote or ack.
//
// internal/node never imports the gRPC service code (internal/server); it sees
// the state machine only through the StateMachine interface.
package node
