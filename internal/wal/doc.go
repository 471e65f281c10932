// Package wal is kvtrace's write-ahead log: the durable record of raft's
// HardState and entries that a member replays at boot. Its design follows
// etcd's server/storage/wal (wal.go, encoder.go, decoder.go, repair.go); the
// byte layout below is kvtrace's own and is NOT compatible with etcd's files.
//
// # Usage contract
//
//  1. A new member calls Create(dir, metadata, lg). The WAL is ready for Save.
//  2. A restarting member calls Open(dir, at, lg), where at is the snapshot
//     the member restored (Snapshot{} if none). Open locks the segments,
//     checks every record from the segment that may hold at.Index onward and
//     repairs a torn tail (see Repair below).
//  3. It MUST then call ReadAll exactly once, BEFORE any Save. ReadAll returns
//     the metadata, the latest HardState and the entries after at.Index.
//  4. For every raft Ready: Save(hs, entries, mustSync) BEFORE the Ready's
//     messages that depend on them are acted upon (followers send after
//     persisting; see internal/node). Save returns only after the bytes are in
//     the file; with mustSync they are also on stable storage.
//  5. After a snapshot is written to disk: SaveSnapshot(Snapshot{Index, Term}),
//     then ReleaseLockTo(index), then Purge(max) deletes released segments
//     beyond the newest max files (purge.go). SnapshotMarkers lists the
//     markers a restart may start from.
//  6. Close. A WAL whose write or sync failed refuses every later write with
//     the first error (a failed fsync leaves the page cache in an unknown
//     state, so retrying could acknowledge data that is not durable).
//
// # Files
//
// A WAL is a directory of segment files named
//
//	%016x-%016x.wal   (sequence number, first raft index the segment may hold)
//
// in lower-case hex. The first segment is 0000000000000000-0000000000000000.wal.
// Sequence numbers are contiguous; names sort in log order. When the log was
// last written at index 0x20 and the tail is cut, the next segment is
// <seq+1>-0000000000000021.wal. Other names in the directory are ignored,
// except that Open deletes leftover "*.wal.tmp" files of an interrupted cut.
//
// Segments are preallocated to SegmentSizeBytes (fallocate, or extending the
// file with zeros where fallocate is unsupported), so the unwritten rest of
// the tail reads as zeros. A segment is always made durable under a
// temporary name first and only then renamed into place:
//
//   - Create writes the first segment inside "<dir>.tmp", fdatasyncs it,
//     fsyncs that directory, renames "<dir>.tmp" to dir and fsyncs the parent.
//   - A cut (Save found the tail at or past SegmentSizeBytes) truncates the
//     old tail to its used length and fdatasyncs it, writes the new segment's
//     header records to "<name>.tmp", fdatasyncs it, renames it to <name> and
//     fsyncs the directory.
//
// Hence every segment but the last is complete and durable, and the last one
// always starts with its complete header. Only the end of the last segment
// can hold bytes that were never synced.
//
// # Framing
//
// A segment is a sequence of frames, each starting at an 8-byte aligned
// offset:
//
//	+------------------------+---------------------+-------------+
//	| length word (8 bytes)  | record data (n)      | pad (0..7)  |
//	+------------------------+---------------------+-------------+
//
// The length word is little-endian. Its low 56 bits are n, the record data
// length. Its top byte is 0x80|pad: the 0x80 marker bit is ALWAYS set (so a
// single flipped bit can never turn a length word into the all-zero end
// marker) and the low three bits are the number of zero bytes appended so the
// next frame is 8-byte aligned, pad = (8 - n%8) % 8. Bits 0x78 of the top
// byte are zero. The decoder rejects any other form, n < 8, non-zero pad
// bytes, and any n that runs past the end of the file (which also bounds
// what a corrupt length can make it allocate).
//
// A length word of zero is the end-of-log marker: it is what the preallocated
// zeros after the last record look like. Exact end of file at a frame
// boundary also ends the segment.
//
// # Records
//
// Record data (n bytes) is a fixed 8-byte header followed by the payload:
//
//	byte 0     record type
//	byte 1     bitwise complement of byte 0 (so a damaged type is detected;
//	           the type is not covered by the CRC)
//	bytes 2-3  zero (reserved)
//	bytes 4-7  CRC, uint32 little-endian
//	bytes 8-   payload
//
// Types and payloads:
//
//	1 MetadataType  opaque bytes given to Create (cluster and member IDs)
//	2 EntryType     a raftpb.Entry, protobuf encoded
//	3 StateType     a raftpb.HardState, protobuf encoded
//	4 CRCType       empty; the CRC field carries the running CRC (below)
//	5 SnapshotType  16 bytes: Index uint64 LE, Term uint64 LE
//
// # CRC chain
//
// CRC-32C (Castagnoli). For every record except CRCType,
//
//	crc = crc32.Update(prevCRC, Castagnoli, payload)
//
// where prevCRC is the running CRC after the previous record, across segment
// boundaries; the first record's prevCRC is 0. A record's stored CRC
// therefore also vouches for every record before it. A CRCType record stores
// the running CRC unchanged and does not advance it. Every segment begins
// with a CRCType record, so a reader that starts at a later segment (the log
// before it was purged) takes its CRC from there; a reader already inside the
// chain checks that the value matches.
//
// Record order in a segment: CRC, Metadata, then for the first segment the
// empty snapshot marker {0,0}; for later segments the latest non-empty
// HardState. Then whatever Save and SaveSnapshot append: for each Save, the
// entries in order, then the HardState if it is not empty.
//
// # Replay
//
// ReadAll applies the records in order: an entry with index i > at.Index
// takes position i-at.Index-1 and DISCARDS every later entry (raft truncated
// its log: a newer leader overwrote an uncommitted suffix); an index that
// would leave a gap is corruption. The latest HardState wins. The snapshot
// marker equal to at.Index must be present, with at.Term, unless at is {0,0}.
//
// # Syncing
//
// Save writes all of its records with one pwrite; the bytes are in the page
// cache when it returns. It calls fdatasync only when mustSync is true (raft's
// Ready.MustSync), and always as part of a cut. SaveSnapshot always syncs.
// Close syncs anything still unsynced. Hooks.BeforeSync/AfterSync wrap every
// fdatasync of a segment with the number of bytes it makes durable.
//
// # Locking
//
// Every segment a WAL has open is flock(LOCK_EX|LOCK_NB)'d, the tail always,
// so a second process (or a second Open in this process) on the same
// directory fails with ErrLocked. ReleaseLockTo closes older segments so a
// purge may delete them. ReadDir takes no locks and changes nothing.
//
// # Repair
//
// Open scans the selected segments. Damage in any segment but the last, an
// unknown record type, a CRCType record that breaks the chain, and bytes
// after an end-of-log zero word make Open fail with a *CorruptError; no
// automatic action is safe, since acknowledged data may be affected.
//
// In the last segment, a record that is cut short (the file ends inside its
// length word or its data), or that is malformed or fails its CRC AND is
// followed by nothing but zeros up to the end of the file, is a torn write:
// the process or machine stopped while the final, unsynced write was reaching
// the disk. Nothing after it was acknowledged, since an acknowledged sync
// would have made it whole. Open then:
//
//  1. copies the whole segment to "<name>.broken" (".broken.1", ... if taken)
//     and fdatasyncs the copy,
//  2. truncates the segment at the end of the last good record, preallocates
//     it again, fsyncs it and fsyncs the directory,
//  3. logs one structured warning, and continues.
//
// If anything other than zeros follows the damaged record, the damage is in
// the middle of written data (bit rot, a bad sector, a zeroed page that later
// writes survived) and Open refuses with a *CorruptError whose message names
// the file and offset. Refusing costs availability; guessing could silently
// drop entries this member promised to keep.
package wal
