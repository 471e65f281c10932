package transport

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
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
