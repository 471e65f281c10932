package instrument

import (
	"runtime"

	"go.opentelemetry.io/otel/attribute"
)

// The SDK's attribute normalisation (its internal attrnorm package), which
// only changes SLICE and MAP values: nested values deeper than
// attrValueDepthLimit become empty, and repeated adjacent keys of a MAP
// keep the last value. kvtrace's own attributes are never of these types,
// so this is the rare path.

func needsNorm(v attribute.Value) bool {
	t := v.Type()
	return t == attribute.SLICE || t == attribute.MAP
}

// normAttr normalises one span attribute (the SDK's normAttr without a
// value length limit).
func normAttr(a attribute.KeyValue) attribute.KeyValue {
	if needsNorm(a.Value) {
		if v, changed := normValue(a.Value, attrValueDepthLimit); changed {
			a.Value = v
		}
	}
	return a
}

// normAttrs normalises event and link attributes; it returns kvs itself
// when nothing changes, else a copy.
func normAttrs(kvs []attribute.KeyValue) []attribute.KeyValue {
	var out []attribute.KeyValue
	for i, kv := range kvs {
		if !needsNorm(kv.Value) {
			if out != nil {
				out[i] = kv
			}
			continue
		}
		v, changed := normValue(kv.Value, attrValueDepthLimit)
		if changed && out == nil {
			out = make([]attribute.KeyValue, len(kvs))
			copy(out, kvs[:i])
		}
		if out != nil {
			kv.Value = v
			out[i] = kv
		}
	}
	if out == nil {
		return kvs
	}
	return out
}

// normValue is attrnorm's valueDedupLimitDepth.
func normValue(v attribute.Value, depth int) (attribute.Value, bool) {
	switch v.Type() {
	case attribute.BOOLSLICE, attribute.INT64SLICE, attribute.FLOAT64SLICE, attribute.STRINGSLICE, attribute.BYTESLICE:
		if depth == 0 {
			return attribute.Value{}, true
		}
	case attribute.SLICE:
		if depth == 0 {
			return attribute.Value{}, true
		}
		elems := v.AsSlice()
		changed := false
		for i, e := range elems {
			if ne, c := normValue(e, depth-1); c {
				elems[i], changed = ne, true
			}
		}
		if changed {
			return attribute.SliceValue(elems...), true
		}
	case attribute.MAP:
		if depth == 0 {
			return attribute.Value{}, true
		}
		kvs := v.AsMap()
		out := make([]attribute.KeyValue, 0, len(kvs))
		changed := false
		for i := 0; i < len(kvs); {
			j := i + 1
			for j < len(kvs) && kvs[j].Key == kvs[i].Key {
				j++
			}
			kv := kvs[j-1]
			if nv, c := normValue(kv.Value, depth-1); c {
				kv.Value, changed = nv, true
			}
			if j-i > 1 {
				changed = true
			}
			out = append(out, kv)
			i = j
		}
		if changed {
			return attribute.MapValue(out...), true
		}
	}
	return v, false
}

// stackTrace is the SDK's exception.stacktrace: the calling goroutine's
// stack, at most 2 KiB.
func stackTrace() string {
	buf := make([]byte, 2048)
	return string(buf[:runtime.Stack(buf, false)])
}
