// Package names is kvtrace's ONE table of boundary names: every span name a
// member writes, every failpoint name and every debugger anchor, each with a
// stable numeric ID that the hot-path recorder (instrument/record) stores in
// place of the string.
//
// Contract:
//
//  1. A name is declared here once, as a constant and as a row of Table.
//     instrument re-exports the constants for the packages on the write path;
//     internal/traceview and the tracer read Table to decide which span
//     names they know. Nobody else spells a span or failpoint name.
//  2. The same string is the span name, the failpoint name and the anchor
//     (instrument.Anchor's name argument) of one boundary; a row's Kind says
//     which of the three it is used as. Failpoint-only rows keep etcd's
//     spelling (raftBeforeSave, ...).
//  3. IDs are part of the record file format: a row's ID never changes and a
//     retired name keeps its row (Kind Legacy). New rows take the next free
//     ID. ID 0 is never a name, so a zeroed record is recognisably empty.
//  4. This package imports nothing but the standard library, so a reader
//     (the tracer) can use the vocabulary without linking the recorder, the
//     OpenTelemetry SDK or the exporters.
package names
