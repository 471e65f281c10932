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

// A batch frame is record+, record = uvarint(len(envelope)) envelope, and
// decodes to the same envelopes in the same order.
func TestBatchWireFormatAndRoundTrip(t *testing.T) {
	envs := []Envelope{
		{Msg: appMsg(1, 2, 7, 300), Meta: []byte("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")},
		{Msg: msg(raftpb.MessageType_MsgHeartbeat, 1, 2, 0)},
		{Msg: appMsg(1, 2, 8, 0)},
	}
	b, err := encodeBatch(envs)
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	for _, e := range envs {
		one, err := encodeEnvelope(e)
		if err != nil {
			t.Fatal(err)
		}
		want = append(binary.AppendUvarint(want, uint64(len(one))), one...)
		if n := envelopeSize(e); n != len(one) {
			t.Fatalf("envelopeSize = %d, encoded %d bytes", n, len(one))
		}
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("wire form\n got %x\nwant %x", b, want)
	}
	var got envelopeBatch
	if err := (frameCodec{}).Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.envs) != len(envs) {
		t.Fatalf("decoded %d envelopes, want %d", len(got.envs), len(envs))
	}
	for i := range envs {
		if !proto.Equal(got.envs[i].Msg, envs[i].Msg) || !bytes.Equal(got.envs[i].Meta, envs[i].Meta) {
			t.Fatalf("envelope %d: got %v %q, want %v %q", i, got.envs[i].Msg, got.envs[i].Meta, envs[i].Msg, envs[i].Meta)
		}
	}
}

func TestDecodeBatchErrors(t *testing.T) {
	one, _ := encodeEnvelope(Envelope{Msg: msg(raftpb.MessageType_MsgHeartbeat, 1, 2, 3)})
	good := append(binary.AppendUvarint(nil, uint64(len(one))), one...)
	for _, b := range [][]byte{
		nil,    // a frame holds at least one record
		{0x80}, // unterminated record length
		append(binary.AppendUvarint(nil, uint64(len(one)+1)), one...),   // record longer than frame
		append(append([]byte(nil), good...), 0x02, 0x00),                // second record truncated
		append(append([]byte(nil), good...), 0x02, 0x00, 0xff),          // second record: bad proto
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0}, // huge record length
	} {
		if _, err := decodeBatch(b, nil); err == nil {
			t.Errorf("decodeBatch(%x) succeeded", b)
		}
	}
	if _, err := decodeBatch(nil, nil); !errors.Is(err, ErrShortFrame) {
		t.Errorf("empty frame: %v", err)
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
		[]byte("kvtr\x01\x01\x02\x03"), // version 1: one envelope per frame
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

// FuzzDecodeBatch: the batch decoder never panics, and whatever it accepts
// re-encodes to a frame that decodes to the same envelopes.
func FuzzDecodeBatch(f *testing.F) {
	for _, envs := range [][]Envelope{
		{{Msg: appMsg(1, 2, 7, 32), Meta: []byte("traceparent")}},
		{{Msg: appMsg(1, 2, 7, 8)}, {Msg: appMsg(1, 2, 8, 8)}, {Msg: msg(raftpb.MessageType_MsgHeartbeat, 1, 2, 0)}},
	} {
		b, _ := encodeBatch(envs)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x01, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		envs, err := decodeBatch(data, nil)
		if err != nil {
			return
		}
		b, err := encodeBatch(envs)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		envs2, err := decodeBatch(b, nil)
		if err != nil {
			t.Fatalf("decode of re-encoded frame: %v", err)
		}
		if len(envs) != len(envs2) {
			t.Fatalf("round trip: %d envelopes, then %d", len(envs), len(envs2))
		}
		for i := range envs {
			if !proto.Equal(envs[i].Msg, envs2[i].Msg) || !bytes.Equal(envs[i].Meta, envs2[i].Meta) {
				t.Fatalf("round trip changed envelope %d", i)
			}
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
