package traceview_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kvtrace/kvtrace/internal/traceview"
	"github.com/kvtrace/kvtrace/internal/traceview/fixturegen"
)

func TestLoadCheckedInFixture(t *testing.T) {
	tr, err := traceview.Load(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Members) != 3 || len(tr.Writes) == 0 {
		t.Fatalf("members %v, %d writes", tr.Members, len(tr.Writes))
	}
}

func TestLoadFixture(t *testing.T) {
	tr := generated(t)
	if got := strings.Join(tr.Members, ","); got != "m1,m2,m3" {
		t.Fatalf("members %s", got)
	}
	if len(tr.Writes) != 7 {
		t.Fatalf("%d writes, want 7", len(tr.Writes))
	}
	// raft.tick is outside the vocabulary: skipped and counted. The Range
	// read is known but is not a write.
	if tr.Unknown["raft.tick"] != 1 || tr.UnknownCount() != 1 {
		t.Fatalf("unknown %v", tr.Unknown)
	}
	for i := 1; i < len(tr.Spans); i++ {
		if tr.Spans[i].Start < tr.Spans[i-1].Start {
			t.Fatalf("spans not sorted at %d", i)
		}
	}
	// Extra attributes are kept.
	w := tr.Writes[0]
	d := tr.Detail(&w)
	if v, _ := d.Events[0].Span().Attr("net.peer.name"); v != "127.0.0.1" {
		t.Fatalf("extra attribute lost: %v", d.Events[0].Attrs)
	}
}

// TestLoadLayouts: a file, a directory of files, and data dirs holding
// <member>.kvd/trace/spans.jsonl all give the same model.
func TestLoadLayouts(t *testing.T) {
	flat := t.TempDir()
	if err := fixturegen.WriteDir(flat, fixturegen.Fixture()); err != nil {
		t.Fatal(err)
	}
	nested := t.TempDir()
	for _, m := range []string{"m1", "m2", "m3"} {
		dst := filepath.Join(nested, m+".kvd", "trace")
		if err := os.MkdirAll(dst, 0o755); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(flat, m+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, "spans.jsonl"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a, err := traceview.Load(flat)
	if err != nil {
		t.Fatal(err)
	}
	b, err := traceview.Load(filepath.Join(nested, "m1.kvd"), filepath.Join(nested, "m2.kvd"), filepath.Join(nested, "m3.kvd"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := traceview.Load(filepath.Join(flat, "m1.jsonl"), filepath.Join(flat, "m2.jsonl"), filepath.Join(flat, "m3.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []*traceview.Trace{b, c} {
		if len(x.Spans) != len(a.Spans) || len(x.Writes) != len(a.Writes) {
			t.Fatalf("layouts differ: %d/%d spans, %d/%d writes", len(x.Spans), len(a.Spans), len(x.Writes), len(a.Writes))
		}
	}
}

var hexID = regexp.MustCompile(`"(traceId|spanId|parentSpanId)":"([0-9a-f]+)"`)

// TestLoadBase64IDs: ids written as base64 (the plain protobuf JSON mapping)
// load to the same ids as the hex the OTLP spec asks for.
func TestLoadBase64IDs(t *testing.T) {
	dir := t.TempDir()
	if err := fixturegen.WriteDir(dir, fixturegen.Fixture()); err != nil {
		t.Fatal(err)
	}
	want, err := traceview.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"m1", "m2", "m3"} {
		p := filepath.Join(dir, m+".jsonl")
		b, _ := os.ReadFile(p)
		b = hexID.ReplaceAllFunc(b, func(s []byte) []byte {
			sub := hexID.FindSubmatch(s)
			raw, _ := hex.DecodeString(string(sub[2]))
			return []byte(`"` + string(sub[1]) + `":"` + base64.StdEncoding.EncodeToString(raw) + `"`)
		})
		// Enum names as numbers too: readers accept both.
		b = bytes.ReplaceAll(b, []byte(`"SPAN_KIND_INTERNAL"`), []byte(`1`))
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := traceview.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Spans) != len(want.Spans) {
		t.Fatalf("%d spans, want %d", len(got.Spans), len(want.Spans))
	}
	for i := range got.Spans {
		g, w := got.Spans[i], want.Spans[i]
		if g.TraceID != w.TraceID || g.SpanID != w.SpanID || g.Parent != w.Parent || len(g.Links) != len(w.Links) || g.Kind != w.Kind {
			t.Fatalf("span %d differs: %+v vs %+v", i, g, w)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	good := `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.instance.id","value":{"stringValue":"m1"}}]},"scopeSpans":[{"spans":[` +
		`{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"apply","startTimeUnixNano":"10","endTimeUnixNano":"20","attributes":[{"key":"raft.index","value":{"intValue":"5"}}]}]}]}]}`
	cases := []struct {
		name, body, want string
	}{
		{"json", good + "\n\n{not json\n", "bad.jsonl:3: not an OTLP ExportTraceServiceRequest"},
		{"member", strings.Replace(good, "service.instance.id", "service.name", 1) + "\n", "bad.jsonl:1: span \"apply\" has no member"},
		{"contract", strings.Replace(good, "raft.index", "raft.idx", 1) + "\n", "bad.jsonl:1: span \"apply\" (member m1) lacks attribute raft.index"},
		{"id", strings.Replace(good, "0102030405060708090a0b0c0d0e0f10", "0102", 1) + "\n", "bad.jsonl:1: span \"apply\": traceId"},
		{"times", strings.Replace(good, `"endTimeUnixNano":"20"`, `"endTimeUnixNano":"5"`, 1) + "\n", "bad.jsonl:1: span \"apply\": bad times"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, "bad.jsonl")
			if err := os.WriteFile(p, []byte(c.body), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := traceview.Load(p)
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v, want one line containing %q", err, c.want)
			}
		})
	}
	if _, err := traceview.Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no *.jsonl") {
		t.Fatalf("empty dir: %v", err)
	}
}
