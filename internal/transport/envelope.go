package transport

import (
	"encoding/binary"
	"errors"
	"fmt"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Envelope is one raft message plus opaque bytes that travel beside it.
//
// Meta is never interpreted by the transport; the tracing layer puts W3C trace
// context (per entry) there. The transport does not copy Msg: after Send the
// caller MUST NOT modify Msg or Meta.
type Envelope struct {
	Msg  *raftpb.Message
	Meta []byte
}

// Errors returned by the frame decoders. They are wrapped with detail.
var (
	ErrShortFrame   = errors.New("transport: truncated frame")
	ErrBadHandshake = errors.New("transport: bad handshake frame")
)

// appendEnvelope appends the wire form of env to b:
//
//	uvarint(len(meta)) | meta | proto(msg)
//
// A nil Msg encodes as an empty proto (a zero Message on the other side).
func appendEnvelope(b []byte, env Envelope) ([]byte, error) {
	b = binary.AppendUvarint(b, uint64(len(env.Meta)))
	b = append(b, env.Meta...)
	if env.Msg == nil {
		return b, nil
	}
	out, err := proto.MarshalOptions{}.MarshalAppend(b, env.Msg)
	if err != nil {
		return nil, fmt.Errorf("transport: marshal %v: %w", env.Msg.GetType(), err)
	}
	return out, nil
}

// encodeEnvelope returns the wire form of env in a fresh slice sized up front
// so that a large MsgApp is not re-grown while marshalling.
func encodeEnvelope(env Envelope) ([]byte, error) {
	n := binary.MaxVarintLen64 + len(env.Meta)
	if env.Msg != nil {
		n += proto.Size(env.Msg)
	}
	return appendEnvelope(make([]byte, 0, n), env)
}

// decodeEnvelope parses one envelope frame. Meta is copied so the result never
// aliases data (gRPC may recycle receive buffers).
func decodeEnvelope(data []byte) (Envelope, error) {
	n, k := binary.Uvarint(data)
	if k <= 0 {
		return Envelope{}, fmt.Errorf("%w: bad meta length prefix", ErrShortFrame)
	}
	rest := data[k:]
	if n > uint64(len(rest)) {
		return Envelope{}, fmt.Errorf("%w: meta length %d exceeds remaining %d bytes", ErrShortFrame, n, len(rest))
	}
	var env Envelope
	if n > 0 {
		env.Meta = append([]byte(nil), rest[:n]...)
	}
	env.Msg = &raftpb.Message{}
	if err := proto.Unmarshal(rest[n:], env.Msg); err != nil {
		return Envelope{}, fmt.Errorf("transport: unmarshal raft message: %w", err)
	}
	return env, nil
}

// envelopeBatch is one frame of the message stream: the envelopes a peer's
// sender found queued together, IN QUEUE ORDER. Wire form (doc.go):
//
//	record+    where record = uvarint(len(envelope)) | envelope
//
// One frame per drained queue instead of one per message: at 64 concurrent
// writes the leader's Ready holds one MsgApp per proposal and follower
// (raft sends one per appended entry while a follower is replicating), and
// every gRPC message cost a SendMsg, an HTTP/2 data frame and a RecvMsg.
type envelopeBatch struct {
	envs []Envelope
	size int // bytes of the frame decoded last
}

// envelopeSize returns the length of env's wire form (appendEnvelope). It
// also caches the message's size for appendSizedEnvelope.
func envelopeSize(env Envelope) int {
	n := uvarintLen(uint64(len(env.Meta))) + len(env.Meta)
	if env.Msg != nil {
		n += proto.Size(env.Msg)
	}
	return n
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// appendBatchRecord appends one record of a batch frame: uvarint(n) and
// the envelope, whose size n MUST come from envelopeSize(env) just before
// (the message's cached size is reused, so it MUST NOT change in between).
func appendBatchRecord(b []byte, env Envelope, n int) ([]byte, error) {
	b = binary.AppendUvarint(b, uint64(n))
	b = binary.AppendUvarint(b, uint64(len(env.Meta)))
	b = append(b, env.Meta...)
	if env.Msg == nil {
		return b, nil
	}
	out, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(b, env.Msg)
	if err != nil {
		return nil, fmt.Errorf("transport: marshal %v: %w", env.Msg.GetType(), err)
	}
	return out, nil
}

// encodeBatch returns the batch frame holding envs (tests and fuzzing; the
// sender builds frames in peer.writeBatch under the size cap).
func encodeBatch(envs []Envelope) ([]byte, error) {
	var b []byte
	for _, env := range envs {
		var err error
		if b, err = appendBatchRecord(b, env, envelopeSize(env)); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// decodeBatch appends the envelopes of one batch frame to envs. A frame
// holds at least one record; each record MUST be a whole envelope.
func decodeBatch(data []byte, envs []Envelope) ([]Envelope, error) {
	if len(data) == 0 {
		return envs, fmt.Errorf("%w: empty batch frame", ErrShortFrame)
	}
	for len(data) > 0 {
		n, k := binary.Uvarint(data)
		if k <= 0 {
			return envs, fmt.Errorf("%w: bad record length prefix", ErrShortFrame)
		}
		data = data[k:]
		if n > uint64(len(data)) {
			return envs, fmt.Errorf("%w: record length %d exceeds remaining %d bytes", ErrShortFrame, n, len(data))
		}
		env, err := decodeEnvelope(data[:n])
		if err != nil {
			return envs, err
		}
		envs = append(envs, env)
		data = data[n:]
	}
	return envs, nil
}

// hello is the first frame on a stream in each direction. The dialer sends
// {From: self, To: peer, ClusterID}; the acceptor answers with its own
// {From: self, To: dialer, ClusterID} once it has admitted the stream.
//
// Wire form: "kvtr" | version(1 byte) | uvarint(from) | uvarint(to) | uvarint(cluster).
type hello struct {
	From, To, ClusterID uint64
}

const (
	helloMagic = "kvtr"
	// helloVersion 2: message-stream frames are batches (envelopeBatch);
	// version 1 sent one envelope per frame. Members of different versions
	// refuse each other at the handshake instead of misreading frames.
	helloVersion = 2
)

func (h *hello) marshal() []byte {
	b := make([]byte, 0, len(helloMagic)+1+3*binary.MaxVarintLen64)
	b = append(b, helloMagic...)
	b = append(b, helloVersion)
	b = binary.AppendUvarint(b, h.From)
	b = binary.AppendUvarint(b, h.To)
	b = binary.AppendUvarint(b, h.ClusterID)
	return b
}

func (h *hello) unmarshal(data []byte) error {
	if len(data) < len(helloMagic)+1 || string(data[:len(helloMagic)]) != helloMagic {
		return fmt.Errorf("%w: missing magic %q", ErrBadHandshake, helloMagic)
	}
	if v := data[len(helloMagic)]; v != helloVersion {
		return fmt.Errorf("%w: version %d, want %d", ErrBadHandshake, v, helloVersion)
	}
	rest := data[len(helloMagic)+1:]
	var vals [3]uint64
	for i := range vals {
		v, k := binary.Uvarint(rest)
		if k <= 0 {
			return fmt.Errorf("%w: truncated field %d", ErrBadHandshake, i)
		}
		vals[i], rest = v, rest[k:]
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrBadHandshake, len(rest))
	}
	h.From, h.To, h.ClusterID = vals[0], vals[1], vals[2]
	return nil
}
