package instrument

import (
	"bytes"
	"testing"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

func testSC(sampled bool) trace.SpanContext {
	cfg := trace.SpanContextConfig{
		TraceID: trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:  trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
	}
	if sampled {
		cfg.TraceFlags = trace.FlagsSampled
	}
	return trace.NewSpanContext(cfg)
}

func putRequest(t testing.TB) (*etcdserverpb.InternalRaftRequest, []byte) {
	req := &etcdserverpb.InternalRaftRequest{
		Header: &etcdserverpb.RequestHeader{ID: 0x1234abcd, Username: "root"},
		ID:     0x1234abcd,
		Put: &etcdserverpb.PutRequest{
			Key:   []byte("/registry/pods/default/web-0"),
			Value: bytes.Repeat([]byte("v"), 512),
			Lease: 7,
		},
	}
	data, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return req, data
}

func TestEntryContextRoundTrip(t *testing.T) {
	req, data := putRequest(t)
	sc := testSC(true)
	withCtx := AppendEntryContext(bytes.Clone(data), sc)
	if len(withCtx) <= len(data) {
		t.Fatalf("nothing appended")
	}

	got, ok := EntryContext(withCtx)
	if !ok {
		t.Fatal("EntryContext: not found")
	}
	if got.TraceID() != sc.TraceID() || got.SpanID() != sc.SpanID() || got.TraceFlags() != sc.TraceFlags() {
		t.Fatalf("got %v, want %v", got, sc)
	}
	if !got.IsRemote() {
		t.Error("context read from an entry must be remote")
	}

	// etcd's own decoder still reads the request, and keeps the context as
	// an unknown field.
	var back etcdserverpb.InternalRaftRequest
	if err := proto.Unmarshal(withCtx, &back); err != nil {
		t.Fatalf("etcd cannot decode the entry any more: %v", err)
	}
	unknown := back.ProtoReflect().GetUnknown()
	num, typ, n := protowire.ConsumeTag(unknown)
	if n < 0 || num != EntryTraceField || typ != protowire.BytesType {
		t.Fatalf("unknown fields %q: want field %d", unknown, EntryTraceField)
	}
	back.ProtoReflect().SetUnknown(nil)
	if !proto.Equal(req, &back) {
		t.Fatalf("request changed:\n got %v\nwant %v", &back, req)
	}

	// Appending again (a re-proposal) replaces the context: last one wins.
	other := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled})
	got, ok = EntryContext(AppendEntryContext(withCtx, other))
	if !ok || got.TraceID() != other.TraceID() || got.SpanID() != other.SpanID() {
		t.Fatalf("second context: got %v ok=%v, want %v", got, ok, other)
	}
}

func TestEntryContextNotTraced(t *testing.T) {
	_, data := putRequest(t)
	for _, sc := range []trace.SpanContext{{}, testSC(false)} {
		out := AppendEntryContext(data, sc)
		if len(out) != len(data) || &out[0] != &data[0] {
			t.Errorf("AppendEntryContext(%v) changed the data", sc)
		}
		if n := testing.AllocsPerRun(100, func() { AppendEntryContext(data, sc) }); n != 0 {
			t.Errorf("AppendEntryContext(unsampled) allocates %v times", n)
		}
	}
	if _, ok := EntryContext(data); ok {
		t.Error("EntryContext found a context in a plain request")
	}
	if _, ok := EntryContext(nil); ok {
		t.Error("EntryContext(nil) = true")
	}
	if n := testing.AllocsPerRun(100, func() { EntryContext(data) }); n != 0 {
		t.Errorf("EntryContext(absent) allocates %v times", n)
	}
	traced := AppendEntryContext(bytes.Clone(data), testSC(true))
	if n := testing.AllocsPerRun(100, func() { EntryContext(traced) }); n != 0 {
		t.Errorf("EntryContext(present) allocates %v times", n)
	}
}

func TestEntryContextMalformed(t *testing.T) {
	_, data := putRequest(t)
	traced := AppendEntryContext(bytes.Clone(data), testSC(true))
	for name, b := range map[string][]byte{
		"truncated":   traced[:len(traced)-1],
		"bad tag":     {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"wrong type":  protowire.AppendVarint(protowire.AppendTag(nil, EntryTraceField, protowire.VarintType), 5),
		"short value": protowire.AppendBytes(protowire.AppendTag(nil, EntryTraceField, protowire.BytesType), []byte("00-abc")),
		"zero ids": protowire.AppendBytes(protowire.AppendTag(nil, EntryTraceField, protowire.BytesType),
			[]byte("00-00000000000000000000000000000000-0000000000000000-01")),
	} {
		if sc, ok := EntryContext(b); ok {
			t.Errorf("%s: EntryContext = %v, true", name, sc)
		}
	}
}

// wellFormed reports whether b is a sequence of complete protobuf fields.
func wellFormed(b []byte) bool {
	for len(b) > 0 {
		_, _, n := protowire.ConsumeField(b)
		if n < 0 {
			return false
		}
		b = b[n:]
	}
	return true
}

func FuzzEntryContext(f *testing.F) {
	// Seeds live in testdata/fuzz/FuzzEntryContext; add the obvious ones too.
	_, data := putRequest(f)
	f.Add(data)
	f.Add(AppendEntryContext(bytes.Clone(data), testSC(true)))
	f.Fuzz(func(t *testing.T, b []byte) {
		sc, ok := EntryContext(b) // MUST not panic on anything
		if ok && (!sc.IsValid() || !sc.IsRemote()) {
			t.Fatalf("EntryContext returned an invalid or local context %v", sc)
		}
		if !wellFormed(b) {
			return
		}
		want := testSC(true)
		got, ok := EntryContext(AppendEntryContext(bytes.Clone(b), want))
		if !ok || got.TraceID() != want.TraceID() || got.SpanID() != want.SpanID() || got.TraceFlags() != want.TraceFlags() {
			t.Fatalf("round trip after %x: got %v ok=%v", b, got, ok)
		}
	})
}
