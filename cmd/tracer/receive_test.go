package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/kvtrace/kvtrace/instrument"
	"github.com/kvtrace/kvtrace/internal/traceview"
	"github.com/kvtrace/kvtrace/internal/traceview/fixturegen"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// fixtureRequests generates the fixturegen fixture and returns its lines,
// every member's, as raw OTLP JSON lines and as decoded requests, plus the
// directory holding the files.
func fixtureRequests(t *testing.T) (dir string, lines [][]byte, reqs []*coltracepb.ExportTraceServiceRequest) {
	t.Helper()
	dir = t.TempDir()
	if err := fixturegen.WriteDir(dir, fixturegen.Fixture()); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"m1", "m2", "m3"} {
		f, err := os.Open(filepath.Join(dir, m+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<24)
		for sc.Scan() {
			l := append([]byte(nil), sc.Bytes()...)
			req, err := instrument.DecodeLine(l)
			if err != nil {
				t.Fatal(err)
			}
			lines, reqs = append(lines, l), append(reqs, req)
		}
		f.Close()
	}
	return dir, lines, reqs
}

// startTestReceiver runs a receiver on free loopback ports that records to a
// temp file and collects its batches.
func startTestReceiver(t *testing.T) (*receiver, string, func() []batch) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "recv", "spans.jsonl")
	var mu sync.Mutex
	var got []batch
	r, err := startReceiver(receiverConfig{GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", Out: out,
		OnBatch: func(b batch) { mu.Lock(); got = append(got, b); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return r, out, func() []batch { mu.Lock(); defer mu.Unlock(); return append([]batch(nil), got...) }
}

func post(t *testing.T, url, ctype, encoding string, body []byte) (*http.Response, []byte) {
	t.Helper()
	hr, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("Content-Type", ctype)
	if encoding != "" {
		hr.Header.Set("Content-Encoding", encoding)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// TestReceiveHTTP posts the fixture's requests to /v1/traces, alternating
// binary protobuf, OTLP JSON and gzipped protobuf, and checks the answers and
// that the recorded file loads to the same model as the fixture itself.
func TestReceiveHTTP(t *testing.T) {
	dir, lines, reqs := fixtureRequests(t)
	r, out, batches := startTestReceiver(t)
	url := "http://" + r.HTTPAddr() + "/v1/traces"
	for i, req := range reqs {
		var resp *http.Response
		var body []byte
		switch i % 3 {
		case 0:
			pb, err := proto.Marshal(req)
			if err != nil {
				t.Fatal(err)
			}
			resp, body = post(t, url, "application/x-protobuf", "", pb)
		case 1:
			resp, body = post(t, url, "application/json", "", lines[i])
		case 2:
			pb, _ := proto.Marshal(req)
			var zb bytes.Buffer
			zw := gzip.NewWriter(&zb)
			zw.Write(pb)
			zw.Close()
			resp, body = post(t, url, "application/x-protobuf", "gzip", zb.Bytes())
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %s: %s", i, resp.Status, body)
		}
		var ans coltracepb.ExportTraceServiceResponse
		var err error
		if i%3 == 1 {
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("JSON request answered with %q", ct)
			}
			err = protojson.Unmarshal(body, &ans)
		} else {
			if ct := resp.Header.Get("Content-Type"); ct != "application/x-protobuf" {
				t.Fatalf("protobuf request answered with %q", ct)
			}
			err = proto.Unmarshal(body, &ans)
		}
		if err != nil {
			t.Fatalf("request %d: answer %q: %v", i, body, err)
		}
	}
	// The file is complete when the last answer arrived: no polling needed.
	got, err := traceview.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := traceview.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Spans) != len(want.Spans) || len(got.Writes) != len(want.Writes) || strings.Join(got.Members, ",") != "m1,m2,m3" {
		t.Fatalf("recorded %d spans, %d writes, members %v; the fixture has %d spans, %d writes",
			len(got.Spans), len(got.Writes), got.Members, len(want.Spans), len(want.Writes))
	}
	for i := range got.Writes {
		g, w := got.Writes[i], want.Writes[i]
		if g.TraceID != w.TraceID || g.Key != w.Key || g.Revision != w.Revision {
			t.Fatalf("write %d: %+v, want %+v", i+1, g, w)
		}
	}
	bs := batches()
	if len(bs) != len(reqs) || bs[0].Via != "http" || bs[0].Line != 1 || bs[len(bs)-1].Line != len(reqs) {
		t.Fatalf("batches: %d (first %+v), want %d", len(bs), bs[0], len(reqs))
	}
	if s := bs[0].String(); !regexp.MustCompile(`^http: \d+ spans from m1 \(total: 1 requests, \d+ spans\)$`).MatchString(s) {
		t.Fatalf("summary %q", s)
	}
}

// TestReceiveHTTPErrors: the answers of OTLP/HTTP to what it cannot take.
func TestReceiveHTTPErrors(t *testing.T) {
	r, out, batches := startTestReceiver(t)
	url := "http://" + r.HTTPAddr() + "/v1/traces"

	resp, body := post(t, url, "application/json", "", []byte(`{"resourceSpans": [{`))
	var st spb.Status
	if resp.StatusCode != http.StatusBadRequest || protojson.Unmarshal(body, &st) != nil || !strings.Contains(st.GetMessage(), "not an ExportTraceServiceRequest") {
		t.Fatalf("bad JSON: %s %q", resp.Status, body)
	}
	resp, body = post(t, url, "application/x-protobuf", "", []byte{0xff, 0xff, 0xff})
	if resp.StatusCode != http.StatusBadRequest || proto.Unmarshal(body, &st) != nil || st.GetCode() != 3 {
		t.Fatalf("bad protobuf: %s %q", resp.Status, body)
	}
	if resp, body = post(t, url, "text/plain", "", []byte("x")); resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("text/plain: %s %q", resp.Status, body)
	}
	if resp, body = post(t, url, "application/x-protobuf", "br", []byte("x")); resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("Content-Encoding br: %s %q", resp.Status, body)
	}
	g, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	g.Body.Close()
	if g.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %s", g.Status)
	}
	// An empty request is answered and not recorded.
	if resp, body = post(t, url, "application/json", "", []byte(`{}`)); resp.StatusCode != http.StatusOK || string(body) != "{}" {
		t.Fatalf("empty request: %s %q", resp.Status, body)
	}
	if n := len(batches()); n != 0 {
		t.Fatalf("%d batches recorded from bad requests", n)
	}
	if b, err := os.ReadFile(out); err != nil || len(b) != 0 {
		t.Fatalf("out file %q, %v; want it empty", b, err)
	}
}

// TestReceiveGRPC exports the fixture through OTLP/gRPC, the way kvd's
// exporter does, and appends to a file that already holds lines.
func TestReceiveGRPC(t *testing.T) {
	_, lines, reqs := fixtureRequests(t)
	out := filepath.Join(t.TempDir(), "spans.jsonl")
	if err := os.WriteFile(out, append(append([]byte(nil), lines[0]...), '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	var got []batch
	var mu sync.Mutex
	r, err := startReceiver(receiverConfig{GRPCAddr: "127.0.0.1:0", Out: out,
		OnBatch: func(b batch) { mu.Lock(); got = append(got, b); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	if r.HTTPAddr() != "" {
		t.Fatalf("HTTP on %s although off", r.HTTPAddr())
	}
	cc, err := grpc.NewClient(r.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	cli := coltracepb.NewTraceServiceClient(cc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, req := range reqs[1:] {
		if _, err := cli.Export(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	if len(got) != len(reqs)-1 || got[0].Via != "grpc" || got[0].Line != 2 {
		t.Fatalf("batches %d, first %+v", len(got), got[0])
	}
	mu.Unlock()
	tr, err := traceview.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Writes) != 7 || len(tr.Members) != 3 {
		t.Fatalf("%d writes, members %v", len(tr.Writes), tr.Members)
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and a polling reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, d)
		}
		<-tick.C
	}
}

// TestReceiveCommand runs 'tracer receive' as a user does, posts a request,
// and stops it with SIGTERM.
func TestReceiveCommand(t *testing.T) {
	_, lines, _ := fixtureRequests(t)
	out := filepath.Join(t.TempDir(), "spans.jsonl")
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"receive", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--out", out},
			env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr})
	}()
	listening := regexp.MustCompile(`http (127\.0\.0\.1:\d+); appending`)
	waitFor(t, 10*time.Second, "listening line", func() bool { return listening.MatchString(stdout.String()) })
	addr := listening.FindStringSubmatch(stdout.String())[1]
	if resp, body := post(t, "http://"+addr+"/v1/traces", "application/json", "", lines[0]); resp.StatusCode != 200 {
		t.Fatalf("%s %s", resp.Status, body)
	}
	waitFor(t, 5*time.Second, "summary line", func() bool { return strings.Contains(stdout.String(), "http: ") })
	// The listening line is printed AFTER the signal handler is installed.
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("receive did not stop on SIGTERM")
	}
	if s := stdout.String(); !strings.Contains(s, "stopped: 1 requests") {
		t.Fatalf("stdout:\n%s", s)
	}
	b, err := os.ReadFile(out)
	if err != nil || bytes.Count(b, []byte("\n")) != 1 {
		t.Fatalf("out file: %v, %d lines", err, bytes.Count(b, []byte("\n")))
	}
}

func TestReceiveFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"receive", "--http-addr", "0.0.0.0:0"}, 1, "--http-addr 0.0.0.0:0: not a loopback address; pass --allow-remote"},
		{[]string{"receive", "--grpc-addr", ":4317"}, 1, "--grpc-addr :4317: not a loopback address"},
		{[]string{"receive", "--grpc-addr", "", "--http-addr", ""}, 1, "neither a gRPC nor an HTTP address"},
		{[]string{"receive", "--tui", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"}, 1, "needs a terminal"},
		{[]string{"receive", "extra"}, 2, "unexpected arguments"},
	} {
		_, errOut, code := tracer(t, c.args...)
		if code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("tracer %v: exit %d, stderr %q; want %d and %q", c.args, code, errOut, c.code, c.want)
		}
	}
	for _, a := range []string{"127.0.0.1:4317", "[::1]:4317", "localhost:0"} {
		if err := checkLoopback(a); err != nil {
			t.Errorf("%s: %v", a, err)
		}
	}
	if err := checkLoopback("10.0.0.1:4317"); err == nil {
		t.Error("10.0.0.1 taken for loopback")
	}
}

// TestLiveApp: the live viewer's list grows with what the feed receives and
// keeps following the latest write.
func TestLiveApp(t *testing.T) {
	_, _, reqs := fixtureRequests(t)
	f := newLiveFeed("spans.jsonl")
	m := liveApp{app: newApp(traceview.NewBuilder().Build()), feed: f, ctx: context.Background()}
	nm, _ := m.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
	m = nm.(liveApp)
	if v := m.View(); !strings.Contains(v, "live: waiting") || !strings.Contains(v, "writes 0/0") {
		t.Fatalf("empty view:\n%s", v)
	}
	for i, req := range reqs {
		f.add(batch{Via: "http", Req: req, Line: i + 1, Requests: i + 1, TotalSpans: 10 * (i + 1)})
	}
	msg := f.wait(context.Background(), 0)()
	nm, _ = m.Update(msg)
	m = nm.(liveApp)
	v := m.View()
	if !strings.Contains(v, "writes 7/7") || !strings.Contains(v, fmt.Sprintf("live: %d requests", len(reqs))) {
		t.Fatalf("view after the fixture:\n%s", v)
	}
	if w := m.list.Selected(); w == nil || w.N != 7 {
		t.Fatalf("cursor on %+v, want the latest write", w)
	}
	if h := strings.Count(v, "\n") + 1; h != 30 {
		t.Fatalf("view is %d lines high, want 30", h)
	}
}
