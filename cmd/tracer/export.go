package main

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/kvtrace/kvtrace/internal/traceview"
)

const exportHelp = `Writes the spans of PATHS to --out in the OpenTelemetry Collector's OTLP
JSON file format (what its file exporter writes and its otlpjsonfile
receiver reads): one ExportTraceServiceRequest per line, encoded by the
Collector's own pdata package.

PATHS are recordings (*.krec, written by the recorder under
<data-dir>/trace/) or, when they hold none, OTLP JSON span files. A torn
tail of a recording (a member killed while writing) is reported on stderr
and the rest is exported.`

// exportSpansPerLine bounds one line (one request), like an exporter batch.
const exportSpansPerLine = 512

func runExport(args []string, e env) error {
	fs := newFlags("export", "export --out FILE PATHS...", exportHelp, e)
	out := fs.String("out", "", "file to write (OTLP JSON lines); - for stdout")
	paths, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("export: --out FILE is required")
	}
	t, err := loadAny(paths, e)
	if err != nil {
		return err
	}
	w := e.stdout
	var f *os.File
	if *out != "-" {
		if f, err = os.Create(*out); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriter(w)
	n, err := writeOTLP(bw, t)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil && f != nil {
		err = f.Close()
	}
	if err != nil {
		return fmt.Errorf("export: write %s: %w", *out, err)
	}
	fmt.Fprintf(e.stderr, "exported %d spans of %d members to %s\n", n, len(t.Members), *out)
	return nil
}

// loadAny loads recordings if PATHS hold any, else OTLP JSON span files.
func loadAny(paths []string, e env) (*traceview.Trace, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("no PATHS given: name recordings, span files or directories")
	}
	if !holdsRecordings(paths) {
		return traceview.Load(paths...)
	}
	t, torn, err := traceview.LoadRecordings(paths...)
	for _, tt := range torn {
		fmt.Fprintln(e.stderr, "tracer: warning:", tt)
	}
	return t, err
}

func holdsRecordings(paths []string) bool {
	found := false
	for _, p := range paths {
		_ = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(path, ".krec") {
				found = true
				return filepath.SkipAll
			}
			return nil
		})
	}
	return found
}

// writeOTLP writes t's spans, grouped by member, as Collector OTLP JSON lines.
func writeOTLP(w *bufio.Writer, t *traceview.Trace) (int, error) {
	byMember := map[string][]*traceview.Span{}
	for i := range t.Spans {
		s := &t.Spans[i]
		byMember[s.Member] = append(byMember[s.Member], s)
	}
	var m ptrace.JSONMarshaler
	n := 0
	for _, member := range t.Members {
		spans := byMember[member]
		for len(spans) > 0 {
			chunk := spans[:min(exportSpansPerLine, len(spans))]
			spans = spans[len(chunk):]
			td := ptrace.NewTraces()
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("service.name", "kvd")
			rs.Resource().Attributes().PutStr("service.instance.id", member)
			ss := rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName("github.com/kvtrace/kvtrace")
			for _, s := range chunk {
				toPdata(ss.Spans().AppendEmpty(), s)
			}
			line, err := m.MarshalTraces(td)
			if err != nil {
				return n, err
			}
			if _, err := w.Write(append(line, '\n')); err != nil {
				return n, err
			}
			n += len(chunk)
		}
	}
	return n, nil
}

// stringAttrs are attributes of docs/spans.md that are strings even when
// their text looks like a number (hex ids, names).
var stringAttrs = map[string]bool{
	"kv.request_id": true, "raft.from_id": true, "raft.to_id": true, "kv.key": true, "raft.from": true,
	"raft.to": true, "raft.quorum": true, "raft.quorum_last": true, "kv.member": true, "kv.member_id": true,
	"rpc.method": true, "rpc.service": true, "rpc.system": true, "kv.op": true, "raft.msg_type": true,
	"raft.role": true, "raft.conf_change": true,
}

func toPdata(sp ptrace.Span, s *traceview.Span) {
	sp.SetTraceID(pcommon.TraceID(s.TraceID))
	sp.SetSpanID(pcommon.SpanID(s.SpanID))
	if !s.Parent.IsZero() {
		sp.SetParentSpanID(pcommon.SpanID(s.Parent))
	}
	sp.SetName(s.Name)
	sp.SetKind(ptrace.SpanKind(s.Kind))
	sp.SetStartTimestamp(pcommon.Timestamp(s.Start))
	sp.SetEndTimestamp(pcommon.Timestamp(s.End))
	attrs := sp.Attributes()
	attrs.EnsureCapacity(len(s.Attrs))
	for _, a := range s.Attrs {
		if !stringAttrs[a.Key] {
			if v, err := strconv.ParseInt(a.Value, 10, 64); err == nil {
				attrs.PutInt(a.Key, v)
				continue
			}
			if a.Value == "true" || a.Value == "false" {
				attrs.PutBool(a.Key, a.Value == "true")
				continue
			}
		}
		attrs.PutStr(a.Key, a.Value)
	}
	for _, l := range s.Links {
		lk := sp.Links().AppendEmpty()
		lk.SetTraceID(pcommon.TraceID(l.TraceID))
		lk.SetSpanID(pcommon.SpanID(l.SpanID))
	}
}
