package traceview

import (
	"encoding/hex"
	"strconv"
	"time"
)

// TraceID is an OTLP trace id (16 bytes). Its String form is lower-case hex.
type TraceID [16]byte

// SpanID is an OTLP span id (8 bytes). Its String form is lower-case hex.
type SpanID [8]byte

func (t TraceID) String() string { return hex.EncodeToString(t[:]) }
func (s SpanID) String() string  { return hex.EncodeToString(s[:]) }

// IsZero reports whether the id is all zero (OTLP's "no parent").
func (s SpanID) IsZero() bool { return s == SpanID{} }

// IsZero reports whether the id is all zero.
func (t TraceID) IsZero() bool { return t == TraceID{} }

// ParseTraceID parses a 32-character hex trace id.
func ParseTraceID(s string) (TraceID, bool) {
	var t TraceID
	if len(s) != 32 {
		return t, false
	}
	if _, err := hex.Decode(t[:], []byte(s)); err != nil {
		return t, false
	}
	return t, true
}

// Attr is one span attribute. Value is the attribute rendered as text: strings
// as they are, integers in decimal, booleans as true/false, arrays joined with
// commas (raft.quorum may be sent either way).
type Attr struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Link is an OTLP span link: the context of a traced entry a batched span
// carried or acknowledged.
type Link struct {
	TraceID TraceID
	SpanID  SpanID
}

// Pos names where a span was read, for error messages and the detail pane.
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string { return p.File + ":" + strconv.Itoa(p.Line) }

// Span is one span as the tracer keeps it: ids, the member that recorded it,
// times in Unix nanoseconds, attributes in the order they were written.
type Span struct {
	TraceID TraceID
	SpanID  SpanID
	Parent  SpanID // zero for a root (the gRPC span without a client parent, bbolt.commit)
	Name    string
	Member  string // resource service.instance.id
	Kind    int32  // OTLP SpanKind number
	Start   int64  // Unix ns
	End     int64  // Unix ns
	Attrs   []Attr
	Links   []Link
	Pos     Pos
}

// Duration is End-Start.
func (s *Span) Duration() time.Duration { return time.Duration(s.End - s.Start) }

// Attr returns the value of attribute key and whether it was present.
func (s *Span) Attr(key string) (string, bool) {
	for i := range s.Attrs {
		if s.Attrs[i].Key == key {
			return s.Attrs[i].Value, true
		}
	}
	return "", false
}

// Str returns attribute key, or "" when absent.
func (s *Span) Str(key string) string {
	v, _ := s.Attr(key)
	return v
}

// Uint returns attribute key as an unsigned integer, 0 when absent or not a number.
func (s *Span) Uint(key string) uint64 {
	v, ok := s.Attr(key)
	if !ok {
		return 0
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// Int returns attribute key as a signed integer, 0 when absent or not a number.
func (s *Span) Int(key string) int64 {
	v, ok := s.Attr(key)
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// Bool returns attribute key as a boolean.
func (s *Span) Bool(key string) bool { return s.Str(key) == "true" }

// LinksTo reports whether the span links to trace t.
func (s *Span) LinksTo(t TraceID) bool {
	for _, l := range s.Links {
		if l.TraceID == t {
			return true
		}
	}
	return false
}

// Covers reports whether the span's [raft.first_index, raft.last_index] range
// holds index i and it carried entries (raft.entries > 0 or the range is set).
func (s *Span) Covers(i uint64) bool {
	first, last := s.Uint("raft.first_index"), s.Uint("raft.last_index")
	if first == 0 || last < first {
		return false
	}
	if n, ok := s.Attr("raft.entries"); ok && n == "0" {
		return false
	}
	return first <= i && i <= last
}
