package traceview

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// maxLine bounds one JSON line (one ExportTraceServiceRequest). An exporter
// batch of 512 spans is well under 1 MiB; 64 MiB leaves room for odd setups
// while still failing clearly on a file that is not line-delimited.
const maxLine = 64 << 20

// chunkBytes is how much text one decode job holds. Lines are independent, so
// a file is cut into chunks decoded in parallel and stitched back in order.
const chunkBytes = 1 << 20

// Load reads span files and returns the model built from them. Each path is a
// file or a directory; directories are walked recursively for *.jsonl files
// (which covers the `<member>.kvd/trace/spans.jsonl` layout). Files are read
// in the order given, directory contents in lexical order.
func Load(paths ...string) (*Trace, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("no span files given")
	}
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.HasSuffix(d.Name(), ".jsonl") {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%s: no *.jsonl span files inside", p)
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	b := NewBuilder()
	b.spans = make([]Span, 0, countSpans(files))
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		err = b.Read(f, fh)
		fh.Close()
		if err != nil {
			return nil, err
		}
	}
	return b.Build(), nil
}

// Builder collects spans from one or more sources and builds a Trace. The
// live receiver feeds it requests as they arrive.
type Builder struct {
	spans   []Span
	unknown map[string]int
	files   []string
	in      *interner
}

// NewBuilder returns an empty Builder.
func NewBuilder() *Builder {
	return &Builder{unknown: map[string]int{}, in: newInterner()}
}

// Read decodes OTLP JSON lines from r; name is used in errors ("name:line: ...").
// Blank lines are skipped. The first bad line stops the read with an error
// that names the file and line.
//
// The text is cut into chunks of whole lines that GOMAXPROCS workers decode
// in parallel (lines are independent); their spans are appended in file
// order as soon as each chunk's predecessors are in, so only a few chunks
// are ever held. Workers take the fast decoder first and protojson for any
// line it declines (load_fast.go).
func (b *Builder) Read(name string, r io.Reader) error {
	b.files = append(b.files, name)
	type job struct {
		seq   int
		line0 int // number of the chunk's first line
		text  []byte
	}
	type result struct {
		seq     int
		spans   []Span
		unknown map[string]int
		err     error
	}
	workers := runtime.GOMAXPROCS(0)
	jobs := make(chan job, workers)
	results := make(chan result, workers)
	// free recycles chunk buffers: nothing decoded points into them.
	free := make(chan []byte, 2*workers+2)
	// freeSpans recycles the workers' span buffers once merged.
	freeSpans := make(chan []Span, 2*workers+2)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := newInterner()
			fd := newFastDecoder(in)
			for j := range jobs {
				res := result{seq: j.seq, unknown: map[string]int{}}
				// Size the buffer for the chunk (an upper bound, as in
				// countSpans) so it never grows while decoding.
				want := bytes.Count(j.text, nameMember)
				select {
				case res.spans = <-freeSpans:
				default:
				}
				if cap(res.spans) < want {
					res.spans = make([]Span, 0, want+want/4)
				}
				line := j.line0
				text := j.text
				for len(text) > 0 && res.err == nil {
					nl := bytes.IndexByte(text, '\n')
					var l []byte
					if nl < 0 {
						l, text = text, nil
					} else {
						l, text = text[:nl], text[nl+1:]
					}
					if len(bytes.TrimSpace(l)) > 0 {
						var ok bool
						if res.spans, ok = fd.decodeLine(res.spans, l, Pos{name, line}, res.unknown); !ok {
							res.spans, res.err = decodeLine(res.spans, l, Pos{name, line}, in, res.unknown)
						}
					}
					line++
				}
				select {
				case free <- j.text[:0]:
				default:
				}
				results <- res
			}
		}()
	}

	// The reader cuts chunks at the last newline of each block read, so a
	// job always holds whole lines; the tail moves to the next block.
	var readErr error
	go func() {
		defer func() {
			close(jobs)
			wg.Wait()
			close(results)
		}()
		seq, line := 0, 1
		var tail []byte
		for eof := false; !eof; {
			var buf []byte
			select {
			case buf = <-free:
			default:
				buf = make([]byte, 0, chunkBytes+chunkBytes/4)
			}
			buf = append(buf[:0], tail...)
			tail = nil
			lastNL := bytes.LastIndexByte(buf, '\n')
			cut := -1
			for cut < 0 && !eof {
				if len(buf) == cap(buf) {
					if len(buf)-(lastNL+1) > maxLine {
						readErr = fmt.Errorf("%s:%d: line longer than %d bytes", name, line+bytes.Count(buf, []byte{'\n'}), maxLine)
						return
					}
					buf = slices.Grow(buf, len(buf))
				}
				n, err := r.Read(buf[len(buf):cap(buf)])
				if i := bytes.LastIndexByte(buf[len(buf):len(buf)+n], '\n'); i >= 0 {
					lastNL = len(buf) + i
				}
				buf = buf[:len(buf)+n]
				switch {
				case err == io.EOF:
					eof = true
				case err != nil:
					readErr = fmt.Errorf("%s:%d: %v", name, line+bytes.Count(buf, []byte{'\n'}), err)
					return
				case lastNL >= 0 && len(buf) >= chunkBytes:
					cut = lastNL
				}
			}
			if eof {
				cut = len(buf) - 1 // everything, a last line without newline included
			} else {
				tail = append(tail, buf[cut+1:]...)
			}
			text := buf[:cut+1]
			if len(text) == 0 {
				continue
			}
			jobs <- job{seq, line, text}
			seq++
			line += bytes.Count(text, []byte{'\n'})
		}
	}()

	pending := map[int]result{}
	next := 0
	var decodeErr error
	for res := range results {
		pending[res.seq] = res
		for {
			res, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			if decodeErr != nil {
				continue
			}
			if res.err != nil {
				// Keep reading: as before, a read error (a line too long)
				// anywhere in the file is the one reported.
				decodeErr = res.err
				continue
			}
			for k, v := range res.unknown {
				b.unknown[b.in.s(k)] += v
			}
			b.spans = append(b.spans, res.spans...)
			clear(res.spans) // drop what the recycled buffer points to
			select {
			case freeSpans <- res.spans[:0]:
			default:
			}
		}
	}
	if readErr != nil {
		return readErr
	}
	return decodeErr
}

// AddRequest adds an already decoded request (the live receiver's path).
func (b *Builder) AddRequest(req *coltracepb.ExportTraceServiceRequest, pos Pos) error {
	var err error
	b.spans, err = convert(b.spans, req, pos, b.in, b.unknown)
	return err
}

var unmarshal = protojson.UnmarshalOptions{DiscardUnknown: true}

func decodeLine(dst []Span, line []byte, pos Pos, in *interner, unknown map[string]int) ([]Span, error) {
	var req coltracepb.ExportTraceServiceRequest
	if err := unmarshal.Unmarshal(line, &req); err != nil {
		return dst, fmt.Errorf("%s: not an OTLP ExportTraceServiceRequest: %v", pos, err)
	}
	return convert(dst, &req, pos, in, unknown)
}

func convert(dst []Span, req *coltracepb.ExportTraceServiceRequest, pos Pos, in *interner, unknown map[string]int) ([]Span, error) {
	for _, rs := range req.GetResourceSpans() {
		member := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.instance.id" {
				member = in.s(anyString(kv.GetValue()))
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				if !Known(sp.GetName()) {
					unknown[sp.GetName()]++
					continue
				}
				var s Span
				s.Pos = pos
				s.Name = in.s(sp.GetName())
				s.Member = member
				var err error
				if err = decodeID(s.TraceID[:], sp.GetTraceId(), false); err != nil {
					return dst, fmt.Errorf("%s: span %q: traceId: %v", pos, sp.GetName(), err)
				}
				if err = decodeID(s.SpanID[:], sp.GetSpanId(), false); err != nil {
					return dst, fmt.Errorf("%s: span %q: spanId: %v", pos, sp.GetName(), err)
				}
				if err = decodeID(s.Parent[:], sp.GetParentSpanId(), true); err != nil {
					return dst, fmt.Errorf("%s: span %q: parentSpanId: %v", pos, sp.GetName(), err)
				}
				s.Kind = int32(sp.GetKind())
				if sp.GetStartTimeUnixNano() > 1<<63-1 || sp.GetEndTimeUnixNano() > 1<<63-1 {
					return dst, fmt.Errorf("%s: span %q: time out of range", pos, sp.GetName())
				}
				s.Start, s.End = int64(sp.GetStartTimeUnixNano()), int64(sp.GetEndTimeUnixNano())
				if s.Start == 0 || s.End < s.Start {
					return dst, fmt.Errorf("%s: span %q: bad times start=%d end=%d", pos, sp.GetName(), s.Start, s.End)
				}
				s.Attrs = make([]Attr, 0, len(sp.GetAttributes()))
				for _, kv := range sp.GetAttributes() {
					k := in.s(kv.GetKey())
					v := anyString(kv.GetValue())
					if categorical[k] {
						v = in.s(v)
					}
					s.Attrs = append(s.Attrs, Attr{k, v})
				}
				if s.Member == "" {
					s.Member = in.s(s.Str("kv.member"))
				}
				if s.Member == "" {
					return dst, fmt.Errorf("%s: span %q has no member: resource attribute service.instance.id (or span attribute kv.member) is required", pos, sp.GetName())
				}
				for _, l := range sp.GetLinks() {
					var lk Link
					if err = decodeID(lk.TraceID[:], l.GetTraceId(), false); err != nil {
						return dst, fmt.Errorf("%s: span %q: link traceId: %v", pos, sp.GetName(), err)
					}
					if err = decodeID(lk.SpanID[:], l.GetSpanId(), false); err != nil {
						return dst, fmt.Errorf("%s: span %q: link spanId: %v", pos, sp.GetName(), err)
					}
					s.Links = append(s.Links, lk)
				}
				if err := checkContract(&s); err != nil {
					return dst, fmt.Errorf("%s: %v", pos, err)
				}
				dst = append(dst, s)
			}
		}
	}
	return dst, nil
}

// required lists, per span name, the attributes the model cannot do without.
// Everything else in docs/spans.md is optional to the reader; extra attributes
// are kept and shown.
// An entry "a|b" is satisfied by either attribute: raft.commit is one span
// per commit advance with raft.last_index, or (files of kvd before that
// change) one span per entry with raft.index.
var required = map[string][]string{
	NameSend:   {"raft.msg_type", "raft.from", "raft.to"},
	NameRecv:   {"raft.msg_type", "raft.from", "raft.to"},
	NameCommit: {"raft.last_index|raft.index"},
	NameApply:  {"raft.index"},
}

func checkContract(s *Span) error {
	for _, alts := range required[s.Name] {
		found := false
		for k := range strings.SplitSeq(alts, "|") {
			if _, ok := s.Attr(k); ok {
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("span %q (member %s) lacks attribute %s required by docs/spans.md", s.Name, s.Member, strings.ReplaceAll(alts, "|", " or "))
		}
	}
	return nil
}

// decodeID fills dst from an id decoded by protojson. The OTLP JSON encoding
// writes ids as hex, but protojson decodes every bytes field as base64: a
// 32-character hex trace id comes out as 24 bytes and a 16-character span id
// as 12. Those lengths cannot be a real id, so they are turned back into text
// and read as hex; ids that really were base64 arrive at their true length.
func decodeID(dst, raw []byte, optional bool) error {
	switch {
	case len(raw) == 0 && optional:
		return nil
	case len(raw) == len(dst):
		copy(dst, raw)
		return nil
	case len(raw) == len(dst)*3/2:
		txt := base64.StdEncoding.EncodeToString(raw)
		if _, err := hex.Decode(dst, []byte(txt)); err != nil {
			return fmt.Errorf("%q is neither hex nor base64 of %d bytes", txt, len(dst))
		}
		return nil
	}
	return fmt.Errorf("want %d bytes (hex or base64), got %d", len(dst), len(raw))
}

func anyString(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *commonpb.AnyValue_BoolValue:
		return strconv.FormatBool(x.BoolValue)
	case *commonpb.AnyValue_DoubleValue:
		return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
	case *commonpb.AnyValue_BytesValue:
		return hex.EncodeToString(x.BytesValue)
	case *commonpb.AnyValue_ArrayValue:
		parts := make([]string, 0, len(x.ArrayValue.GetValues()))
		for _, e := range x.ArrayValue.GetValues() {
			parts = append(parts, anyString(e))
		}
		return strings.Join(parts, ",")
	case *commonpb.AnyValue_KvlistValue:
		parts := make([]string, 0, len(x.KvlistValue.GetValues()))
		for _, e := range x.KvlistValue.GetValues() {
			parts = append(parts, e.GetKey()+"="+anyString(e.GetValue()))
		}
		return strings.Join(parts, ",")
	}
	return ""
}

// categorical attributes take few distinct values; interning them keeps a
// large trace small.
var categorical = map[string]bool{
	"kv.member": true, "kv.op": true, "raft.role": true, "raft.msg_type": true,
	"raft.from": true, "raft.to": true, "raft.from_id": true, "raft.to_id": true,
	"raft.reject": true, "wal.must_sync": true, "raft.quorum": true, "raft.quorum_last": true,
	"rpc.system": true, "rpc.service": true, "rpc.method": true, "rpc.grpc.status_code": true,
	"raft.entries": true, "raft.term": true, "raft.log_term": true, "raft.hs_term": true,
}

type interner struct{ m map[string]string }

func newInterner() *interner { return &interner{m: map[string]string{}} }

func (in *interner) s(v string) string {
	if x, ok := in.m[v]; ok {
		return x
	}
	in.m[v] = v
	return v
}
