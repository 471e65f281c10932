package instrument

import (
	"encoding/base64"
	"math"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
)

// OTLP JSON for attribute lists and values, shared by the span-record
// encoder (otlprecords.go) and, in tests, the SDK-span oracle
// (otlpspans_oracle_test.go).

func appendAttrs(dst []byte, kvs []attribute.KeyValue) []byte {
	dst = append(dst, '[')
	for i, kv := range kvs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"key":`...)
		dst = appendString(dst, string(kv.Key))
		dst = append(dst, `,"value":`...)
		dst = appendAttrValue(dst, kv.Value)
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

// appendAttrValue mirrors appendAnyValue(anyValue(v)).
func appendAttrValue(dst []byte, v attribute.Value) []byte {
	switch v.Type() {
	case attribute.STRING:
		dst = append(dst, `{"stringValue":`...)
		dst = appendString(dst, v.AsString())
	case attribute.BOOL:
		dst = append(dst, `{"boolValue":`...)
		dst = strconv.AppendBool(dst, v.AsBool())
	case attribute.INT64:
		dst = appendIntValue(dst, v.AsInt64())
	case attribute.FLOAT64:
		dst = appendDoubleValue(dst, v.AsFloat64())
	case attribute.BYTESLICE:
		dst = append(dst, `{"bytesValue":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, v.AsByteSlice())
		dst = append(dst, '"')
	case attribute.BOOLSLICE:
		dst = appendArray(dst, v.AsBoolSlice(), func(dst []byte, b bool) []byte {
			return append(strconv.AppendBool(append(dst, `{"boolValue":`...), b), '}')
		})
	case attribute.INT64SLICE:
		dst = appendArray(dst, v.AsInt64Slice(), func(dst []byte, i int64) []byte { return append(appendIntValue(dst, i), '}') })
	case attribute.FLOAT64SLICE:
		dst = appendArray(dst, v.AsFloat64Slice(), func(dst []byte, f float64) []byte { return append(appendDoubleValue(dst, f), '}') })
	case attribute.STRINGSLICE:
		dst = appendArray(dst, v.AsStringSlice(), func(dst []byte, s string) []byte {
			return append(appendString(append(dst, `{"stringValue":`...), s), '}')
		})
	case attribute.SLICE:
		dst = appendArray(dst, v.AsSlice(), appendAttrValue)
	case attribute.MAP:
		dst = append(dst, `{"kvlistValue":{"values":`...)
		dst = appendAttrs(dst, v.AsMap())
		dst = append(dst, '}')
	default: // EMPTY: an AnyValue with no value set
		return append(dst, "{}"...)
	}
	return append(dst, '}')
}

// appendArray writes an arrayValue and leaves the closing brace of the
// enclosing AnyValue to the caller, like the other cases of appendAttrValue.
func appendArray[T any](dst []byte, xs []T, elem func([]byte, T) []byte) []byte {
	dst = append(dst, `{"arrayValue":{"values":[`...)
	for i, x := range xs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = elem(dst, x)
	}
	return append(dst, "]}"...)
}

func appendIntValue(dst []byte, i int64) []byte {
	dst = append(dst, `{"intValue":"`...)
	dst = strconv.AppendInt(dst, i, 10)
	return append(dst, '"')
}

func appendDoubleValue(dst []byte, f float64) []byte {
	dst = append(dst, `{"doubleValue":`...)
	switch {
	case math.IsNaN(f):
		return append(dst, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(dst, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(dst, `"-Infinity"`...)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64)
}
