// Package traceview reads the span files kvd members write and turns them into
// what the tracer shows: client writes, the events of one write on one lane
// per member, its stages, and percentiles across writes.
//
// Contract:
//
//  1. Input is docs/spans.md: OTLP JSON lines, one ExportTraceServiceRequest
//     per line, one file per member. Load takes files or directories (walked
//     recursively for *.jsonl, which covers <member>.kvd/trace/spans.jsonl).
//     Ids are read as hex (the OTLP JSON encoding) or base64 (the plain
//     protobuf JSON mapping); kind and status as numbers or enum names.
//  2. The member is the resource attribute service.instance.id (else the
//     span attribute kv.member). A span with neither, a line that is not a
//     request, a bad id, or a known span missing an attribute the model needs
//     (raft.send/raft.recv: raft.msg_type, raft.from, raft.to; raft.commit and
//     apply: raft.index) fails the load with ONE line naming file and line.
//  3. Span names outside the vocabulary are skipped and counted
//     (Trace.Unknown); unknown attributes are kept and shown. New spans and
//     attributes never break a reader.
//  4. A write is a trace holding an etcdserverpb.KV/Put, /Txn or /DeleteRange
//     server span. Its events are every span of that trace, every span that
//     LINKS to it (batched MsgApp, wal.save, bbolt.commit) and their children
//     (the wal.fsync under a batched wal.save). A raft.recv is matched to the
//     raft.send that is its parent, across members.
//  5. Stages are differences of span boundaries and nothing else (see the
//     Stage* constants): a stage whose spans are missing is left out, never
//     guessed. When a boundary repeats (a re-sent MsgApp) the FIRST crossing
//     counts. Percentiles are nearest-rank.
//  6. A Trace is immutable after Load/Build; Detail and Stats may be called
//     from several goroutines.
//
// Text and JSON renderings (WriteShow, WriteStats, WriteList, ShowJSON,
// StatsJSON) live here so the TUI, the headless commands and the notebooks
// print the same thing. fixturegen writes synthetic files that follow the
// same contract, for tests and benchmarks.
package traceview
