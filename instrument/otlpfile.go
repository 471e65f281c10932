package instrument

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// FileExporter appends spans to a file in the OTLP JSON encoding, one
// ExportTraceServiceRequest per line: the format the OpenTelemetry
// Collector's file exporter writes and its otlpjsonfile receiver reads.
//
// Each batch (batcher.go, fileRecords) becomes ONE line written with ONE
// write(2) on a file
// opened O_APPEND, so members sharing a file never interleave within a line
// and a reader sees whole lines (at worst a torn last line after a crash,
// which ReadSpansFile skips). The file is fsynced on Shutdown only.
type FileExporter struct {
	// mu guards f and buf and serializes writes.
	mu  sync.Mutex
	f   *os.File // nil after Shutdown
	buf []byte   // the line being encoded; reused across batches
}

// NewFileExporter opens path for appending, creating it and its directories.
func NewFileExporter(path string) (*FileExporter, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("instrument: trace dir: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("instrument: trace file: %w", err)
	}
	return &FileExporter{f: f}, nil
}

// writeLine encodes one line with enc into the reused buffer and writes it
// with one write(2).
func (e *FileExporter) writeLine(enc func(dst []byte) []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.f == nil {
		return errors.New("instrument: file exporter is shut down")
	}
	e.buf = append(enc(e.buf[:0]), '\n')
	line := e.buf
	if cap(e.buf) > 4<<20 {
		e.buf = nil // do not pin a rare huge batch's buffer
	}
	if _, err := e.f.Write(line); err != nil {
		return fmt.Errorf("instrument: write %s: %w", e.f.Name(), err)
	}
	return nil
}

// Shutdown fsyncs and closes the file. Later exports fail.
func (e *FileExporter) Shutdown(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.f == nil {
		return nil
	}
	f := e.f
	e.f = nil
	return errors.Join(f.Sync(), f.Close())
}

// idFields are the OTLP fields that hold trace and span ids. The protobuf
// JSON mapping would write them as base64, but OTLP JSON REQUIRES hex.
// Only proto field names appear as JSON object keys here (attribute keys
// are values of "key"), so rewriting by key name cannot touch user data.
var idFields = map[string]bool{"traceId": true, "spanId": true, "parentSpanId": true}

// EncodeLine renders req as one line of OTLP JSON, newline included: ids in
// hex, enums as numbers, 64-bit integers as decimal strings.
func EncodeLine(req *collectortrace.ExportTraceServiceRequest) ([]byte, error) {
	line := appendRequestJSON(make([]byte, 0, 4096), req)
	return append(line, '\n'), nil
}

func DecodeLine(line []byte) (*collectortrace.ExportTraceServiceRequest, error) {
	pj, err := rewriteIDs(line, func(s string) (string, error) {
		if (len(s) == 32 || len(s) == 16) && isHex(s) {
			b, _ := hex.DecodeString(s)
			return base64.StdEncoding.EncodeToString(b), nil
		}
		return s, nil // already base64 (a base64 id is never 16 or 32 chars)
	})
	if err != nil {
		return nil, err
	}
	req := &collectortrace.ExportTraceServiceRequest{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(pj, req); err != nil {
		return nil, fmt.Errorf("instrument: decode spans: %w", err)
	}
	return req, nil
}

// ReadSpansFile reads every line of an OTLP JSON lines file. A last line
// that is incomplete (no newline, does not parse: a write cut short by a
// crash) is skipped; a bad line anywhere else is an error.
func ReadSpansFile(path string) ([]*tracepb.ResourceSpans, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []*tracepb.ResourceSpans
	r := bufio.NewReader(f)
	for n := 1; ; n++ {
		line, rerr := r.ReadBytes('\n')
		if rerr != nil && rerr != io.EOF {
			return nil, rerr
		}
		complete := rerr == nil
		if line = bytes.TrimSpace(line); len(line) > 0 {
			req, err := DecodeLine(line)
			switch {
			case err != nil && !complete:
				return out, nil
			case err != nil:
				return nil, fmt.Errorf("%s:%d: %w", path, n, err)
			}
			out = append(out, req.ResourceSpans...)
		}
		if !complete {
			return out, nil
		}
	}
}

// rewriteIDs decodes JSON, replaces the string value of every idFields key
// with conv(value), and encodes it again with a trailing newline. Numbers
// are kept as written.
func rewriteIDs(in []byte, conv func(string) (string, error)) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(in))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("instrument: span JSON: %w", err)
	}
	if err := walkIDs(v, conv); err != nil {
		return nil, fmt.Errorf("instrument: span ids: %w", err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil { // Encode ends the line with '\n'
		return nil, err
	}
	return buf.Bytes(), nil
}

func walkIDs(v any, conv func(string) (string, error)) error {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && idFields[k] {
				c, err := conv(s)
				if err != nil {
					return fmt.Errorf("%s %q: %w", k, s, err)
				}
				v[k] = c
				continue
			}
			if err := walkIDs(x, conv); err != nil {
				return err
			}
		}
	case []any:
		for _, x := range v {
			if err := walkIDs(x, conv); err != nil {
				return err
			}
		}
	}
	return nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
