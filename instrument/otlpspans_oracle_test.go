package instrument

import (
	"encoding/hex"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// The encoder below writes OTLP JSON straight from the SDK's read-only
// spans. kvd's files are written by appendRecordsJSON (otlprecords.go) from
// kvtrace's own span records now; this one stays as a test oracle: the SDK
// records a sequence of calls one way, kvtrace's tracer another, and the
// two encoders must produce the same lines (TestTracerMatchesSDK), while
// TestAppendSpansJSONMatchesProto checks this encoder against the protobuf
// JSON mapping.

// appendSpansJSON writes spans as one OTLP JSON ExportTraceServiceRequest
// straight from the SDK's read-only spans: the same bytes as
// appendRequestJSON(toRequest(spans)) (TestAppendSpansJSONMatchesProto), but
// without building the tracepb messages first, which cost as much CPU as
// the encoding itself and most of the exporter's allocations.
//
// Spans are grouped by resource, then by scope, in the order each group
// first appears; a member has one resource and two or three scopes, so a
// linear scan of the groups is cheaper than maps.
func appendSpansJSON(dst []byte, spans []sdktrace.ReadOnlySpan) []byte {
	type scopeGroup struct {
		scope instrumentation.Scope
		key   scopeKey
		spans []sdktrace.ReadOnlySpan
	}
	type resGroup struct {
		res    *resource.Resource
		key    attribute.Distinct
		scopes []*scopeGroup
	}
	var groups []*resGroup
	for _, s := range spans {
		if s == nil {
			continue
		}
		r := s.Resource()
		var rk attribute.Distinct
		if r != nil {
			rk = r.Equivalent()
		}
		var rg *resGroup
		for _, g := range groups {
			if g.key == rk {
				rg = g
				break
			}
		}
		if rg == nil {
			rg = &resGroup{res: r, key: rk}
			groups = append(groups, rg)
		}
		is := s.InstrumentationScope()
		sk := scopeKey{is.Name, is.Version, is.SchemaURL, is.Attributes.Equivalent()}
		var sg *scopeGroup
		for _, g := range rg.scopes {
			if g.key == sk {
				sg = g
				break
			}
		}
		if sg == nil {
			sg = &scopeGroup{scope: is, key: sk}
			rg.scopes = append(rg.scopes, sg)
		}
		sg.spans = append(sg.spans, s)
	}

	dst = append(dst, `{"resourceSpans":[`...)
	for i, rg := range groups {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"resource":{"attributes":`...)
		var schema string
		if rg.res != nil {
			dst = appendAttrs(dst, rg.res.Attributes())
			schema = rg.res.SchemaURL()
		} else {
			dst = append(dst, "[]"...)
		}
		dst = append(dst, `},"scopeSpans":[`...)
		for j, sg := range rg.scopes {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"scope":{"name":`...)
			dst = appendString(dst, sg.scope.Name)
			if v := sg.scope.Version; v != "" {
				dst = append(dst, `,"version":`...)
				dst = appendString(dst, v)
			}
			dst = append(dst, `},"spans":[`...)
			for k, s := range sg.spans {
				if k > 0 {
					dst = append(dst, ',')
				}
				dst = appendReadOnlySpan(dst, s)
			}
			dst = append(dst, ']')
			if u := sg.scope.SchemaURL; u != "" {
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
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

// appendReadOnlySpan mirrors appendSpan(spanProto(s)) field by field.
func appendReadOnlySpan(dst []byte, s sdktrace.ReadOnlySpan) []byte {
	sc := s.SpanContext()
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
	parent := s.Parent()
	if psid := parent.SpanID(); psid.IsValid() {
		dst = append(dst, `,"parentSpanId":"`...)
		dst = hex.AppendEncode(dst, psid[:])
		dst = append(dst, '"')
	}
	dst = append(dst, `,"flags":`...)
	dst = strconv.AppendUint(dst, uint64(spanFlags(sc.TraceFlags(), parent.IsRemote())), 10)
	dst = append(dst, `,"name":`...)
	dst = appendString(dst, s.Name())
	if k := spanKind(s.SpanKind()); k != 0 {
		dst = append(dst, `,"kind":`...)
		dst = strconv.AppendInt(dst, int64(k), 10)
	}
	dst = append(dst, `,"startTimeUnixNano":"`...)
	dst = strconv.AppendUint(dst, unixNano(s.StartTime().UnixNano()), 10)
	dst = append(dst, `","endTimeUnixNano":"`...)
	dst = strconv.AppendUint(dst, unixNano(s.EndTime().UnixNano()), 10)
	dst = append(dst, '"')
	if a := s.Attributes(); len(a) > 0 {
		dst = append(dst, `,"attributes":`...)
		dst = appendAttrs(dst, a)
	}
	if n := s.DroppedAttributes(); n != 0 {
		dst = append(dst, `,"droppedAttributesCount":`...)
		dst = strconv.AppendUint(dst, uint64(uint32(n)), 10)
	}
	if evs := s.Events(); len(evs) > 0 {
		dst = append(dst, `,"events":[`...)
		for i, e := range evs {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"timeUnixNano":"`...)
			dst = strconv.AppendUint(dst, unixNano(e.Time.UnixNano()), 10)
			dst = append(dst, `","name":`...)
			dst = appendString(dst, e.Name)
			if len(e.Attributes) > 0 {
				dst = append(dst, `,"attributes":`...)
				dst = appendAttrs(dst, e.Attributes)
			}
			if n := e.DroppedAttributeCount; n != 0 {
				dst = append(dst, `,"droppedAttributesCount":`...)
				dst = strconv.AppendUint(dst, uint64(uint32(n)), 10)
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if n := s.DroppedEvents(); n != 0 {
		dst = append(dst, `,"droppedEventsCount":`...)
		dst = strconv.AppendUint(dst, uint64(uint32(n)), 10)
	}
	if ls := s.Links(); len(ls) > 0 {
		dst = append(dst, `,"links":[`...)
		for i, l := range ls {
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
			if n := l.DroppedAttributeCount; n != 0 {
				dst = append(dst, `,"droppedAttributesCount":`...)
				dst = strconv.AppendUint(dst, uint64(uint32(n)), 10)
			}
			dst = append(dst, `,"flags":`...)
			dst = strconv.AppendUint(dst, uint64(spanFlags(l.SpanContext.TraceFlags(), l.SpanContext.IsRemote())), 10)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if n := s.DroppedLinks(); n != 0 {
		dst = append(dst, `,"droppedLinksCount":`...)
		dst = strconv.AppendUint(dst, uint64(uint32(n)), 10)
	}
	st := s.Status()
	var code tracepb.Status_StatusCode
	switch st.Code {
	case codes.Ok:
		code = tracepb.Status_STATUS_CODE_OK
	case codes.Error:
		code = tracepb.Status_STATUS_CODE_ERROR
	}
	if code != 0 || st.Description != "" {
		dst = append(dst, `,"status":{`...)
		if st.Description != "" {
			dst = append(dst, `"message":`...)
			dst = appendString(dst, st.Description)
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
