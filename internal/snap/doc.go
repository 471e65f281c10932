// Package snap stores raft snapshots on disk: the small snapshot file (raft
// metadata plus the membership blob the node puts in Snapshot.Data) and the
// bbolt database files a follower receives from the leader. It plays the
// part of etcd's server/etcdserver/api/snap (snapshotter.go, db.go).
//
// # Files (all in one directory, <data-dir>/snap)
//
//	%016x-%016x.snap     term, index (lower-case hex): one raft snapshot
//	%016x.snap.db        index: a bbolt database received from the leader,
//	                     waiting to be swapped in as <data-dir>/db
//	*.tmp                a write that did not finish; ignored and removed
//
// A .snap file is
//
//	crc32c (4 bytes, little-endian) | protobuf(raftpb.Snapshot)
//
// where the CRC (Castagnoli) covers the protobuf bytes. Every file is
// written to "<name>.tmp", fsynced, renamed into place and the directory
// fsynced, so a name only ever points at complete, durable bytes.
//
// # Contract
//
//  1. SaveSnap MUST return BEFORE the matching WAL snapshot record is
//     written (wal.SaveSnapshot): a WAL marker then always has its file,
//     while a crash in between leaves only an orphan .snap the next start
//     ignores (etcd server/etcdserver/storage.go, SaveSnap, same order).
//  2. At start, LoadNewestAvailable(markers) returns the newest snapshot
//     whose (index, term) is also a WAL marker; newer files without a
//     marker are orphans of such a crash.
//  3. SaveDBFrom writes a received database under its index and verifies
//     the sha256 the sender appended; only a verified file gets its name.
//  4. Purge keeps the newest max .snap files; ReleaseDBs removes .snap.db
//     files that an applied snapshot made obsolete.
package snap
