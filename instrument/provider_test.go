package instrument

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// attrMap flattens OTLP attributes for comparison.
func attrMap(kvs []*commonpb.KeyValue) map[string]*commonpb.AnyValue {
	m := map[string]*commonpb.AnyValue{}
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

func spansByID(rss []*tracepb.ResourceSpans) map[string]*tracepb.Span {
	m := map[string]*tracepb.Span{}
	for _, rs := range rss {
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				m[hex.EncodeToString(s.SpanId)] = s
			}
		}
	}
	return m
}

func str(s string) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}}
}

func i64(i int64) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: i}}
}

func TestSetupFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m1.kvd", "trace", "spans.jsonl")
	p, err := Setup(Config{Member: "m1", MemberID: 0x8e9e05c52164694d, File: path, FlushInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Enabled() {
		t.Fatal("Setup returned a disabled provider")
	}
	if _, ok := otel.GetTextMapPropagator().(propagation.TraceContext); !ok {
		t.Errorf("global propagator is %T, want TraceContext", otel.GetTextMapPropagator())
	}
	tr := p.Tracer()

	// The write arrives with a remote parent (as from an entry's context).
	remote, ok := EntryContext(AppendEntryContext(nil, testSC(true)))
	if !ok {
		t.Fatal("no entry context")
	}
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), remote)
	ctx, propose := tr.Start(ctx, Propose, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
		append(MemberAttrs("m1", 0x8e9e05c52164694d),
			AttrIndex.Int64(42), AttrTerm.Int64(3), AttrKey.String("foo"),
			AttrReject.Bool(false), attribute.Float64("ratio", 0.5),
			attribute.StringSlice("strs", []string{"a", "b"}), attribute.Int64Slice("ints", []int64{1, 2}),
			attribute.BoolSlice("bools", []bool{true}), attribute.Float64Slice("floats", []float64{1.5}),
			attribute.ByteSlice("raw", []byte{0, 1, 0xff}),
			attribute.Slice("mixed", attribute.StringValue("x"), attribute.Int64Value(9)),
			attribute.Map("nested", attribute.String("k", "v")),
		)...))
	_, save := tr.Start(ctx, WALSave)
	save.AddEvent("fsync.start", trace.WithAttributes(AttrBytes.Int64(4096)))
	save.SetStatus(codes.Error, "disk full")
	save.End()
	propose.End()

	// A bbolt.commit-like span: new root, links carrying attributes.
	other := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{9}, SpanID: trace.SpanID{8}, TraceFlags: trace.FlagsSampled, Remote: true})
	links := LinksFor([]trace.SpanContext{propose.SpanContext(), {}, other})
	if len(links) != 2 {
		t.Fatalf("LinksFor kept %d links, want 2", len(links))
	}
	links[0].Attributes = []attribute.KeyValue{AttrIndex.Int64(42)}
	_, commit := tr.Start(context.Background(), BackendCommit, trace.WithNewRoot(), trace.WithLinks(links...))
	commit.End()

	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Raw text: one valid request per line, ids in hex as the collector writes them.
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	lines := 0
	for sc.Scan() {
		lines++
		var generic map[string]any
		if err := json.Unmarshal(sc.Bytes(), &generic); err != nil {
			t.Fatalf("line %d is not JSON: %v", lines, err)
		}
		req, err := DecodeLine(sc.Bytes())
		if err != nil || len(req.ResourceSpans) == 0 {
			t.Fatalf("line %d is not an ExportTraceServiceRequest: %v", lines, err)
		}
	}
	if lines == 0 || raw[len(raw)-1] != '\n' {
		t.Fatalf("file has %d lines / no final newline:\n%s", lines, raw)
	}
	for _, want := range []string{
		`"traceId":"` + propose.SpanContext().TraceID().String() + `"`,
		`"spanId":"` + propose.SpanContext().SpanID().String() + `"`,
		`"parentSpanId":"` + remote.SpanID().String() + `"`,
		`"parentSpanId":"` + propose.SpanContext().SpanID().String() + `"`,
	} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("file lacks %s", want)
		}
	}
	for _, m := range regexp.MustCompile(`"(traceId|spanId|parentSpanId)":"([^"]*)"`).FindAllSubmatch(raw, -1) {
		if !regexp.MustCompile(`^([0-9a-f]{32}|[0-9a-f]{16}|)$`).Match(m[2]) {
			t.Errorf("%s %q is not lower-case hex", m[1], m[2])
		}
	}

	rss, err := ReadSpansFile(path)
	if err != nil {
		t.Fatal(err)
	}
	res := attrMap(rss[0].Resource.Attributes)
	for k, v := range map[string]string{"service.name": "kvd", "service.instance.id": "m1", "kv.member_id": "8e9e05c52164694d"} {
		if res[k].GetStringValue() != v {
			t.Errorf("resource %s = %v, want %q", k, res[k], v)
		}
	}
	if got := rss[0].ScopeSpans[0].Scope.GetName(); got != TracerName {
		t.Errorf("scope %q, want %q", got, TracerName)
	}
	byID := spansByID(rss)
	if len(byID) != 3 {
		t.Fatalf("read %d spans, want 3", len(byID))
	}

	gp := byID[propose.SpanContext().SpanID().String()]
	if gp == nil || gp.Name != Propose || gp.Kind != tracepb.Span_SPAN_KIND_SERVER {
		t.Fatalf("propose span: %v", gp)
	}
	if !bytes.Equal(gp.TraceId, idBytes(remote.TraceID())) || !bytes.Equal(gp.ParentSpanId, idBytes(remote.SpanID())) {
		t.Errorf("propose ids: trace %x parent %x, want %s %s", gp.TraceId, gp.ParentSpanId, remote.TraceID(), remote.SpanID())
	}
	if gp.Flags&uint32(tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK) == 0 || gp.Flags&0xff != 1 {
		t.Errorf("propose flags %#x: want sampled, remote parent", gp.Flags)
	}
	if gp.EndTimeUnixNano < gp.StartTimeUnixNano || gp.StartTimeUnixNano == 0 {
		t.Errorf("times %d..%d", gp.StartTimeUnixNano, gp.EndTimeUnixNano)
	}
	a := attrMap(gp.Attributes)
	for k, want := range map[string]*commonpb.AnyValue{
		"kv.member": str("m1"), "kv.member_id": str("8e9e05c52164694d"),
		"raft.index": i64(42), "raft.term": i64(3), "kv.key": str("foo"),
		"raft.reject": {Value: &commonpb.AnyValue_BoolValue{}},
		"ratio":       {Value: &commonpb.AnyValue_DoubleValue{DoubleValue: 0.5}},
		"raw":         {Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte{0, 1, 0xff}}},
		"strs":        {Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: []*commonpb.AnyValue{str("a"), str("b")}}}},
		"ints":        {Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: []*commonpb.AnyValue{i64(1), i64(2)}}}},
		"bools":       {Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: []*commonpb.AnyValue{{Value: &commonpb.AnyValue_BoolValue{BoolValue: true}}}}}},
		"floats":      {Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: []*commonpb.AnyValue{{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: 1.5}}}}}},
		"mixed":       {Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: []*commonpb.AnyValue{str("x"), i64(9)}}}},
		"nested":      {Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: []*commonpb.KeyValue{{Key: "k", Value: str("v")}}}}},
	} {
		if !proto.Equal(a[k], want) {
			t.Errorf("attribute %s = %v, want %v", k, a[k], want)
		}
	}

	gs := byID[save.SpanContext().SpanID().String()]
	if gs == nil || gs.Name != WALSave || !bytes.Equal(gs.ParentSpanId, idBytes(propose.SpanContext().SpanID())) {
		t.Fatalf("wal.save span: %v", gs)
	}
	if gs.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR || gs.Status.GetMessage() != "disk full" {
		t.Errorf("status %v", gs.Status)
	}
	if len(gs.Events) != 1 || gs.Events[0].Name != "fsync.start" || !proto.Equal(attrMap(gs.Events[0].Attributes)["bytes"], i64(4096)) || gs.Events[0].TimeUnixNano == 0 {
		t.Errorf("events %v", gs.Events)
	}

	gc := byID[commit.SpanContext().SpanID().String()]
	if gc == nil || len(gc.ParentSpanId) != 0 || len(gc.Links) != 2 {
		t.Fatalf("bbolt.commit span: %v", gc)
	}
	for i, want := range []trace.SpanContext{propose.SpanContext(), other} {
		l := gc.Links[i]
		if !bytes.Equal(l.TraceId, idBytes(want.TraceID())) || !bytes.Equal(l.SpanId, idBytes(want.SpanID())) {
			t.Errorf("link %d = %x/%x, want %s/%s", i, l.TraceId, l.SpanId, want.TraceID(), want.SpanID())
		}
	}
	if !proto.Equal(attrMap(gc.Links[0].Attributes)["raft.index"], i64(42)) {
		t.Errorf("link attributes %v", gc.Links[0].Attributes)
	}
	if gc.Links[1].Flags&uint32(tracepb.SpanFlags_SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK) == 0 {
		t.Errorf("remote link flags %#x", gc.Links[1].Flags)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, waitLimit)
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
}

func TestFileFlushWithoutShutdown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spans.jsonl")
	p, err := Setup(Config{Member: "m2", MemberID: 2, File: path, FlushInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Shutdown(context.Background()) })
	_, span := p.Tracer().Start(context.Background(), WALSync)
	span.End()
	id := []byte(span.SpanContext().SpanID().String())
	waitFor(t, "span in file", func() bool {
		raw, _ := os.ReadFile(path)
		return bytes.Contains(raw, id)
	})
}

func TestSetupConfig(t *testing.T) {
	for _, cfg := range []Config{
		{FlushInterval: 2 * time.Second},
		{FlushInterval: -1},
		{SampleRatio: 1.5},
		{SampleRatio: -0.1},
	} {
		if _, err := Setup(cfg); err == nil {
			t.Errorf("Setup(%+v) accepted", cfg)
		}
	}

	// Parent-based sampling: a sampled caller is always recorded even when
	// new traces almost never are.
	p, err := Setup(Config{Member: "m3", SampleRatio: 1e-12})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), testSC(true))
	if _, s := p.Tracer().Start(ctx, Apply); !s.SpanContext().IsSampled() {
		t.Error("child of a sampled remote parent was not sampled")
	}
	if _, s := p.Tracer().Start(context.Background(), Apply); s.SpanContext().IsSampled() {
		t.Error("root sampled at ratio 1e-12")
	}
}

func TestDisabled(t *testing.T) {
	p := Disabled()
	if p.Enabled() {
		t.Fatal("Disabled().Enabled() = true")
	}
	_, s := p.Tracer().Start(context.Background(), Propose)
	s.End()
	if s.SpanContext().IsValid() || EncodeMeta(s.SpanContext()) != nil || AppendEntryContext(nil, s.SpanContext()) != nil {
		t.Error("a disabled provider produced a traceable context")
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// collector is a real OTLP/gRPC trace service.
type collector struct {
	collectortrace.UnimplementedTraceServiceServer
	got chan *collectortrace.ExportTraceServiceRequest
}

func (c *collector) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	c.got <- req
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func TestSetupOTLP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	c := &collector{got: make(chan *collectortrace.ExportTraceServiceRequest, 16)}
	collectortrace.RegisterTraceServiceServer(srv, c)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)

	p, err := Setup(Config{Member: "m4", MemberID: 4, OTLPEndpoint: ln.Addr().String(), FlushInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, span := p.Tracer().Start(context.Background(), CommitAdvance)
	span.End()
	select {
	case req := <-c.got:
		s := spansByID(req.ResourceSpans)[span.SpanContext().SpanID().String()]
		if s == nil || s.Name != CommitAdvance {
			t.Errorf("collector got %v", req)
		}
	case <-time.After(waitLimit):
		t.Fatal("collector received nothing")
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestDecodeLineBase64AndTornTail(t *testing.T) {
	// Plain protobuf JSON (base64 ids, enum names) is accepted too.
	line := []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"S/kvNXezTaajzpKdDg5HNg==","spanId":"APBnqgupArc=","name":"apply","kind":"SPAN_KIND_INTERNAL","startTimeUnixNano":"1"}]}]}]}`)
	req, err := DecodeLine(line)
	if err != nil {
		t.Fatal(err)
	}
	s := req.ResourceSpans[0].ScopeSpans[0].Spans[0]
	sc := testSC(true)
	if !bytes.Equal(s.TraceId, idBytes(sc.TraceID())) || !bytes.Equal(s.SpanId, idBytes(sc.SpanID())) || s.Kind != tracepb.Span_SPAN_KIND_INTERNAL {
		t.Fatalf("decoded %v", s)
	}

	// Re-encoding gives hex; a torn last line is skipped, a torn middle one is not.
	enc, err := EncodeLine(req)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(enc, []byte(`"traceId":"4bf92f3577b34da6a3ce929d0e0e4736"`)) || !bytes.Contains(enc, []byte(`"kind":1`)) {
		t.Fatalf("EncodeLine = %s", enc)
	}
	path := filepath.Join(t.TempDir(), "spans.jsonl")
	os.WriteFile(path, append(append(bytes.Clone(enc), enc...), enc[:20]...), 0o644)
	rss, err := ReadSpansFile(path)
	if err != nil || len(rss) != 2 {
		t.Fatalf("ReadSpansFile with a torn tail: %d, %v", len(rss), err)
	}
	os.WriteFile(path, append(append(bytes.Clone(enc[:20]), '\n'), enc...), 0o644)
	if _, err := ReadSpansFile(path); err == nil {
		t.Fatal("a bad line in the middle was accepted")
	}
	if _, err := ReadSpansFile(filepath.Join(t.TempDir(), "none")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

// idBytes returns a trace or span id as a slice.
func idBytes[T trace.TraceID | trace.SpanID](id T) []byte {
	switch id := any(id).(type) {
	case trace.TraceID:
		return id[:]
	case trace.SpanID:
		return id[:]
	}
	return nil
}
