// Package store is kvtrace's MVCC key-value store on bbolt: revisions, the
// in-memory key index and the backend batch transaction. It is modelled on
// etcd's server/storage/mvcc and server/storage/backend and never imports
// raft or gRPC.
//
// # Contract
//
//  1. Open the store; it rebuilds the key index from bbolt and finishes a
//     compaction a crash interrupted. ConsistentIndex tells the apply loop
//     which raft entries are already in the store; it MUST skip those.
//  2. For each committed raft entry, in order, the apply loop (the only
//     writer) opens Write(index, term), makes its changes and calls End.
//     All changes of one txn share one main revision; a txn that changes
//     nothing does not move the revision but still advances the consistent
//     index. Compact(index, term, rev) is the other way to apply an entry.
//  3. Read may be called from any goroutine at any time; a view sees the
//     revision current when it was opened, committed to disk or not.
//  4. Close commits what is pending.
//
// Semantics follow etcd: the store starts at revision 1; each key has
// create_revision, mod_revision and version; a delete writes a tombstone and
// the next put starts a new generation (new create_revision, version 1);
// putting the same value again still makes a new revision and version.
// Reads below the compact revision fail with ErrCompacted, above the
// current revision with ErrFutureRev.
//
// # Durability
//
// All writes go into ONE long-lived bbolt read-write transaction, the batch
// tx, committed every Config.BatchInterval by a background goroutine, as soon
// as Config.BatchLimit bbolt operations are pending (checked when a write
// txn ends), on ForceCommit, on Compact, and on Close. Each commit writes the
// last applied (index, term) into the meta bucket IN THE SAME bbolt
// transaction as the data, so after a crash the file holds exactly the
// effects of entries up to its consistent_index (etcd issue 13766). fsync
// is always on; a failed commit is fatal (panic) on background paths and
// makes the store refuse further writes on the others.
//
// # Reads during a batch
//
// bbolt read transactions only see committed data, so every value written
// into the batch tx is also kept in an in-memory buffer until the commit
// that makes it visible to bbolt readers. Range walks the key index for the
// revisions to return, then looks each one up in that buffer, then in the
// batch being committed, then in a short-lived bbolt read transaction (see
// backend.readValues for why this is always complete). This replaces etcd's
// txReadBuffer/readTx merge; it is simpler because values are immutable
// once written under their revision.
//
// # Locks
//
// Three mutexes, always taken in this order:
//
//		backend.mu (batch-tx lock) BEFORE Store.mu BEFORE backend.bufMu
//
//	  - backend.mu guards the bbolt batch tx and commit bookkeeping. Held by a
//	    write txn from Write to End, by each commit, by each compaction step.
//	  - Store.mu (RWMutex) guards the key index, current and compact revision.
//	    Exclusive for a whole write txn (readers see a txn entirely or not at
//	    all) and for the compactor's index pass; shared for each Range.
//	  - backend.bufMu (RWMutex) guards the write buffer. Exclusive for each
//	    buffer update and for the two swaps of a commit; shared for the value
//	    look-ups of one Range. It is never held during the fsync.
//
// # bbolt layout
//
// Buckets (names as in etcd's schema package):
//
//	key   revision key -> mvccpb.KeyValue (protobuf)
//	meta  name -> 8-byte big-endian integer
//
// A `key` bucket key is 17 bytes: the main revision as 8 bytes big-endian,
// the byte '_', the sub revision as 8 bytes big-endian. A deletion appends
// an 18th byte 't' and stores a KeyValue holding only the key. Big-endian
// makes bbolt's key order the revision order.
//
// Meta keys:
//
//	consistent_index     raft index of the last entry whose effects are in the file
//	term                 raft term of that entry
//	scheduledCompactRev  last compaction requested (written and committed BEFORE deleting)
//	finishedCompactRev   last compaction whose deletes are all committed
//
// On open, scheduledCompactRev > finishedCompactRev means a compaction was
// interrupted; Open finishes it before returning. bbolt runs with
// NoFreelistSync (the freelist is rebuilt on open, as etcd does).
//
// # Compaction
//
// Compact(rev) keeps, for every key, the newest revision <= rev of the
// generation live at rev and everything newer; a tombstone at exactly rev is
// kept until the next compaction, as in etcd. The index is compacted first,
// then bbolt entries are deleted in steps of 1000 in the background.
//
// # Watch
//
// writeTxn.End announces each revision to the watchers AFTER publishing it;
// watchers are synced, unsynced (replaying history from the `key` bucket)
// or victims (their stream's buffer was full), and the apply loop never
// waits for one. See watch.go for the groups and their guarantees. The
// watch lock comes after backend.mu and before Store.mu in the lock order.
//
// # Leases
//
// A third bucket, `lease` (lease id, 8 bytes big-endian -> leasepb.Lease),
// is written by PutLease and DeleteLease inside the write txn that applies
// a grant or revoke (lease_bucket.go). Which keys belong to which lease is
// not stored separately: it is each live key's Lease field, and
// internal/lease tracks it from Changes().
//
// # Snapshots, restore, defragmentation (snapshot.go, restore.go)
//
// Snapshot streams a consistent copy of the committed file (after a
// ForceCommit) from one bbolt read tx and says which raft entry it holds
// last. Restore swaps a received database in with one atomic rename and
// rebuilds the index; Defragment rewrites the file without free pages and
// swaps it in the same way. Both hold all three locks during the swap.
// Membership (`members`, `members_removed`) and alarms (`alarm`) are
// written like any other applied entry: in the batch tx, with the
// consistent index (members.go, alarms.go). HashByRev hashes the `key`
// bucket up to a revision (hashkv.go).
package store
