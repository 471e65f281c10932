package traceview

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kvtrace/kvtrace/instrument"
	"github.com/kvtrace/kvtrace/internal/traceview/fixturegen"
)

// bothWays decodes line with the fast decoder and with protojson (the
// reference) and fails when the fast decoder accepted it and the two differ.
// It reports whether the fast path took the line.
func bothWays(t testing.TB, line []byte) bool {
	t.Helper()
	pos := Pos{"f.jsonl", 7}
	in := newInterner()
	fastUnknown := map[string]int{"seen": 1}
	fast, ok := newFastDecoder(in).decodeLine([]Span{{Name: "before"}}, line, pos, fastUnknown)
	slowUnknown := map[string]int{"seen": 1}
	slow, err := decodeLine([]Span{{Name: "before"}}, line, pos, newInterner(), slowUnknown)
	if !ok {
		if len(fast) != 1 || len(fastUnknown) != 1 || fastUnknown["seen"] != 1 {
			t.Fatalf("a declined line left %d spans, unknown %v behind", len(fast), fastUnknown)
		}
		return false
	}
	if err != nil {
		t.Fatalf("fast path took a line protojson rejects (%v):\n%s", err, line)
	}
	if !reflect.DeepEqual(fast, slow) || !reflect.DeepEqual(fastUnknown, slowUnknown) {
		for i := range min(len(fast), len(slow)) {
			if !reflect.DeepEqual(fast[i], slow[i]) {
				t.Fatalf("span %d differs:\nfast %+v\nslow %+v\nline %s", i, fast[i], slow[i], line)
			}
		}
		t.Fatalf("fast %d spans, unknown %v; protojson %d spans, unknown %v\nline %s", len(fast), fastUnknown, len(slow), slowUnknown, line)
	}
	return true
}

func fileLines(t testing.TB, paths ...string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, maxLine)
		for sc.Scan() {
			out = append(out, append([]byte(nil), sc.Bytes()...))
		}
		f.Close()
	}
	return out
}

// TestFastDecodeMatchesProtojson: on the checked-in fixture, the generated
// one and variants of its lines (base64 ids, enum numbers, reordered or
// unknown fields, arrays, whitespace), the fast decoder takes every line and
// gives exactly what protojson + convert give; on lines it must not take it
// declines and leaves nothing behind.
func TestFastDecodeMatchesProtojson(t *testing.T) {
	dir := t.TempDir()
	if err := fixturegen.WriteDir(dir, fixturegen.Fixture()); err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, d := range []string{dir, filepath.Join("..", "..", "cmd", "tracer", "testdata", "fixture")} {
		m, _ := filepath.Glob(filepath.Join(d, "*.jsonl"))
		files = append(files, m...)
	}
	lines := fileLines(t, files...)
	if len(lines) == 0 {
		t.Fatal("no lines")
	}
	for _, l := range lines {
		if !bothWays(t, l) {
			t.Fatalf("fast path declined a fixture line:\n%.400s", l)
		}
		// kvd's own encoding (instrument.EncodeLine: keys sorted, enums as
		// numbers), which is also what 'tracer receive' writes.
		req, err := instrument.DecodeLine(l)
		if err != nil {
			t.Fatal(err)
		}
		kl, err := instrument.EncodeLine(req)
		if err != nil {
			t.Fatal(err)
		}
		if !bothWays(t, bytes.TrimSpace(kl)) {
			t.Fatalf("fast path declined a line in kvd's encoding:\n%.400s", kl)
		}
	}
	l := string(lines[0])
	take := map[string]string{
		"kind as number":  strings.ReplaceAll(l, `"SPAN_KIND_INTERNAL"`, `1`),
		"spaces":          strings.ReplaceAll(strings.ReplaceAll(l, `":`, `" : `), `,"`, ` , "`),
		"unknown field":   strings.Replace(l, `"traceId":`, `"futureField":{"a":[1,2.5e3,true,false,"x"]},"traceId":`, 1),
		"array value":     strings.Replace(l, `{"stringValue":"m1"}`, `{"arrayValue":{"values":[{"stringValue":"m1"},{"intValue":"2"},{"boolValue":true}]}}`, 1),
		"kvlist value":    strings.Replace(l, `{"stringValue":"m1"}`, `{"kvlistValue":{"values":[{"key":"a","value":{"intValue":"-3"}}]}}`, 1),
		"double and byte": strings.Replace(strings.Replace(l, `{"intValue":"2"}`, `{"doubleValue":2.5e-3}`, 1), `{"intValue":"2"}`, `{"bytesValue":"AQID"}`, 1),
		"utf8 value":      strings.Replace(l, `{"stringValue":"m1"}`, `{"stringValue":"m1"},"k":"ключ"`, 1),
		"status, events":  strings.Replace(l, `"traceId":`, `"status":{"code":"STATUS_CODE_ERROR","message":"x"},"events":[{"timeUnixNano":"5","name":"e","attributes":[]}],"flags":256,"traceId":`, 1),
		"trailing spaces": l + "  \t",
	}
	for name, v := range take {
		if !bothWays(t, []byte(v)) {
			t.Errorf("%s: declined", name)
		}
	}
	decline := map[string]string{
		"escape":            strings.Replace(l, `"stringValue":"m1"`, `"stringValue":"m\u0031"`, 1),
		"null":              strings.Replace(l, `"traceId":`, `"traceState":null,"traceId":`, 1),
		"duplicate field":   strings.Replace(l, `"kind":`, `"kind":1,"kind":`, 1),
		"bad event":         strings.Replace(l, `"traceId":`, `"events":[{"timeUnixNano":"x"}],"traceId":`, 1),
		"proto name":        strings.Replace(l, `"traceId"`, `"trace_id"`, 1),
		"truncated":         l[:len(l)/2],
		"trailing garbage":  l + "x",
		"bad id":            strings.Replace(l, `"spanId":"`, `"spanId":"zz`, 1),
		"bad kind name":     strings.Replace(l, `"SPAN_KIND_INTERNAL"`, `"SPAN_KIND_BOGUS"`, 1),
		"leading zero time": strings.Replace(l, `"startTimeUnixNano":"`, `"startTimeUnixNano":"0`, 1),
		"two oneofs":        strings.Replace(l, `{"stringValue":"m1"}`, `{"stringValue":"m1","intValue":"1"}`, 1),
		"NaN":               strings.Replace(l, `{"intValue":"2"}`, `{"doubleValue":"NaN"}`, 1),
		"invalid utf8":      strings.Replace(l, `"stringValue":"m1"`, "\"stringValue\":\"m\xff\"", 1),
		"not an object":     `[1,2]`,
	}
	for name, v := range decline {
		if v == l {
			t.Fatalf("%s: the variant did not change the line", name)
		}
		if bothWays(t, []byte(v)) {
			t.Errorf("%s: taken by the fast path", name)
		}
	}
}

// FuzzFastDecode: whatever the fast decoder takes, protojson takes too, with
// the same result.
func FuzzFastDecode(f *testing.F) {
	dir := f.TempDir()
	if err := fixturegen.WriteDir(dir, fixturegen.Fixture()); err != nil {
		f.Fatal(err)
	}
	for i, l := range fileLines(f, filepath.Join(dir, "m1.jsonl"), filepath.Join(dir, "m2.jsonl")) {
		if i < 4 {
			f.Add(l)
		}
	}
	f.Add([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"apply","kind":1}]}]}]}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		if len(bytes.TrimSpace(line)) == 0 {
			return
		}
		bothWays(t, line)
	})
}
