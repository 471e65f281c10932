package transport

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

const testCluster = 0xc1

// received is one delivered envelope and when it arrived.
type received struct {
	env Envelope
	at  time.Time
}

// recorder is a Handler that keeps everything it is given.
type recorder struct {
	mu          sync.Mutex
	got         map[uint64][]received // by Msg.From
	unreachable map[uint64]int
	removed     map[uint64]bool
}

func newRecorder() *recorder {
	return &recorder{got: map[uint64][]received{}, unreachable: map[uint64]int{}, removed: map[uint64]bool{}}
}

func (r *recorder) Process(_ context.Context, env Envelope) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	from := env.Msg.GetFrom()
	r.got[from] = append(r.got[from], received{env: env, at: time.Now()})
	return nil
}

func (r *recorder) IsIDRemoved(id uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.removed[id]
}

func (r *recorder) ReportUnreachable(id uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unreachable[id]++
}

func (r *recorder) from(id uint64) []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got[id]...)
}

func (r *recorder) unreachableCount(id uint64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.unreachable[id]
}

// member is one transport with its own peer gRPC server on 127.0.0.1.
type member struct {
	id  uint64
	t   *Transport
	rec *recorder
	url string

	mu  sync.Mutex
	lis net.Listener
	srv *grpc.Server
}

func testLogger(tb testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

// newMember creates a member whose server is not yet serving; addr "" picks a
// free port.
func newMember(tb testing.TB, id uint64, tweak func(*Config)) *member {
	tb.Helper()
	rec := newRecorder()
	cfg := Config{ID: id, ClusterID: testCluster, Handler: rec, Logger: testLogger(tb), DialTimeout: 500 * time.Millisecond}
	if tweak != nil {
		tweak(&cfg)
	}
	m := &member{id: id, t: New(cfg), rec: rec}
	tb.Cleanup(func() {
		m.stopServer()
		m.t.Stop()
	})
	return m
}

// startMember creates a member and serves it on a fresh port.
func startMember(tb testing.TB, id uint64, tweak func(*Config)) *member {
	tb.Helper()
	m := newMember(tb, id, tweak)
	m.serve(tb, "127.0.0.1:0")
	return m
}

// serve starts the member's gRPC server on addr, retrying briefly in case the
// port of a just-closed listener is still held.
func (m *member) serve(tb testing.TB, addr string) {
	tb.Helper()
	var lis net.Listener
	eventually(tb, 5*time.Second, "listen on "+addr, func() bool {
		var err error
		lis, err = net.Listen("tcp", addr)
		return err == nil
	})
	srv := grpc.NewServer(m.t.ServerOptions()...)
	m.t.Register(srv)
	m.mu.Lock()
	m.lis, m.srv = lis, srv
	m.url = "http://" + lis.Addr().String()
	m.mu.Unlock()
	go func() { _ = srv.Serve(lis) }()
}

// stopServer closes the server and all its streams, like a crashed peer.
func (m *member) stopServer() {
	m.mu.Lock()
	srv := m.srv
	m.srv = nil
	m.mu.Unlock()
	if srv != nil {
		srv.Stop()
	}
}

func (m *member) addr() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lis.Addr().String()
}

// connect makes every member a peer of every other.
func connect(ms ...*member) {
	for _, a := range ms {
		for _, b := range ms {
			if a != b {
				a.t.AddPeer(b.id, []string{b.url})
			}
		}
	}
}

// deadURL returns an http URL on which nothing listens, and its address.
func deadURL(tb testing.TB) (string, string) {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return "http://" + addr, addr
}

// eventually polls cond until it holds or the deadline passes.
func eventually(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

func msg(typ raftpb.MessageType, from, to, index uint64) *raftpb.Message {
	return &raftpb.Message{
		Type:  typ.Enum(),
		From:  proto.Uint64(from),
		To:    proto.Uint64(to),
		Term:  proto.Uint64(1),
		Index: proto.Uint64(index),
	}
}

func appMsg(from, to, index uint64, payload int) *raftpb.Message {
	m := msg(raftpb.MessageType_MsgApp, from, to, index)
	m.Entries = []*raftpb.Entry{{
		Term:  proto.Uint64(1),
		Index: proto.Uint64(index + 1),
		Type:  raftpb.EntryType_EntryNormal.Enum(),
		Data:  make([]byte, payload),
	}}
	return m
}

func env(m *raftpb.Message) Envelope {
	return Envelope{Msg: m, Meta: []byte(fmt.Sprintf("meta-%d", m.GetIndex()))}
}

// indexes lists the Index of each received message.
func indexes(rs []received) []uint64 {
	out := make([]uint64, len(rs))
	for i, r := range rs {
		out[i] = r.env.Msg.GetIndex()
	}
	return out
}

func stats(m *member, peer uint64) PeerStats { return m.t.Stats()[peer] }
