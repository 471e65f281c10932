package instrument

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// BenchmarkSpanCost is what one span costs a member with tracing on: Start
// with a remote parent, a preset span ID, an explicit timestamp, 6
// attributes and 2 links, End, and the export (encoding and the write) on
// the exporter's goroutine. Shutdown is inside the timed region so every
// span's export is paid for; cpu-ns/op is the process's CPU time (all
// goroutines) per span, and exported/op says whether spans were dropped.
func BenchmarkSpanCost(b *testing.B) {
	path := filepath.Join(b.TempDir(), "spans.jsonl")
	p, err := Setup(Config{Member: "m1", MemberID: 0x8e9e05c52164694d, File: path, FlushInterval: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	tr := p.Tracer()
	parent := trace.ContextWithRemoteSpanContext(context.Background(), testSC(true))
	links := []trace.Link{
		{SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled, Remote: true})},
		{SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{3}, SpanID: trace.SpanID{4}, TraceFlags: trace.FlagsSampled, Remote: true})},
	}
	at := time.Now()
	var ru0, ru1 syscall.Rusage
	b.ReportAllocs()
	b.ResetTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	for i := 0; i < b.N; i++ {
		ctx := WithSpanID(parent, NewSpanID())
		_, s := tr.Start(ctx, LeaderSend, trace.WithSpanKind(trace.SpanKindProducer), trace.WithTimestamp(at),
			trace.WithAttributes(AttrMember.String("m1"), AttrTerm.Int64(3), AttrRole.String(RoleLeader),
				AttrMsgType.String("MsgApp"), AttrIndex.Int64(int64(i)), AttrReject.Bool(false)),
			trace.WithLinks(links...))
		s.End(trace.WithTimestamp(at))
	}
	if err := p.Shutdown(context.Background()); err != nil {
		b.Fatal(err)
	}
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	b.StopTimer()
	cpu := time.Duration(syscall.TimevalToNsec(ru1.Utime) + syscall.TimevalToNsec(ru1.Stime) -
		syscall.TimevalToNsec(ru0.Utime) - syscall.TimevalToNsec(ru0.Stime))
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	raw, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(bytes.Count(raw, []byte(`"startTimeUnixNano"`)))/float64(b.N), "exported/op")
}
