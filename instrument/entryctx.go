package instrument

import (
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/encoding/protowire"
)

// EntryTraceField is the protobuf field number that carries a write's trace
// context inside a raft entry's data: a length-delimited field holding the
// 55-byte W3C traceparent, appended AFTER the encoded
// etcdserverpb.InternalRaftRequest. etcd's message has no field with this
// number, so its decoders skip it as an unknown field and the entry stays a
// valid etcd request (docs/spans.md "How the context travels").
const EntryTraceField = 77001

// AppendEntryContext appends sc to the encoded request data as field
// EntryTraceField and returns the extended slice (it may reuse data's spare
// capacity, as append does). When sc is invalid or not sampled it returns
// data unchanged and allocates nothing: an untraced write costs a branch.
func AppendEntryContext(data []byte, sc trace.SpanContext) []byte {
	if !sc.IsValid() || !sc.IsSampled() {
		return data
	}
	data = protowire.AppendTag(data, EntryTraceField, protowire.BytesType)
	data = protowire.AppendVarint(data, traceparentLen)
	return appendTraceparent(data, sc)
}

// EntryContext returns the trace context stored in an entry's data by
// AppendEntryContext, as a remote span context. It walks the top-level
// fields only, skipping each by its wire type, and never allocates. If the
// field occurs more than once the LAST occurrence wins, as protobuf merging
// does for a scalar field. Data that is not a well-formed protobuf message,
// or whose field is not a valid traceparent, yields false.
func EntryContext(data []byte) (trace.SpanContext, bool) {
	var found []byte
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return trace.SpanContext{}, false
		}
		data = data[n:]
		if num == EntryTraceField && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(data)
			if m < 0 {
				return trace.SpanContext{}, false
			}
			found = v
			data = data[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, data)
		if m < 0 {
			return trace.SpanContext{}, false
		}
		data = data[m:]
	}
	if found == nil {
		return trace.SpanContext{}, false
	}
	return parseTraceparent(found)
}
