// Package instrument names the boundaries of kvtrace's write path and, in later
// work, records spans, evaluates failpoints and marks debugger anchors at them.
//
// Contract:
//
//  1. Every boundary has ONE name (see names.go). The same string is the span
//     name, the failpoint name and the debugger anchor, so a reader who sees a
//     span in the tracer can set a failpoint or a breakpoint with the same word.
//  2. instrument imports no other kvtrace package; internal/node, internal/wal
//     and internal/store import it, never the other way round.
//  3. When nothing is traced the calls cost a branch and no allocation.
package instrument
