package instrument

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// kvtrace's tracer (tracer.go) MUST record what the OpenTelemetry SDK
// records. These tests run the same calls against both and compare the
// decoded OTLP output span by span.

// scenario makes spans with every feature kvtrace or otelgrpc uses, and the
// SDK's edge cases (duplicate keys, limits, invalid attributes, status
// precedence). IDs and times are explicit so both runs are comparable.
func scenario(tp trace.TracerProvider) {
	tr := tp.Tracer(TracerName)
	other := tp.Tracer("otelgrpc", trace.WithInstrumentationVersion("0.72.0"), trace.WithSchemaURL("https://schema/x"))
	t0 := time.Unix(1_700_000_000, 123456789)
	at := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Microsecond) }
	sid := func(n byte) trace.SpanID { return trace.SpanID{0xaa, n, 1, 2, 3, 4, 5, 6} }
	ts, _ := trace.ParseTraceState("k=v")
	remote := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID: trace.SpanID{9, 9, 9}, TraceFlags: trace.FlagsSampled, TraceState: ts, Remote: true})
	unsampled := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{7}, SpanID: trace.SpanID{7}, Remote: true})
	rctx := trace.ContextWithRemoteSpanContext(context.Background(), remote)

	// A server span with attributes set at start and later, duplicates.
	ctx, rpc := other.Start(WithSpanID(rctx, sid(1)), "etcdserverpb.KV/Put", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithTimestamp(at(0)), trace.WithAttributes(attribute.String("rpc.system", "grpc"), AttrMember.String("m1")))
	rpc.SetAttributes(AttrKey.String("foo"), AttrMember.String("m1-again"), attribute.String("", "invalid"))
	ctx, propose := tr.Start(WithSpanID(ctx, sid(2)), Propose, trace.WithTimestamp(at(1)),
		trace.WithAttributes(append(MemberAttrs("m1", 1), AttrIndex.Int64(5), AttrIndex.Int64(6))...))
	propose.AddEvent("fsync.start", trace.WithTimestamp(at(2)), trace.WithAttributes(AttrBytes.Int64(4096),
		attribute.Map("nested", attribute.String("k", "a"), attribute.String("k", "b"))))
	propose.RecordError(errors.New("boom"), trace.WithTimestamp(at(3)))
	propose.RecordError(nil)
	propose.SetStatus(codes.Error, "first")
	propose.SetStatus(codes.Error, "boom")
	propose.SetStatus(codes.Unset, "ignored")
	propose.SetName(Propose + ".renamed")
	propose.End(trace.WithTimestamp(at(4)))
	propose.SetAttributes(AttrKey.String("after-end")) // ignored
	propose.End(trace.WithTimestamp(at(99)))           // ignored
	rpc.SetStatus(codes.Ok, "dropped description")
	rpc.SetStatus(codes.Error, "cannot override ok")
	rpc.SetAttributes(AttrRevision.Int64(42))

	// Links with attributes, invalid links, AddLink later, a new root.
	links := []trace.Link{
		{SpanContext: propose.SpanContext(), Attributes: []attribute.KeyValue{AttrIndex.Int64(5), AttrIndex.Int64(6)}},
		{}, // dropped: invalid and empty
		{SpanContext: remote},
		{Attributes: []attribute.KeyValue{AttrTerm.Int64(1)}}, // kept: has attributes
	}
	_, commit := tr.Start(WithSpanID(rctx, sid(3)), BackendCommit, trace.WithTimestamp(at(5)), trace.WithLinks(links...),
		trace.WithSpanKind(trace.SpanKindProducer))
	commit.AddLink(trace.Link{SpanContext: unsampled})
	commit.AddLink(trace.Link{})
	commit.End(trace.WithTimestamp(at(6)))

	// Over the limits: 130 attributes with updates, 130 events, 130 links,
	// a link and an event with 130 attributes.
	many := make([]attribute.KeyValue, 130)
	for i := range many {
		many[i] = attribute.Int(fmt.Sprintf("a%03d", i), i)
	}
	manyLinks := make([]trace.Link, 130)
	for i := range manyLinks {
		manyLinks[i] = trace.Link{SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{byte(i), 1}, SpanID: trace.SpanID{byte(i), 2}})}
	}
	manyLinks[129].Attributes = many
	_, big := tr.Start(WithSpanID(rctx, sid(4)), "big", trace.WithTimestamp(at(7)), trace.WithAttributes(many[:100]...),
		trace.WithLinks(manyLinks...))
	big.SetAttributes(many[90:]...)
	big.SetAttributes(attribute.Int("a000", -1), attribute.Int("new", 1))
	for i := 0; i < 130; i++ {
		big.AddEvent(fmt.Sprintf("e%d", i), trace.WithTimestamp(at(8+i)))
	}
	big.AddEvent("last", trace.WithTimestamp(at(200)), trace.WithAttributes(many...))
	big.End(trace.WithTimestamp(at(201)))

	// A child of a local parent; an unsampled remote parent (not recorded).
	lctx, local := tr.Start(WithSpanID(rctx, sid(5)), "local", trace.WithTimestamp(at(300)))
	_, child := tr.Start(WithSpanID(lctx, sid(6)), "child", trace.WithTimestamp(at(301)), trace.WithSpanKind(trace.SpanKindConsumer))
	child.End(trace.WithTimestamp(at(302)))
	local.End(trace.WithTimestamp(at(303)))
	_, skipped := tr.Start(WithSpanID(trace.ContextWithRemoteSpanContext(context.Background(), unsampled), sid(7)), "unsampled")
	skipped.SetAttributes(AttrKey.String("x"))
	skipped.End()
	rpc.End(trace.WithTimestamp(at(400)))
}

// captureSDK collects the SDK's spans.
type captureSDK struct {
	mu    sync.Mutex
	spans []sdktrace.ReadOnlySpan
}

func (c *captureSDK) ExportSpans(_ context.Context, s []sdktrace.ReadOnlySpan) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.spans = append(c.spans, s...)
	return nil
}
func (c *captureSDK) Shutdown(context.Context) error { return nil }

// captureRecords encodes kvtrace's batches with both encoders: the direct
// one (appendRecordsJSON) and, as the oracle, the SDK snapshot path.
type captureRecords struct {
	direct, viaSnapshot [][]byte
}

func (c *captureRecords) export(_ context.Context, batch []*record) error {
	c.direct = append(c.direct, appendRecordsJSON(nil, batch))
	var spans []sdktrace.ReadOnlySpan
	for _, r := range batch {
		spans = append(spans, r.stub().Snapshot())
	}
	c.viaSnapshot = append(c.viaSnapshot, appendSpansJSON(nil, spans))
	return nil
}
func (c *captureRecords) shutdown(context.Context) error { return nil }

type flatSpan struct {
	res, scope string
	span       *tracepb.Span
}

func flatten(t *testing.T, lines [][]byte) map[string]flatSpan {
	t.Helper()
	out := map[string]flatSpan{}
	for _, line := range lines {
		req, err := DecodeLine(line)
		if err != nil {
			t.Fatalf("decode %s: %v", line, err)
		}
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					out[hex.EncodeToString(s.SpanId)] = flatSpan{
						res:   fmt.Sprint(rs.Resource.String(), rs.SchemaUrl),
						scope: fmt.Sprint(ss.Scope.String(), ss.SchemaUrl), span: s}
				}
			}
		}
	}
	return out
}

func TestTracerMatchesSDK(t *testing.T) {
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(AttrServiceName.String("kvd")))
	if err != nil {
		t.Fatal(err)
	}
	sdkExp := &captureSDK{}
	sdk := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithSyncer(sdkExp),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(1))), sdktrace.WithIDGenerator(idGenerator{}))
	scenario(sdk)
	if err := sdk.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := flatten(t, [][]byte{appendSpansJSON(nil, sdkExp.spans)})

	tp := newTracerProvider(res, 1)
	ours := &captureRecords{}
	tp.batchers = append(tp.batchers, newBatcher(ours, time.Hour, true))
	scenario(tp)
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := flatten(t, ours.direct)

	if len(want) != 6 {
		t.Fatalf("the SDK recorded %d spans, want 6", len(want))
	}
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		w, g := want[id], got[id]
		if g.span == nil {
			t.Errorf("span %s (%s) missing", id, w.span.Name)
			continue
		}
		if !proto.Equal(g.span, w.span) {
			t.Errorf("span %s differs:\n got %v\nwant %v", id, g.span, w.span)
		}
		if g.res != w.res || g.scope != w.scope {
			t.Errorf("span %s resource/scope %q %q, want %q %q", id, g.res, g.scope, w.res, w.scope)
		}
	}
	if len(got) != len(want) {
		t.Errorf("recorded %d spans, the SDK %d", len(got), len(want))
	}
	// The direct encoder writes the very bytes of the SDK-snapshot path.
	for i := range ours.direct {
		if !bytes.Equal(ours.direct[i], ours.viaSnapshot[i]) {
			t.Errorf("batch %d: direct encoding differs from the snapshot path:\n got %s\nwant %s", i, ours.direct[i], ours.viaSnapshot[i])
		}
	}
}

// The root sampling decision is sdktrace.TraceIDRatioBased's, bit for bit.
func TestSamplingMatchesSDK(t *testing.T) {
	for _, ratio := range []float64{1e-12, 0.001, 0.25, 0.5, 0.9999, 1} {
		sampler := sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))
		tp := newTracerProvider(resource.Empty(), ratio)
		n := 0
		for i := 0; i < 20000; i++ {
			var tid trace.TraceID
			for j := range tid {
				tid[j] = byte(rand.Uint32())
			}
			if i%2 == 0 { // probe near the bound too
				b := uint64(ratio*(1<<63)) + uint64(i%5) - 2
				for j := 0; j < 8; j++ {
					tid[8+j] = byte((b << 1) >> (56 - 8*j))
				}
			}
			want := sampler.ShouldSample(sdktrace.SamplingParameters{ParentContext: context.Background(), TraceID: tid}).Decision == sdktrace.RecordAndSample
			if got := tp.sampled(trace.SpanContext{}, tid); got != want {
				t.Fatalf("ratio %v trace %x: sampled %v, the SDK %v", ratio, tid, got, want)
			}
			if want {
				n++
			}
		}
		t.Logf("ratio %v: %d of 20000 sampled", ratio, n)
	}
}

// A handle kept after End keeps its span context, and leaves a recycled
// record alone.
func TestHandleAfterRecycle(t *testing.T) {
	tp := newTracerProvider(resource.Empty(), 1)
	tr := tp.Tracer(TracerName)
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), testSC(true))
	_, old := tr.Start(ctx, "old")
	sc := old.SpanContext()
	old.End() // no exporter: recycled at once
	_, fresh := tr.Start(ctx, "fresh")
	old.SetAttributes(AttrKey.String("stale"))
	old.SetName("stale")
	old.End()
	if !old.SpanContext().Equal(sc) || old.IsRecording() {
		t.Fatalf("ended handle: context %v recording %v", old.SpanContext(), old.IsRecording())
	}
	h := fresh.(*spanHandle)
	if !fresh.IsRecording() || h.r.name != "fresh" || len(h.r.attrs) != 0 {
		t.Fatalf("fresh span disturbed by a stale handle: name %q attrs %v", h.r.name, h.r.attrs)
	}
	fresh.End()
}

// Concurrent spans, some ended while the exporter writes: run with -race.
func TestTracerConcurrent(t *testing.T) {
	tp := newTracerProvider(resource.Empty(), 1)
	ours := &countRecords{}
	tp.batchers = append(tp.batchers, newBatcher(ours, time.Millisecond, true))
	tr := tp.Tracer(TracerName)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 3000; i++ {
				ctx, s := tr.Start(context.Background(), "s", trace.WithAttributes(AttrIndex.Int(i)))
				_, c := tr.Start(ctx, "c")
				s.SetAttributes(AttrTerm.Int(1))
				c.End()
				s.End()
				s.SetAttributes(AttrTerm.Int(2)) // after End: ignored
			}
		}()
	}
	wg.Wait()
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ours.n != 4*3000*2 {
		t.Fatalf("exported %d spans, want %d", ours.n, 4*3000*2)
	}
}

type countRecords struct{ n int }

func (c *countRecords) export(_ context.Context, batch []*record) error {
	for _, r := range batch {
		if r.name != "s" && r.name != "c" {
			return fmt.Errorf("bad record %q", r.name)
		}
	}
	c.n += len(batch)
	return nil
}
func (c *countRecords) shutdown(context.Context) error { return nil }

// appendString's output decodes back to the string (invalid UTF-8 as
// U+FFFD) and never holds a raw control or HTML-sensitive byte.
func TestAppendStringRoundTrip(t *testing.T) {
	cases := []string{"", "raft.msg_type", "a\"b\\c", "<&>", "\x00\x1f\x7f", "é\u2028\u2029x", "bad\xffutf8", "\t\r\n"}
	for i := 0; i < 2000; i++ {
		b := make([]byte, rand.IntN(12))
		for j := range b {
			b[j] = byte(rand.IntN(256))
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		enc := appendString(nil, s)
		var got string
		if err := json.Unmarshal(enc, &got); err != nil {
			t.Fatalf("%q encoded as %s: %v", s, enc, err)
		}
		if want := strings.ToValidUTF8(s, "\ufffd"); got != want && !utf8.ValidString(s) {
			// ToValidUTF8 folds a run of bad bytes into one U+FFFD; appendString
			// writes one per byte, as encoding/json does.
			if strings.ReplaceAll(got, "\ufffd", "") != strings.ReplaceAll(want, "\ufffd", "") {
				t.Fatalf("%q round-tripped as %q", s, got)
			}
		} else if got != want {
			t.Fatalf("%q round-tripped as %q", s, got)
		}
		if bytes.ContainsAny(enc, "<>&\u2028\u2029") {
			t.Fatalf("%q encoded with a raw HTML-sensitive character: %s", s, enc)
		}
	}
}

// With a file and a collector, both get every span: records are shared by
// two exporter goroutines and recycled after the second (run with -race).
func TestSetupFileAndOTLP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	c := &collector{got: make(chan *collectortrace.ExportTraceServiceRequest, 1024)}
	collectortrace.RegisterTraceServiceServer(srv, c)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)

	path := filepath.Join(t.TempDir(), "spans.jsonl")
	p, err := Setup(Config{Member: "m5", MemberID: 5, File: path, OTLPEndpoint: ln.Addr().String(), FlushInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000
	ids := make(chan string, n)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n/4; i++ {
				_, s := p.Tracer().Start(context.Background(), Apply, trace.WithAttributes(AttrIndex.Int(i), AttrIndex.Int(i+1)))
				s.End()
				ids <- s.SpanContext().SpanID().String()
			}
		}()
	}
	wg.Wait()
	close(ids)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	rss, err := ReadSpansFile(path)
	if err != nil {
		t.Fatal(err)
	}
	inFile := spansByID(rss)
	inCollector := map[string]*tracepb.Span{}
	for len(inCollector) < n {
		select {
		case req := <-c.got:
			for id, s := range spansByID(req.ResourceSpans) {
				inCollector[id] = s
			}
		case <-time.After(waitLimit):
			t.Fatalf("collector got %d spans, want %d", len(inCollector), n)
		}
	}
	for id := range ids {
		f, g := inFile[id], inCollector[id]
		if f == nil || g == nil {
			t.Fatalf("span %s: in file %v, at collector %v", id, f != nil, g != nil)
		}
		if g.Status != nil && g.Status.Code == 0 && g.Status.Message == "" {
			g.Status = nil // the gRPC transform always sets it; JSON leaves an empty one out
		}
		if !proto.Equal(f, g) || len(f.Attributes) != 1 {
			t.Fatalf("span %s differs between file and collector, or kept a duplicate key:\nfile %v\ncollector %v", id, f, g)
		}
	}
}
