package instrument

import (
	"encoding/base64"
	"encoding/hex"
	"math"
	"strconv"
	"unicode/utf8"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// appendRequestJSON writes req in the OTLP JSON encoding straight into dst:
// ids as lower-case hex, enums as numbers, 64-bit integers as decimal
// strings, zero values left out (as protojson does). It exists because the
// generic path (protojson, then rewriting the ids) cost ~10x more CPU per
// span, which on a small machine slowed the members it was tracing.
func appendRequestJSON(dst []byte, req *collectortrace.ExportTraceServiceRequest) []byte {
	dst = append(dst, `{"resourceSpans":[`...)
	for i, rs := range req.GetResourceSpans() {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '{')
		dst = append(dst, `"resource":{"attributes":`...)
		dst = appendKeyValues(dst, rs.GetResource().GetAttributes())
		dst = append(dst, `},"scopeSpans":[`...)
		for j, ss := range rs.GetScopeSpans() {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"scope":{"name":`...)
			dst = appendString(dst, ss.GetScope().GetName())
			if v := ss.GetScope().GetVersion(); v != "" {
				dst = append(dst, `,"version":`...)
				dst = appendString(dst, v)
			}
			dst = append(dst, `},"spans":[`...)
			for k, sp := range ss.GetSpans() {
				if k > 0 {
					dst = append(dst, ',')
				}
				dst = appendSpan(dst, sp)
			}
			dst = append(dst, ']')
			if u := ss.GetSchemaUrl(); u != "" {
				dst = append(dst, `,"schemaUrl":`...)
				dst = appendString(dst, u)
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
		if u := rs.GetSchemaUrl(); u != "" {
			dst = append(dst, `,"schemaUrl":`...)
			dst = appendString(dst, u)
		}
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

func appendSpan(dst []byte, s *tracepb.Span) []byte {
	dst = append(dst, `{"traceId":"`...)
	dst = hex.AppendEncode(dst, s.GetTraceId())
	dst = append(dst, `","spanId":"`...)
	dst = hex.AppendEncode(dst, s.GetSpanId())
	dst = append(dst, '"')
	if ts := s.GetTraceState(); ts != "" {
		dst = append(dst, `,"traceState":`...)
		dst = appendString(dst, ts)
	}
	if p := s.GetParentSpanId(); len(p) > 0 {
		dst = append(dst, `,"parentSpanId":"`...)
		dst = hex.AppendEncode(dst, p)
		dst = append(dst, '"')
	}
	if f := s.GetFlags(); f != 0 {
		dst = append(dst, `,"flags":`...)
		dst = strconv.AppendUint(dst, uint64(f), 10)
	}
	dst = append(dst, `,"name":`...)
	dst = appendString(dst, s.GetName())
	if k := s.GetKind(); k != 0 {
		dst = append(dst, `,"kind":`...)
		dst = strconv.AppendInt(dst, int64(k), 10)
	}
	dst = append(dst, `,"startTimeUnixNano":"`...)
	dst = strconv.AppendUint(dst, s.GetStartTimeUnixNano(), 10)
	dst = append(dst, `","endTimeUnixNano":"`...)
	dst = strconv.AppendUint(dst, s.GetEndTimeUnixNano(), 10)
	dst = append(dst, '"')
	if a := s.GetAttributes(); len(a) > 0 {
		dst = append(dst, `,"attributes":`...)
		dst = appendKeyValues(dst, a)
	}
	if n := s.GetDroppedAttributesCount(); n != 0 {
		dst = append(dst, `,"droppedAttributesCount":`...)
		dst = strconv.AppendUint(dst, uint64(n), 10)
	}
	if evs := s.GetEvents(); len(evs) > 0 {
		dst = append(dst, `,"events":[`...)
		for i, e := range evs {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"timeUnixNano":"`...)
			dst = strconv.AppendUint(dst, e.GetTimeUnixNano(), 10)
			dst = append(dst, `","name":`...)
			dst = appendString(dst, e.GetName())
			if a := e.GetAttributes(); len(a) > 0 {
				dst = append(dst, `,"attributes":`...)
				dst = appendKeyValues(dst, a)
			}
			if n := e.GetDroppedAttributesCount(); n != 0 {
				dst = append(dst, `,"droppedAttributesCount":`...)
				dst = strconv.AppendUint(dst, uint64(n), 10)
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if n := s.GetDroppedEventsCount(); n != 0 {
		dst = append(dst, `,"droppedEventsCount":`...)
		dst = strconv.AppendUint(dst, uint64(n), 10)
	}
	if ls := s.GetLinks(); len(ls) > 0 {
		dst = append(dst, `,"links":[`...)
		for i, l := range ls {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"traceId":"`...)
			dst = hex.AppendEncode(dst, l.GetTraceId())
			dst = append(dst, `","spanId":"`...)
			dst = hex.AppendEncode(dst, l.GetSpanId())
			dst = append(dst, '"')
			if ts := l.GetTraceState(); ts != "" {
				dst = append(dst, `,"traceState":`...)
				dst = appendString(dst, ts)
			}
			if a := l.GetAttributes(); len(a) > 0 {
				dst = append(dst, `,"attributes":`...)
				dst = appendKeyValues(dst, a)
			}
			if n := l.GetDroppedAttributesCount(); n != 0 {
				dst = append(dst, `,"droppedAttributesCount":`...)
				dst = strconv.AppendUint(dst, uint64(n), 10)
			}
			if f := l.GetFlags(); f != 0 {
				dst = append(dst, `,"flags":`...)
				dst = strconv.AppendUint(dst, uint64(f), 10)
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if n := s.GetDroppedLinksCount(); n != 0 {
		dst = append(dst, `,"droppedLinksCount":`...)
		dst = strconv.AppendUint(dst, uint64(n), 10)
	}
	if st := s.GetStatus(); st != nil && (st.GetCode() != 0 || st.GetMessage() != "") {
		dst = append(dst, `,"status":{`...)
		sep := false
		if m := st.GetMessage(); m != "" {
			dst = append(dst, `"message":`...)
			dst = appendString(dst, m)
			sep = true
		}
		if c := st.GetCode(); c != 0 {
			if sep {
				dst = append(dst, ',')
			}
			dst = append(dst, `"code":`...)
			dst = strconv.AppendInt(dst, int64(c), 10)
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

func appendKeyValues(dst []byte, kvs []*commonpb.KeyValue) []byte {
	dst = append(dst, '[')
	for i, kv := range kvs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"key":`...)
		dst = appendString(dst, kv.GetKey())
		dst = append(dst, `,"value":`...)
		dst = appendAnyValue(dst, kv.GetValue())
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

func appendAnyValue(dst []byte, v *commonpb.AnyValue) []byte {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		dst = append(dst, `{"stringValue":`...)
		dst = appendString(dst, x.StringValue)
	case *commonpb.AnyValue_BoolValue:
		dst = append(dst, `{"boolValue":`...)
		dst = strconv.AppendBool(dst, x.BoolValue)
	case *commonpb.AnyValue_IntValue:
		dst = append(dst, `{"intValue":"`...)
		dst = strconv.AppendInt(dst, x.IntValue, 10)
		dst = append(dst, '"')
	case *commonpb.AnyValue_DoubleValue:
		dst = append(dst, `{"doubleValue":`...)
		switch f := x.DoubleValue; {
		case math.IsNaN(f):
			dst = append(dst, `"NaN"`...)
		case math.IsInf(f, 1):
			dst = append(dst, `"Infinity"`...)
		case math.IsInf(f, -1):
			dst = append(dst, `"-Infinity"`...)
		default:
			dst = strconv.AppendFloat(dst, f, 'g', -1, 64)
		}
	case *commonpb.AnyValue_BytesValue:
		dst = append(dst, `{"bytesValue":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, x.BytesValue)
		dst = append(dst, '"')
	case *commonpb.AnyValue_ArrayValue:
		dst = append(dst, `{"arrayValue":{"values":[`...)
		for i, e := range x.ArrayValue.GetValues() {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendAnyValue(dst, e)
		}
		dst = append(dst, "]}"...)
	case *commonpb.AnyValue_KvlistValue:
		dst = append(dst, `{"kvlistValue":{"values":`...)
		dst = appendKeyValues(dst, x.KvlistValue.GetValues())
		dst = append(dst, '}')
	default:
		return append(dst, "{}"...)
	}
	return append(dst, '}')
}

// appendString writes s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json does, so a key holding arbitrary bytes still yields JSON.
func appendString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	// Fast path: keys and most values are plain ASCII, copied in one go.
	i := 0
	for i < len(s) && jsonPlain[s[i]] {
		i++
	}
	dst = append(dst, s[:i]...)
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else if r == '\u2028' || r == '\u2029' {
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

// jsonPlain marks the bytes appendString copies as they are: printable
// ASCII other than '"', '\\' and the HTML-sensitive '<', '>', '&'.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()
