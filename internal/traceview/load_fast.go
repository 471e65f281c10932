package traceview

import (
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"unicode/utf8"
)

// fastDecoder turns one OTLP JSON line into Spans without protojson: a
// scanner that knows the shape of an ExportTraceServiceRequest, reads ids,
// times and attributes straight from the line and allocates little (strings
// go to interned copies or to a shared arena, attributes and links to slabs).
//
// It is a FAST PATH ONLY. Whenever a line holds anything it does not handle
// exactly as protojson + convert would -- escapes in a string, null, a
// duplicate field, a proto (snake_case) field name, a float, an id that is
// neither hex nor padded standard base64, a resource after its spans -- and
// whenever the line is invalid in any way, it gives up on that line, undoes
// what it appended, and the caller decodes the line with decodeLine (the
// protojson path). So results and error messages are those of decodeLine by
// construction; TestFastDecodeMatchesProtojson checks the fast results.
type fastDecoder struct {
	in    *interner
	known map[string]bool // span name -> Known(name), by interned name

	attrs   []Attr // scratch: the attributes of the span being read
	links   []Link // scratch: its links
	vbuf    []byte // scratch: an attribute value being rendered
	idbuf   [64]byte
	unknown []string // unknown span names of the current line

	attrSlab []Attr          // spans' Attrs are carved from this
	linkSlab []Link          // and their Links from this
	arena    strings.Builder // backs attribute values that are not interned
}

const (
	slabAttrs  = 8192
	slabLinks  = 2048
	arenaBytes = 256 << 10
)

func newFastDecoder(in *interner) *fastDecoder {
	return &fastDecoder{in: in, known: map[string]bool{}}
}

// scanner reads JSON from b. Once bad is set every method returns the zero
// result, so loops written with it end; the caller checks bad at the end.
type scanner struct {
	b   []byte
	i   int
	bad bool
}

func (s *scanner) fail() bool { s.bad = true; return false }

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) && !s.bad {
		return s.b[s.i]
	}
	return 0
}

// str reads a string without escapes and returns its bytes, a slice of the
// line. A string with escapes, control characters or invalid UTF-8 fails.
func (s *scanner) str() []byte {
	if s.peek() != '"' {
		s.fail()
		return nil
	}
	s.i++
	start := s.i
	ascii := true
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			if !ascii && !utf8.Valid(v) {
				s.fail()
				return nil
			}
			return v
		case c == '\\' || c < 0x20:
			s.fail()
			return nil
		case c >= 0x80:
			ascii = false
		}
		s.i++
	}
	s.fail()
	return nil
}

// objFirst consumes '{' and reports whether a member follows; key reads it.
func (s *scanner) objFirst() bool {
	if s.peek() != '{' {
		return s.fail()
	}
	s.i++
	if s.peek() == '}' {
		s.i++
		return false
	}
	return !s.bad
}

// objNext consumes ',' (true: another member follows) or '}' (false).
func (s *scanner) objNext() bool {
	switch s.peek() {
	case ',':
		s.i++
		return true
	case '}':
		s.i++
		return false
	}
	return s.fail()
}

// key reads a member name and its ':'.
func (s *scanner) key() []byte {
	k := s.str()
	if s.peek() != ':' {
		s.fail()
		return nil
	}
	s.i++
	return k
}

func (s *scanner) arrFirst() bool {
	if s.peek() != '[' {
		return s.fail()
	}
	s.i++
	if s.peek() == ']' {
		s.i++
		return false
	}
	return !s.bad
}

func (s *scanner) arrNext() bool {
	switch s.peek() {
	case ',':
		s.i++
		return true
	case ']':
		s.i++
		return false
	}
	return s.fail()
}

// number reads a JSON number token.
func (s *scanner) number() []byte {
	s.ws()
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	digits := func() int {
		n := 0
		for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.i < len(s.b) && s.b[s.i] == '0' {
		s.i++
	} else if digits() == 0 {
		s.fail()
		return nil
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if digits() == 0 {
			s.fail()
			return nil
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			s.fail()
			return nil
		}
	}
	return s.b[start:s.i]
}

func (s *scanner) lit(word string) bool {
	s.ws()
	if len(s.b)-s.i >= len(word) && string(s.b[s.i:s.i+len(word)]) == word {
		s.i += len(word)
		return true
	}
	return s.fail()
}

// skip reads any JSON value (fields protojson would discard as unknown).
func (s *scanner) skip(depth int) {
	if depth > 64 {
		s.fail()
		return
	}
	switch c := s.peek(); {
	case c == '"':
		s.str()
	case c == '{':
		for more := s.objFirst(); more; more = s.objNext() {
			s.key()
			s.skip(depth + 1)
		}
	case c == '[':
		for more := s.arrFirst(); more; more = s.arrNext() {
			s.skip(depth + 1)
		}
	case c == 't':
		s.lit("true")
	case c == 'f':
		s.lit("false")
	case c == '-' || '0' <= c && c <= '9':
		s.number()
	default: // null among them: a known field set to null goes the slow way too
		s.fail()
	}
}

// uint reads an unsigned integer written as a JSON number or string of
// plain digits (no sign, no leading zero, no exponent) that fits in bits.
func (s *scanner) uint(bits int) uint64 {
	var t []byte
	if s.peek() == '"' {
		t = s.str()
	} else {
		t = s.number()
	}
	if s.bad || len(t) == 0 || len(t) > 1 && t[0] == '0' {
		s.fail()
		return 0
	}
	var n uint64
	for _, c := range t {
		if c < '0' || c > '9' {
			s.fail()
			return 0
		}
		d := uint64(c - '0')
		if n > (1<<64-1-d)/10 {
			s.fail()
			return 0
		}
		n = n*10 + d
	}
	if bits < 64 && n >= 1<<bits {
		s.fail()
		return 0
	}
	return n
}

// intText reads a signed integer as uint does and returns its canonical
// decimal text, which is what strconv.FormatInt gives for it.
func (s *scanner) intText() []byte {
	var t []byte
	if s.peek() == '"' {
		t = s.str()
	} else {
		t = s.number()
	}
	d := t
	if len(d) > 0 && d[0] == '-' {
		d = d[1:]
	}
	if s.bad || len(d) == 0 || len(d) > 1 && d[0] == '0' || len(d) < len(t) && string(d) == "0" || len(d) > 19 {
		s.fail()
		return nil
	}
	for _, c := range d {
		if c < '0' || c > '9' {
			s.fail()
			return nil
		}
	}
	if len(d) == 19 {
		if _, err := strconv.ParseInt(string(t), 10, 64); err != nil {
			s.fail()
			return nil
		}
	}
	return t
}

// fields tracks which known fields of one object were seen: protojson fails
// on a repeated field, so the fast path gives up on one.
type fields uint32

func (f *fields) once(s *scanner, bit uint) {
	if *f&(1<<bit) != 0 {
		s.fail()
	}
	*f |= 1 << bit
}

// unknownKey skips the value of a member the fast path does not model. A
// snake_case name may be a proto field name protojson accepts: slow path.
func (s *scanner) unknownKey(k []byte) {
	if strings.IndexByte(string(k), '_') >= 0 {
		s.fail()
		return
	}
	s.skip(0)
}

var spanKinds = map[string]int32{
	"SPAN_KIND_UNSPECIFIED": 0, "SPAN_KIND_INTERNAL": 1, "SPAN_KIND_SERVER": 2,
	"SPAN_KIND_CLIENT": 3, "SPAN_KIND_PRODUCER": 4, "SPAN_KIND_CONSUMER": 5,
}

var statusCodes = map[string]bool{"STATUS_CODE_UNSET": true, "STATUS_CODE_OK": true, "STATUS_CODE_ERROR": true}

// enum reads an enum as a number (any int32) or one of names.
func (s *scanner) enum(names func([]byte) (int32, bool)) int32 {
	if s.peek() == '"' {
		v, ok := names(s.str())
		if !ok {
			s.fail()
		}
		return v
	}
	t := s.number()
	n, err := strconv.ParseInt(string(t), 10, 32)
	if err != nil {
		s.fail()
	}
	return int32(n)
}

func kindByName(n []byte) (int32, bool) { v, ok := spanKinds[string(n)]; return v, ok }
func statusByName(n []byte) (int32, bool) {
	return 0, statusCodes[string(n)]
}

// decodeLine appends the line's spans to dst and reports whether it could;
// when not, dst, unknown and the interner's meaning are as before the call.
func (d *fastDecoder) decodeLine(dst []Span, line []byte, pos Pos, unknown map[string]int) ([]Span, bool) {
	n0 := len(dst)
	d.unknown = d.unknown[:0]
	s := &scanner{b: line}
	var top fields
	for more := s.objFirst(); more; more = s.objNext() {
		switch k := s.key(); string(k) {
		case "resourceSpans":
			top.once(s, 0)
			for more := s.arrFirst(); more; more = s.arrNext() {
				dst = d.resourceSpans(s, dst, pos)
			}
		default:
			s.unknownKey(k)
		}
	}
	if s.ws(); s.i != len(s.b) || s.bad {
		return dst[:n0], false
	}
	for _, n := range d.unknown {
		unknown[n]++
	}
	return dst, true
}

func (d *fastDecoder) resourceSpans(s *scanner, dst []Span, pos Pos) []Span {
	member := ""
	var f fields
	for more := s.objFirst(); more; more = s.objNext() {
		switch k := s.key(); string(k) {
		case "resource":
			if f&(1<<1) != 0 { // the spans were read without their member
				s.fail()
			}
			f.once(s, 0)
			var rf fields
			for more := s.objFirst(); more; more = s.objNext() {
				switch k := s.key(); string(k) {
				case "attributes":
					rf.once(s, 0)
					for more := s.arrFirst(); more; more = s.arrNext() {
						key, v := d.keyValue(s)
						if key == "service.instance.id" {
							member = d.in.sb(v)
						}
					}
				case "droppedAttributesCount":
					rf.once(s, 1)
					s.uint(32)
				default:
					s.unknownKey(k)
				}
			}
		case "scopeSpans":
			f.once(s, 1)
			for more := s.arrFirst(); more; more = s.arrNext() {
				dst = d.scopeSpans(s, dst, pos, member)
			}
		case "schemaUrl":
			f.once(s, 2)
			s.str()
		default:
			s.unknownKey(k)
		}
		if s.bad {
			return dst
		}
	}
	return dst
}

func (d *fastDecoder) scopeSpans(s *scanner, dst []Span, pos Pos, member string) []Span {
	var f fields
	for more := s.objFirst(); more; more = s.objNext() {
		switch k := s.key(); string(k) {
		case "scope":
			f.once(s, 0)
			var sf fields
			for more := s.objFirst(); more; more = s.objNext() {
				switch k := s.key(); string(k) {
				case "name":
					sf.once(s, 0)
					s.str()
				case "version":
					sf.once(s, 1)
					s.str()
				case "attributes":
					sf.once(s, 2)
					d.skipAttributes(s)
				case "droppedAttributesCount":
					sf.once(s, 3)
					s.uint(32)
				default:
					s.unknownKey(k)
				}
			}
		case "spans":
			f.once(s, 1)
			for more := s.arrFirst(); more; more = s.arrNext() {
				dst = d.span(s, dst, pos, member)
			}
		case "schemaUrl":
			f.once(s, 2)
			s.str()
		default:
			s.unknownKey(k)
		}
		if s.bad {
			return dst
		}
	}
	return dst
}

// span reads one span and, when its name is in the vocabulary, appends it,
// applying exactly convert's checks (failing where convert errs).
func (d *fastDecoder) span(s *scanner, dst []Span, pos Pos, member string) []Span {
	var f fields
	var tid, sid, pid, name []byte
	var kind int32
	var start, end uint64
	d.attrs, d.links = d.attrs[:0], d.links[:0]
	for more := s.objFirst(); more; more = s.objNext() {
		switch k := s.key(); string(k) {
		case "traceId":
			f.once(s, 0)
			tid = s.str()
		case "spanId":
			f.once(s, 1)
			sid = s.str()
		case "parentSpanId":
			f.once(s, 2)
			pid = s.str()
		case "name":
			f.once(s, 3)
			name = s.str()
		case "kind":
			f.once(s, 4)
			kind = s.enum(kindByName)
		case "startTimeUnixNano":
			f.once(s, 5)
			start = s.uint(64)
		case "endTimeUnixNano":
			f.once(s, 6)
			end = s.uint(64)
		case "attributes":
			f.once(s, 7)
			for more := s.arrFirst(); more; more = s.arrNext() {
				key, v := d.keyValue(s)
				if s.bad {
					break
				}
				d.attrs = append(d.attrs, Attr{Key: key, Value: d.value(key, v)})
			}
		case "links":
			f.once(s, 8)
			for more := s.arrFirst(); more; more = s.arrNext() {
				d.link(s)
			}
		case "traceState":
			f.once(s, 9)
			s.str()
		case "flags":
			f.once(s, 10)
			s.uint(32)
		case "droppedAttributesCount":
			f.once(s, 11)
			s.uint(32)
		case "droppedEventsCount":
			f.once(s, 12)
			s.uint(32)
		case "droppedLinksCount":
			f.once(s, 13)
			s.uint(32)
		case "events":
			f.once(s, 14)
			for more := s.arrFirst(); more; more = s.arrNext() {
				d.event(s)
			}
		case "status":
			f.once(s, 15)
			var sf fields
			for more := s.objFirst(); more; more = s.objNext() {
				switch k := s.key(); string(k) {
				case "message":
					sf.once(s, 0)
					s.str()
				case "code":
					sf.once(s, 1)
					s.enum(statusByName)
				default:
					s.unknownKey(k)
				}
			}
		default:
			s.unknownKey(k)
		}
		if s.bad {
			return dst
		}
	}
	if s.bad {
		return dst
	}
	// From here on convert's order of checks; any failure sends the line to
	// the slow path, which reports it.
	nm := d.in.sb(name)
	known, ok := d.known[nm]
	if !ok {
		known = Known(nm)
		d.known[nm] = known
	}
	if !known {
		// convert skips the span before looking at its ids; protojson has
		// checked they are base64 at all.
		for _, id := range [][]byte{tid, sid, pid} {
			if _, ok := d.rawID(id); !ok {
				s.fail()
			}
		}
		d.unknown = append(d.unknown, nm)
		return dst
	}
	var sp Span
	sp.Pos = pos
	sp.Name = nm
	sp.Member = member
	if !d.id(sp.TraceID[:], tid, false) || !d.id(sp.SpanID[:], sid, false) || !d.id(sp.Parent[:], pid, true) {
		s.fail()
		return dst
	}
	sp.Kind = kind
	if start > 1<<63-1 || end > 1<<63-1 {
		s.fail()
		return dst
	}
	sp.Start, sp.End = int64(start), int64(end)
	if sp.Start == 0 || sp.End < sp.Start {
		s.fail()
		return dst
	}
	n := len(d.attrs)
	if cap(d.attrSlab)-len(d.attrSlab) < n {
		d.attrSlab = make([]Attr, 0, max(slabAttrs, n))
	}
	l := len(d.attrSlab)
	d.attrSlab = append(d.attrSlab, d.attrs...)
	sp.Attrs = d.attrSlab[l : l+n : l+n]
	if n == 0 {
		sp.Attrs = []Attr{} // as convert: empty, not nil (JSON [] not null)
	}
	if sp.Member == "" {
		sp.Member = d.in.s(sp.Str("kv.member"))
	}
	if sp.Member == "" {
		s.fail()
		return dst
	}
	if n := len(d.links); n > 0 {
		if cap(d.linkSlab)-len(d.linkSlab) < n {
			d.linkSlab = make([]Link, 0, max(slabLinks, n))
		}
		l := len(d.linkSlab)
		d.linkSlab = append(d.linkSlab, d.links...)
		sp.Links = d.linkSlab[l : l+n : l+n]
	}
	if checkContract(&sp) != nil {
		s.fail()
		return dst
	}
	return append(dst, sp)
}

func (d *fastDecoder) link(s *scanner) {
	var f fields
	var tid, sid []byte
	for more := s.objFirst(); more; more = s.objNext() {
		switch k := s.key(); string(k) {
		case "traceId":
			f.once(s, 0)
			tid = s.str()
		case "spanId":
			f.once(s, 1)
			sid = s.str()
		case "traceState":
			f.once(s, 2)
			s.str()
		case "attributes":
			f.once(s, 3)
			d.skipAttributes(s)
		case "droppedAttributesCount":
			f.once(s, 4)
			s.uint(32)
		case "flags":
			f.once(s, 5)
			s.uint(32)
		default:
			s.unknownKey(k)
		}
	}
	var lk Link
	if !s.bad && (!d.id(lk.TraceID[:], tid, false) || !d.id(lk.SpanID[:], sid, false)) {
		s.fail()
	}
	d.links = append(d.links, lk)
}

func (d *fastDecoder) event(s *scanner) {
	var f fields
	for more := s.objFirst(); more; more = s.objNext() {
		switch k := s.key(); string(k) {
		case "timeUnixNano":
			f.once(s, 0)
			s.uint(64)
		case "name":
			f.once(s, 1)
			s.str()
		case "attributes":
			f.once(s, 2)
			d.skipAttributes(s)
		case "droppedAttributesCount":
			f.once(s, 3)
			s.uint(32)
		default:
			s.unknownKey(k)
		}
	}
}

// skipAttributes reads a KeyValue list that the model does not keep.
func (d *fastDecoder) skipAttributes(s *scanner) {
	for more := s.arrFirst(); more; more = s.arrNext() {
		d.keyValue(s)
	}
}

// keyValue reads {"key": ..., "value": AnyValue}: the interned key and the
// value rendered as anyString does, in d.vbuf (valid until the next call).
func (d *fastDecoder) keyValue(s *scanner) (string, []byte) {
	var f fields
	var key []byte
	d.vbuf = d.vbuf[:0]
	for more := s.objFirst(); more; more = s.objNext() {
		switch k := s.key(); string(k) {
		case "key":
			f.once(s, 0)
			key = s.str()
		case "value":
			f.once(s, 1)
			d.vbuf = d.anyValue(s, d.vbuf[:0], 0)
		default:
			s.unknownKey(k)
		}
	}
	if s.bad {
		return "", nil
	}
	return d.in.sb(key), d.vbuf
}

// anyValue appends the text anyString gives for an AnyValue.
func (d *fastDecoder) anyValue(s *scanner, buf []byte, depth int) []byte {
	if depth > 16 {
		s.fail()
		return buf
	}
	set := false
	for more := s.objFirst(); more; more = s.objNext() {
		k := s.key()
		if set { // a oneof set twice
			s.fail()
			return buf
		}
		set = true
		switch string(k) {
		case "stringValue":
			buf = append(buf, s.str()...)
		case "intValue":
			buf = append(buf, s.intText()...)
		case "boolValue":
			if s.peek() == 't' && s.lit("true") {
				buf = append(buf, "true"...)
			} else if s.lit("false") {
				buf = append(buf, "false"...)
			}
		case "doubleValue":
			if c := s.peek(); c != '-' && (c < '0' || c > '9') {
				s.fail() // "NaN", "Infinity" and numbers in strings: slow path
				return buf
			}
			t := s.number()
			v, err := strconv.ParseFloat(string(t), 64)
			if err != nil {
				s.fail()
				return buf
			}
			buf = strconv.AppendFloat(buf, v, 'g', -1, 64)
		case "bytesValue":
			raw, ok := d.rawID(s.str())
			if !ok {
				s.fail()
				return buf
			}
			buf = hex.AppendEncode(buf, raw)
		case "arrayValue", "kvlistValue":
			kv := string(k) == "kvlistValue"
			var f fields
			for more := s.objFirst(); more; more = s.objNext() {
				switch k := s.key(); string(k) {
				case "values":
					f.once(s, 0)
					first := true
					for more := s.arrFirst(); more; more = s.arrNext() {
						if !first {
							buf = append(buf, ',')
						}
						first = false
						if kv {
							buf = d.kvEntry(s, buf, depth+1)
						} else {
							buf = d.anyValue(s, buf, depth+1)
						}
					}
				default:
					s.unknownKey(k)
				}
			}
		default:
			if strings.IndexByte(string(k), '_') >= 0 {
				s.fail()
				return buf
			}
			set = false
			s.skip(0)
		}
		if s.bad {
			return buf
		}
	}
	return buf
}

// kvEntry appends key=value for one KeyValue of a kvlistValue.
func (d *fastDecoder) kvEntry(s *scanner, buf []byte, depth int) []byte {
	var f fields
	var key []byte
	var val []byte
	for more := s.objFirst(); more; more = s.objNext() {
		switch k := s.key(); string(k) {
		case "key":
			f.once(s, 0)
			key = s.str()
		case "value":
			f.once(s, 1)
			val = d.anyValue(s, nil, depth)
		default:
			s.unknownKey(k)
		}
	}
	buf = append(buf, key...)
	buf = append(buf, '=')
	return append(buf, val...)
}

// value makes the string kept for attribute key: interned when the key is
// categorical (as convert does), else a slice of the arena.
func (d *fastDecoder) value(key string, v []byte) string {
	if categorical[key] {
		return d.in.sb(v)
	}
	if len(v) == 0 {
		return ""
	}
	if d.arena.Cap()-d.arena.Len() < len(v) {
		// Strings already handed out keep the old buffer alive; the
		// builder never writes over bytes it has returned.
		d.arena = strings.Builder{}
		d.arena.Grow(max(arenaBytes, len(v)))
	}
	off := d.arena.Len()
	d.arena.Write(v)
	return d.arena.String()[off:]
}

// rawID decodes an id as protojson decodes a bytes field, for the forms the
// fast path takes: hex-looking text is also valid base64, so both read it
// the same; other text must be padded standard base64.
func (d *fastDecoder) rawID(t []byte) ([]byte, bool) {
	if len(t)%4 != 0 || base64.StdEncoding.DecodedLen(len(t)) > len(d.idbuf) {
		return nil, false
	}
	n, err := base64.StdEncoding.Decode(d.idbuf[:], t)
	if err != nil {
		return nil, false
	}
	return d.idbuf[:n], true
}

// id fills dst as decodeID does from protojson's bytes: a hex id of the
// right length directly, anything else through rawID and decodeID.
func (d *fastDecoder) id(dst, t []byte, optional bool) bool {
	if len(t) == 2*len(dst) {
		if _, err := hex.Decode(dst, t); err == nil {
			return true
		}
	}
	raw, ok := d.rawID(t)
	return ok && decodeID(dst, raw, optional) == nil
}

// sb interns a string given as bytes; the map lookup does not allocate.
func (in *interner) sb(b []byte) string {
	if x, ok := in.m[string(b)]; ok {
		return x
	}
	v := string(b)
	in.m[v] = v
	return v
}
