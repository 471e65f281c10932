// Package inspect decodes a member's files without the server, the way
// etcd's tools/etcd-dump-logs and tools/etcd-dump-db do: the WAL directory
// (metadata, HardState records, entries with their decoded etcd request and
// trace id, snapshot markers) and the bbolt db (buckets, the `key` bucket in
// revision order or as of one revision, the `meta` bucket, leases).
//
// # Contract
//
//  1. Everything here is READ-ONLY. The WAL is read with wal.ReadDir, which
//     takes no locks, so it works on a running member too (its last record
//     may then show as a torn tail, reported and not treated as damage).
//  2. The db is opened with bbolt's ReadOnly option and a timeout. bbolt
//     takes a shared flock for that, which a running kvd's exclusive flock
//     refuses: OpenDB then fails with ErrDBLocked after the timeout instead of
//     hanging (stop the member, or copy the file first).
//  3. Formats are for people and for goldens: one line per record, stable
//     field order; the same items marshal to JSON for scripts.
//
// The layouts decoded here are documented where they are written:
// internal/wal (framing, record types), internal/node (WAL metadata: member
// id then cluster id, 8 bytes big-endian each), internal/store (buckets,
// revision keys, meta keys) and instrument (trace context field 77001).
package inspect
