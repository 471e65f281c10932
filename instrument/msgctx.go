package instrument

import (
	"encoding/hex"

	"go.opentelemetry.io/otel/trace"
)

// traceparentLen is the length of a W3C traceparent of version 00:
// "00-" + 32 hex trace id + "-" + 16 hex span id + "-" + 2 hex flags.
const traceparentLen = 55

// appendTraceparent appends sc as a version-00 W3C traceparent. The trace
// state is NOT carried: kvtrace never sets one.
func appendTraceparent(dst []byte, sc trace.SpanContext) []byte {
	tid, sid := sc.TraceID(), sc.SpanID()
	n := len(dst)
	dst = append(dst, make([]byte, traceparentLen)...) // no alloc beyond growing dst
	b := dst[n:]
	b[0], b[1], b[2] = '0', '0', '-'
	hex.Encode(b[3:35], tid[:])
	b[35] = '-'
	hex.Encode(b[36:52], sid[:])
	b[52] = '-'
	hex.Encode(b[53:55], []byte{byte(sc.TraceFlags())})
	return dst
}

// parseTraceparent is the inverse of appendTraceparent. It does not allocate.
// Only version 00 is accepted; ids must be non-zero.
func parseTraceparent(b []byte) (trace.SpanContext, bool) {
	if len(b) != traceparentLen || b[0] != '0' || b[1] != '0' ||
		b[2] != '-' || b[35] != '-' || b[52] != '-' {
		return trace.SpanContext{}, false
	}
	var cfg trace.SpanContextConfig
	var flags [1]byte
	if _, err := hex.Decode(cfg.TraceID[:], b[3:35]); err != nil {
		return trace.SpanContext{}, false
	}
	if _, err := hex.Decode(cfg.SpanID[:], b[36:52]); err != nil {
		return trace.SpanContext{}, false
	}
	if _, err := hex.Decode(flags[:], b[53:55]); err != nil {
		return trace.SpanContext{}, false
	}
	cfg.TraceFlags = trace.TraceFlags(flags[0])
	cfg.Remote = true
	sc := trace.NewSpanContext(cfg)
	if !sc.IsValid() {
		return trace.SpanContext{}, false
	}
	return sc, true
}

// EncodeMeta returns the bytes the transport puts in its envelope's Meta
// field for a message sent inside the span sc: sc's W3C traceparent (55
// bytes). It returns nil when sc is invalid or not sampled, so an untraced
// message carries nothing.
func EncodeMeta(sc trace.SpanContext) []byte {
	if !sc.IsValid() || !sc.IsSampled() {
		return nil
	}
	return appendTraceparent(make([]byte, 0, traceparentLen), sc)
}

// DecodeMeta reads what EncodeMeta wrote. The result is a remote span context
// to use as the parent of the receiver's raft.recv span. Empty or malformed
// Meta yields false.
func DecodeMeta(b []byte) (trace.SpanContext, bool) {
	return parseTraceparent(b)
}
