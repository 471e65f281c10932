// Package record is kvtrace's hot-path trace recorder: every boundary of the
// write path appends one fixed-size binary record to a per-member buffer, and
// a background goroutine appends CRC-checked blocks of them to files under
// <data-dir>/trace/. No span objects, no JSON and no allocation happen on the
// hot path; the tracer turns the records into the spans of docs/spans.md
// afterwards (internal/traceview).
//
// This doc is the on-disk FORMAT SPEC. Everything is little-endian.
//
// # Usage contract
//
//  1. A member calls Open(Options{Dir: <data-dir>/trace, MemberID, Member}) once.
//     A nil *Recorder is a valid recorder that records nothing: Record, On
//     and NewSpanID on nil cost one branch and no allocation. Callers that
//     must compute a record's fields SHOULD test On() first.
//  2. At each boundary: Record(Rec{...}). Record copies the value into the
//     buffer and returns; it NEVER BLOCKS and never takes a lock. When the
//     buffer is full the record is dropped and counted (Stats.Dropped, and
//     in the next block header), never waited for.
//  3. Times are Now()/Mono(t): monotonic nanoseconds since Open. Span ids are
//     NewSpanID() (unique per recorder, never zero), so a message's sender can
//     put its span id beside the message and the receiver's record names it
//     as parent.
//  4. Close stops the writer, writes what is buffered, fsyncs and closes the
//     file, and returns the first persistence error. A write or sync error is
//     also reported at once through Options.OnError and by Err; after it the
//     recorder stops writing and counts every later record as dropped.
//
// # Files
//
// A recording is a directory of files named
//
//	%016x.krec   (the wall clock at the file's creation, Unix nanoseconds, lower-case hex)
//
// so names sort by time. A file is rotated (fsynced, closed, a new one
// created) when it reaches Options.MaxFileBytes. A file is
//
//	file header | block | block | ...
//
// # File header
//
//	bytes 0-7    magic "KVTREC\x00\x01"
//	bytes 8-9    format version, uint16 (Version = 1)
//	bytes 10-11  record size in bytes, uint16 (RecordSize = 96)
//	bytes 12-13  n, length of the member name, uint16 (at most 255)
//	bytes 14-15  zero
//	bytes 16-23  member id (raft id), uint64
//	bytes 24-31  wall clock at Open, Unix ns, int64: the anchor of monotonic time 0
//	bytes 32-39  zero (reserved)
//	bytes 40-    the member name (n bytes)
//	then         CRC-32C (Castagnoli) of all the bytes above, uint32
//
// A reader refuses a file whose magic, version, record size or header CRC is
// wrong: a version it does not know is a version it cannot read.
//
// # Blocks
//
//	bytes 0-3    body length L in bytes, uint32 (= 24*C + 96*N)
//	bytes 4-7    CRC-32C of bytes 8..47 of this header followed by the body
//	bytes 8-11   N, records in the block, uint32 (1..MaxBlockRecords)
//	bytes 12-15  C, entries of the context table, uint32 (0..N)
//	bytes 16-23  start of the block's first record, monotonic ns, int64
//	bytes 24-31  wall clock when the block was encoded, Unix ns, int64
//	bytes 32-39  monotonic clock at that same instant, ns, int64
//	bytes 40-47  records dropped (buffer full) since the previous block, uint64
//	body         C context entries, then N records
//
// A record's wall time is wall(block) + (mono(record) - mono(block)): every
// block re-anchors, so a long run follows the wall clock's adjustments
// without letting them reorder the records of one block.
//
// A context entry is 24 bytes: trace id (16) then parent span id (8), the
// trace context of the write a record belongs to. Records refer to it by
// position. The table is per block and deduplicated: the records of one write
// on one member (raft.send, wal.save, raft.commit, apply, ...) share the
// entry's context, so the table costs 24 bytes per write and member instead
// of 24 per record, and a block stays self-contained (a reader can start at
// any block; nothing refers across blocks).
//
// # Records (96 bytes)
//
//	0     boundary id, uint8: the row of instrument/names.Table (never 0)
//	1     kind, uint8: for messages raftpb.MessageType+1; for apply and the
//	      gRPC spans the operation (OpPut, ...); for raft.conf_change the
//	      raftpb.ConfChangeType+1; 0 for none
//	2-3   flags, uint16 (Flag*): bits 0-2 the raft role, then reject,
//	      must_sync, error status, snapshot received, quorum truncated
//	4-7   context, uint32: 1 + position in the block's context table; 0 = none
//	8-15  span id
//	16-23 start, monotonic ns, int64
//	24-31 end, monotonic ns, int64 (>= start)
//	32-39 term (the member's term; the entry's for apply and raft.propose)
//	40-47 first index \  the entries the record carried or covered: its span
//	48-55 last index  /  links every traced entry in [first, last]
//	56-63 index      (message Index; the entry's index; snapshot index; watch or lease id)
//	64-71 log term   (message LogTerm; hs_term; snapshot or entry term; quorum member 2)
//	72-79 commit     (message Commit; hs_commit; new commit; kv.revision; compact index)
//	80-87 peer       (message: the other member; request id; conf-change node; quorum member 3)
//	88-91 count      (entries carried; bbolt ops; watch events; gRPC status code)
//	92-95 bytes
//
// Which fields a boundary uses, and the span attribute each one becomes, is
// internal/traceview's recConverter.span (load_records.go), the one place
// that turns records into the spans of docs/spans.md. For raft.commit on
// the leader, raft.quorum is stored as up to three member ids in index, log
// term and peer (the last non-zero one is raft.quorum_last); a longer quorum
// is cut to its first three and FlagQuorumCut says so.
//
// # Links and the write's context
//
// The write's context rides inside the entry and beside messages as before
// (instrument.AppendEntryContext, EncodeMeta). A record stores one context:
// its parent. Links are NOT stored: a record's links are the contexts of the
// traced entries in [first, last], which a reader learns from the apply
// records (every member records one per applied entry, with the entry's
// context as parent). This is CockroachDB rafttrace's rule (messages that
// carry entries match by index range) and costs nothing per link. Limits,
// stated up front:
//
//   - an entry that was appended but never applied anywhere (overwritten by a
//     new leader, or the run ended first) has no known context: records that
//     carried it do not link it;
//   - a MsgProp carries entries that have no index yet: its record links
//     nothing (its own context is the write's, so it still joins the trace);
//   - variable-length attributes are not recorded: kv.key (so a reader
//     cannot select writes by key), the text of an error, and of a conf
//     change only the first change's type and node id;
//   - a leader's quorum keeps three members (FlagQuorumCut beyond).
//
// # Torn tails and corruption
//
// Blocks are appended with one write each and are not synced until Close or
// rotation. A reader checks every block. At the end of a file (any file: a
// member that crashed leaves its file's tail torn and the next run of its
// recorder starts a new file) the last block is a torn tail when
//
//   - the file ends inside its header or its body, or
//   - its header is inconsistent (counts that do not match the length) and
//     only zero bytes follow the header, or
//   - it fails its CRC and is the last thing in the file, or only zero bytes
//     follow it (a filesystem may zero-fill a tail after a crash).
//
// The process or machine stopped while that block was being written. The
// reader returns everything before it and a *TornTail warning; it never fails
// on one. Any other damage (a bad block followed by more data) is mid-file
// corruption and the reader fails with a *CorruptError naming the file and
// the block's offset, as internal/wal does: guessing past it could misplace
// every later record.
//
// kill -9 loses what was still in the buffer (normally what arrived in the
// last FlushInterval or quarter of the buffer; never more than the buffer
// holds) and the part of the last drain's write(2) that had not reached the
// file: one block, or the last few when a drain held more than
// MaxBlockRecords. Nothing that an earlier write put in the file is lost.
package record
