package instrument

import (
	"encoding/hex"
	"strconv"

	"go.opentelemetry.io/otel/codes"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// appendRecordsJSON writes one batch of ended spans of one provider as an
// OTLP JSON ExportTraceServiceRequest: the same bytes the SDK-span oracle
// (appendSpansJSON, otlpspans_oracle_test.go) writes for the SDK's
// snapshots of the same spans
// (TestAppendRecordsJSONMatchesSnapshots). A batch has one resource (its
// provider's); spans are grouped by scope, i.e. by tracer, since equal
// scopes share a tracer, in the order each scope first appears.
func appendRecordsJSON(dst []byte, batch []*record) []byte {
	if len(batch) == 0 {
		return append(dst, `{"resourceSpans":[]}`...)
	}
	var scopes [4]*tracer
	seen := scopes[:0]
	for _, r := range batch {
		found := false
		for _, t := range seen {
			if t == r.tr {
				found = true
				break
			}
		}
		if !found {
			seen = append(seen, r.tr)
		}
	}

	tp := batch[0].tr.tp
	dst = append(dst, `{"resourceSpans":[{"resource":{"attributes":`...)
	dst = appendAttrs(dst, tp.resAttrs)
	schema := tp.res.SchemaURL()
	dst = append(dst, `},"scopeSpans":[`...)
	for j, t := range seen {
		if j > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"scope":{"name":`...)
		dst = appendString(dst, t.scope.Name)
		if v := t.scope.Version; v != "" {
			dst = append(dst, `,"version":`...)
			dst = appendString(dst, v)
		}
		dst = append(dst, `},"spans":[`...)
		k := 0
		for _, r := range batch {
			if r.tr != t {
				continue
			}
			if k > 0 {
				dst = append(dst, ',')
			}
			k++
			dst = appendRecord(dst, r)
		}
		dst = append(dst, ']')
		if u := t.scope.SchemaURL; u != "" {
			dst = append(dst, `,"schemaUrl":`...)
			dst = appendString(dst, u)
		}
		dst = append(dst, '}')
	}
	dst = append(dst, ']')
	if schema != "" {
		dst = append(dst, `,"schemaUrl":`...)
		dst = appendString(dst, schema)
	}
	return append(dst, "}]}"...)
}

// appendRecord mirrors appendReadOnlySpan field by field.
func appendRecord(dst []byte, r *record) []byte {
	sc := r.sc
	tid, sid := sc.TraceID(), sc.SpanID()
	dst = append(dst, `{"traceId":"`...)
	dst = hex.AppendEncode(dst, tid[:])
	dst = append(dst, `","spanId":"`...)
	dst = hex.AppendEncode(dst, sid[:])
	dst = append(dst, '"')
	if ts := sc.TraceState(); ts.Len() > 0 {
		dst = append(dst, `,"traceState":`...)
		dst = appendString(dst, ts.String())
	}
	if psid := r.parent.SpanID(); psid.IsValid() {
		dst = append(dst, `,"parentSpanId":"`...)
		dst = hex.AppendEncode(dst, psid[:])
		dst = append(dst, '"')
	}
	dst = append(dst, `,"flags":`...)
	dst = strconv.AppendUint(dst, uint64(spanFlags(sc.TraceFlags(), r.parent.IsRemote())), 10)
	dst = append(dst, `,"name":`...)
	dst = appendString(dst, r.name)
	if k := spanKind(r.kind); k != 0 {
		dst = append(dst, `,"kind":`...)
		dst = strconv.AppendInt(dst, int64(k), 10)
	}
	dst = append(dst, `,"startTimeUnixNano":"`...)
	dst = strconv.AppendUint(dst, unixNano(r.start.UnixNano()), 10)
	dst = append(dst, `","endTimeUnixNano":"`...)
	dst = strconv.AppendUint(dst, unixNano(r.end.UnixNano()), 10)
	dst = append(dst, '"')
	if len(r.attrs) > 0 {
		dst = append(dst, `,"attributes":`...)
		dst = appendAttrs(dst, r.attrs)
	}
	if n := r.droppedAttrs; n != 0 {
		dst = append(dst, `,"droppedAttributesCount":`...)
		dst = strconv.AppendUint(dst, uint64(uint32(n)), 10)
	}
	if len(r.events) > 0 {
		dst = append(dst, `,"events":[`...)
		for i, e := range r.events {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"timeUnixNano":"`...)
			dst = strconv.AppendUint(dst, unixNano(e.time.UnixNano()), 10)
			dst = append(dst, `","name":`...)
			dst = appendString(dst, e.name)
			if len(e.attrs) > 0 {
				dst = append(dst, `,"attributes":`...)
				dst = appendAttrs(dst, e.attrs)
			}
			if n := e.dropped; n != 0 {
				dst = append(dst, `,"droppedAttributesCount":`...)
				dst = strconv.AppendUint(dst, uint64(uint32(n)), 10)
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if n := r.droppedEvs; n != 0 {
		dst = append(dst, `,"droppedEventsCount":`...)
		dst = strconv.AppendUint(dst, uint64(uint32(n)), 10)
	}
	if len(r.links) > 0 {
		dst = append(dst, `,"links":[`...)
		for i, l := range r.links {
			if i > 0 {
				dst = append(dst, ',')
			}
			ltid, lsid := l.SpanContext.TraceID(), l.SpanContext.SpanID()
			dst = append(dst, `{"traceId":"`...)
			dst = hex.AppendEncode(dst, ltid[:])
			dst = append(dst, `","spanId":"`...)
			dst = hex.AppendEncode(dst, lsid[:])
			dst = append(dst, '"')
			if ts := l.SpanContext.TraceState(); ts.Len() > 0 {
				dst = append(dst, `,"traceState":`...)
				dst = appendString(dst, ts.String())
			}
			if len(l.Attributes) > 0 {
				dst = append(dst, `,"attributes":`...)
				dst = appendAttrs(dst, l.Attributes)
			}
			if r.linkDropped != nil && r.linkDropped[i] != 0 {
				dst = append(dst, `,"droppedAttributesCount":`...)
				dst = strconv.AppendUint(dst, uint64(uint32(r.linkDropped[i])), 10)
			}
			dst = append(dst, `,"flags":`...)
			dst = strconv.AppendUint(dst, uint64(spanFlags(l.SpanContext.TraceFlags(), l.SpanContext.IsRemote())), 10)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if n := r.droppedLinks; n != 0 {
		dst = append(dst, `,"droppedLinksCount":`...)
		dst = strconv.AppendUint(dst, uint64(uint32(n)), 10)
	}
	var code tracepb.Status_StatusCode
	switch r.status {
	case codes.Ok:
		code = tracepb.Status_STATUS_CODE_OK
	case codes.Error:
		code = tracepb.Status_STATUS_CODE_ERROR
	}
	if code != 0 || r.statusDesc != "" {
		dst = append(dst, `,"status":{`...)
		if r.statusDesc != "" {
			dst = append(dst, `"message":`...)
			dst = appendString(dst, r.statusDesc)
			if code != 0 {
				dst = append(dst, ',')
			}
		}
		if code != 0 {
			dst = append(dst, `"code":`...)
			dst = strconv.AppendInt(dst, int64(code), 10)
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}
