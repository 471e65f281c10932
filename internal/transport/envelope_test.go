package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	for _, e := range []Envelope{
		{Msg: appMsg(1, 2, 7, 100), Meta: []byte("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")},
		{Msg: msg(raftpb.MessageType_MsgHeartbeat, 3, 1, 0)},
		{Msg: &raftpb.Message{}},
		{Meta: []byte{0}},
	} {
		b, err := encodeEnvelope(e)
		if err != nil {
			t.Fatal(err)
		}
		var got Envelope
		if err := (frameCodec{}).Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		want := e.Msg
		if want == nil {
			want = &raftpb.Message{}
		}
		if !proto.Equal(got.Msg, want) || !bytes.Equal(got.Meta, e.Meta) {
			t.Fatalf("round trip: got %v %q, want %v %q", got.Msg, got.Meta, want, e.Meta)
		}
		if len(got.Meta) > 0 && &got.Meta[0] == &b[1] {
			t.Fatal("decoded Meta aliases the frame")
		}
	}
}

// The wire form is exactly uvarint(len(meta)) meta proto(msg).
func TestEnvelopeWireFormat(t *testing.T) {
	m := msg(raftpb.MessageType_MsgVote, 1, 2, 5)
	meta := bytes.Repeat([]byte{0xab}, 200) // two-byte uvarint
	b, err := encodeEnvelope(Envelope{Msg: m, Meta: meta})
	if err != nil {
		t.Fatal(err)
	}
	pm, _ := proto.Marshal(m)
	want := binary.AppendUvarint(nil, 200)
	want = append(append(want, meta...), pm...)
	if !bytes.Equal(b, want) {
		t.Fatalf("wire form\n got %x\nwant %x", b, want)
	}
}

func TestDecodeEnvelopeErrors(t *testing.T) {
	for _, b := range [][]byte{
		nil,
		{0x80},        // unterminated uvarint
		{5, 'a', 'b'}, // meta longer than frame
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, // huge meta length
		{0, 0xff}, // meta ok, proto garbage
	} {
		if _, err := decodeEnvelope(b); err == nil {
			t.Errorf("decodeEnvelope(%x) succeeded", b)
		}
	}
	if _, err := decodeEnvelope([]byte{3, 'a'}); !errors.Is(err, ErrShortFrame) {
		t.Errorf("short meta: %v", err)
	}
}

func TestHelloRoundTripAndErrors(t *testing.T) {
	h := hello{From: 1<<64 - 1, To: 2, ClusterID: 0xdeadbeef}
	var got hello
	if err := got.unmarshal(h.marshal()); err != nil || got != h {
		t.Fatalf("got %+v, %v", got, err)
	}
	good := h.marshal()
	for _, b := range [][]byte{
		nil,
		[]byte("kvt"),
		[]byte("xxxx\x01\x01\x02\x03"),
		[]byte("kvtr\x02\x01\x02\x03"),
		good[:len(good)-1],
		append(append([]byte(nil), good...), 0),
	} {
		if err := got.unmarshal(b); !errors.Is(err, ErrBadHandshake) {
			t.Errorf("unmarshal(%q) = %v", b, err)
		}
	}
}

// FuzzDecodeEnvelope: the decoder never panics, and whatever it accepts
// re-encodes to a frame that decodes to the same envelope.
func FuzzDecodeEnvelope(f *testing.F) {
	for _, e := range []Envelope{
		{Msg: appMsg(1, 2, 7, 32), Meta: []byte("traceparent")},
		{Msg: msg(raftpb.MessageType_MsgHeartbeat, 3, 1, 0)},
	} {
		b, _ := encodeEnvelope(e)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := decodeEnvelope(data)
		if err != nil {
			return
		}
		b, err := encodeEnvelope(e)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		e2, err := decodeEnvelope(b)
		if err != nil {
			t.Fatalf("decode of re-encoded frame: %v", err)
		}
		if !proto.Equal(e.Msg, e2.Msg) || !bytes.Equal(e.Meta, e2.Meta) {
			t.Fatalf("round trip changed the envelope")
		}
	})
}

// FuzzDecodeHello: the handshake decoder never panics, and what it accepts
// survives a re-encode (overlong uvarints are accepted, so not byte-exact).
func FuzzDecodeHello(f *testing.F) {
	f.Add((&hello{From: 1, To: 2, ClusterID: 3}).marshal())
	f.Add([]byte("kvtr\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var h hello
		if h.unmarshal(data) != nil {
			return
		}
		var h2 hello
		if err := h2.unmarshal(h.marshal()); err != nil || h2 != h {
			t.Fatalf("re-encoded %+v decodes to %+v, %v", h, h2, err)
		}
	})
}
