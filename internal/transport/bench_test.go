package transport

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// countingHandler counts deliveries and wakes the benchmark every 256.
type countingHandler struct {
	n    atomic.Int64
	wake chan struct{}
}

func (h *countingHandler) Process(context.Context, Envelope) error {
	if h.n.Add(1)%256 == 0 {
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}
	return nil
}
func (h *countingHandler) IsIDRemoved(uint64) bool  { return false }
func (h *countingHandler) ReportUnreachable(uint64) {}

// BenchmarkSendMsgApp1KiB measures end-to-end throughput of 1 KiB MsgApp
// messages over one stream, keeping at most half a queue in flight so that
// nothing is dropped.
func BenchmarkSendMsgApp1KiB(b *testing.B) {
	h := &countingHandler{wake: make(chan struct{}, 1)}
	a := startMember(b, 1, nil)
	r := startMember(b, 2, func(c *Config) { c.Handler = h })
	connect(a, r)
	envs := make([]Envelope, b.N)
	for i := range envs {
		envs[i] = Envelope{Msg: appMsg(1, 2, uint64(i), 1024), Meta: []byte("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")}
	}
	const window = DefaultQueueSize / 2
	b.SetBytes(1024)
	b.ResetTimer()
	for i := range envs {
		for int64(i)-h.n.Load() >= window {
			select {
			case <-h.wake:
			case <-time.After(10 * time.Second):
				b.Fatalf("stalled at %d/%d: %+v", h.n.Load(), i, stats(a, 2))
			}
		}
		a.t.Send(envs[i : i+1])
	}
	for h.n.Load() < int64(b.N) {
		select {
		case <-h.wake:
		case <-time.After(10 * time.Millisecond):
		}
	}
	b.StopTimer()
	if s := stats(a, 2); s.Dropped != 0 {
		b.Fatalf("dropped %d", s.Dropped)
	}
}

// echoHandler answers every message it receives with one message back
// through its own transport (the way a follower answers MsgApp with
// MsgAppResp), or, on the side that started the exchange, signals got.
type echoHandler struct {
	t   atomic.Pointer[Transport]
	to  uint64
	got chan struct{}
}

func (h *echoHandler) Process(_ context.Context, env Envelope) error {
	if h.got != nil {
		h.got <- struct{}{}
		return nil
	}
	h.t.Load().Send([]Envelope{{Msg: msg(raftpb.MessageType_MsgAppResp, env.Msg.GetTo(), h.to, env.Msg.GetIndex())}})
	return nil
}
func (h *echoHandler) IsIDRemoved(uint64) bool  { return false }
func (h *echoHandler) ReportUnreachable(uint64) {}

// BenchmarkRoundTrip measures one message there and one back, one at a
// time: what a sequential write pays twice (MsgApp + MsgAppResp) on top of
// the follower's fsync. Compare BenchmarkTCPRoundTrip, the same exchange on
// a bare loopback TCP connection (length-prefixed frames, one goroutine per
// side), to see what the gRPC stream and the sender goroutine add.
func BenchmarkRoundTrip(b *testing.B) {
	got := make(chan struct{}, 1)
	ha := &echoHandler{got: got}
	hb := &echoHandler{to: 1}
	a := startMember(b, 1, func(c *Config) { c.Handler = ha })
	r := startMember(b, 2, func(c *Config) { c.Handler = hb })
	hb.t.Store(r.t)
	connect(a, r)
	ping := func(i int) bool {
		a.t.Send([]Envelope{{Msg: appMsg(1, 2, uint64(i), 300)}})
		select {
		case <-got:
			return true
		case <-time.After(100 * time.Millisecond):
			return false
		}
	}
	// Streams come up asynchronously: warm up until a round trip succeeds.
	deadline := time.Now().Add(10 * time.Second)
	for !ping(0) {
		if time.Now().After(deadline) {
			b.Fatal("no round trip within 10s")
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !ping(i + 1) {
			b.Fatalf("round trip %d lost", i)
		}
	}
}

// BenchmarkTCPRoundTrip is BenchmarkRoundTrip's exchange (a ~330-byte frame
// there, a ~30-byte frame back) on a plain loopback TCP connection: the
// floor the transport's round trip can be compared with.
func BenchmarkTCPRoundTrip(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 4096)
		for {
			if _, err := io.ReadFull(c, buf[:4]); err != nil {
				return
			}
			n := binary.BigEndian.Uint32(buf[:4])
			if _, err := io.ReadFull(c, buf[:n]); err != nil {
				return
			}
			binary.BigEndian.PutUint32(buf[:4], 30)
			if _, err := c.Write(buf[:34]); err != nil {
				return
			}
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	out := make([]byte, 334)
	binary.BigEndian.PutUint32(out[:4], 330)
	in := make([]byte, 34)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Write(out); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, in); err != nil {
			b.Fatal(err)
		}
	}
}
