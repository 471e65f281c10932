// Package instrument names the boundaries of kvtrace's write path and, at
// each of them, records spans, evaluates failpoints and offers a debugger
// anchor. docs/spans.md is the span vocabulary; this package is its
// plumbing.
//
// Contract:
//
//  1. Every boundary has ONE name, declared in the table of instrument/names
//     and re-exported here (names.go). The same string is the span
//     name, the failpoint name and the debugger anchor, so a reader who sees a
//     span in the tracer can set a failpoint or a breakpoint with the same word.
//     A boundary calls, in this order: Anchor(name, member, term, index),
//     Failpoint(name), then starts its span.
//  2. instrument imports no other kvtrace package but its own leaf
//     vocabulary instrument/names; internal/node, internal/wal,
//     internal/store and the transport import it, never the other way round.
//  3. When nothing is traced the calls cost a branch and no allocation:
//     Disabled() hands out a no-op tracer whose contexts are invalid, and
//     AppendEntryContext, EncodeMeta and LinksFor then add nothing; Failpoint
//     is one atomic load while no failpoint is set; Anchor is an empty call.
//
// # Spans and files (provider.go, tracer.go, batcher.go, otlpfile.go)
//
// Setup builds one member's tracer provider: resource service.name=kvd,
// service.instance.id=<member>, kv.member_id=<hex id>; parent-based ratio
// sampling; one batching goroutine per exporter flushing at least every
// second; the global propagator set to W3C TraceContext. Shutdown MUST be
// called before exit, or the last batch is lost.
//
// The provider is kvtrace's own implementation of the OpenTelemetry trace
// API (tracer.go), not the SDK's: it records exactly what the SDK would
// (same sampling decisions, attribute deduplication, limits, status rules;
// TestTracerMatchesSDK runs the same calls through both), with span records
// recycled through a pool and encoded straight to OTLP JSON, because at
// 100% sampling the SDK's per-span CPU and garbage cost more than half the
// put throughput (issue 9). A full queue blocks the file exporter and is
// counted and reported for the OTLP/gRPC one (batcher.go); spans are never
// dropped silently.
//
// The file exporter appends one OTLP ExportTraceServiceRequest per line in
// the OTLP JSON encoding (ids as lower-case hex, 64-bit times as decimal
// strings, enums as numbers), one write per line to an O_APPEND file, fsync
// on Shutdown. ReadSpansFile and DecodeLine read it back, and also accept
// base64 ids and enum names, so files written by an OpenTelemetry Collector
// or by plain protojson read the same.
//
// # Trace context in entries and messages (entryctx.go, msgctx.go)
//
// The serving member appends the write's 55-byte W3C traceparent to the
// encoded etcdserverpb.InternalRaftRequest as protobuf field EntryTraceField
// (77001, bytes). Every member reads it back with EntryContext from the entry
// itself, so the context survives batching, re-sends by a new leader, WAL
// replay and snapshots. A message's sender span travels beside the message,
// as EncodeMeta bytes in the transport envelope's Meta field.
//
// # Failpoints (failpoint.go, failpoint_http.go)
//
// Every failpoint name of the table is registered with go.etcd.io/gofail's runtime when
// the package loads. Terms are gofail's; return("pause") is kvtrace's
// convention for "block this goroutine here until the term is changed or
// cleared" (see names.go). Control them in-process with SetFailpoint and
// ClearFailpoint, or over HTTP with EnableFailpoints on a loopback address:
//
//	curl -s 127.0.0.1:2381/                                     # list
//	curl -X PUT -d 'return("pause")' 127.0.0.1:2381/raftBeforeSave
//	curl -X DELETE 127.0.0.1:2381/raftBeforeSave                # release
//
// GOFAIL_FAILPOINTS="name=term;..." still sets terms at start-up. Prefer
// EnableFailpoints to GOFAIL_HTTP: gofail's own server bypasses this package,
// so it cannot release a pause and it keeps Failpoint off its fast path.
//
// # Debugger anchors (anchor.go)
//
// Anchor is an empty, never-inlined function every boundary calls with its
// name, the member and the raft entry (term, index) it is handling. To stop
// member m2 just before it fsyncs the WAL for entry 42:
//
//	$ dlv exec ./bin/kvd -- --name m2 ...     (or dlv attach <pid>)
//	(dlv) break instrument.Anchor
//	(dlv) condition 1 name == "wal.fsync" && member == "m2" && index == 42
//	(dlv) continue
//	(dlv) stack        # the boundary is frame 1
//
// The arguments are readable at the breakpoint in optimized builds too;
// build with -gcflags=all='-N -l' (dlv debug does) to also see the caller's
// locals.
package instrument
