package transport

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// rawStream opens the peer stream to m by hand, as a member would, without a
// Transport on this side.
func rawStream(t *testing.T, m *member) grpc.ClientStream {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+m.addr(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.CallContentSubtype(codecName)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(func() { cancel(); cc.Close() })
	cs, err := cc.NewStream(ctx, &serviceDesc.Streams[0], fullMethod)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// rawHandshake sends first on a new stream and returns the reply or status.
func rawHandshake(t *testing.T, m *member, first any) (hello, error) {
	t.Helper()
	cs := rawStream(t, m)
	if err := cs.SendMsg(first); err != nil {
		t.Fatal(err)
	}
	var ack hello
	return ack, cs.RecvMsg(&ack)
}

func TestHandshakeRejections(t *testing.T) {
	a := startMember(t, 1, nil)
	a.t.AddPeer(2, []string{"http://127.0.0.1:1"})
	a.t.AddPeer(4, []string{"http://127.0.0.1:1"})
	a.rec.mu.Lock()
	a.rec.removed[4] = true
	a.rec.mu.Unlock()

	for _, tc := range []struct {
		name  string
		first any
		code  codes.Code
		text  string
	}{
		{"wrong cluster", &hello{From: 2, To: 1, ClusterID: 999}, codes.FailedPrecondition, "cluster ID mismatch"},
		{"wrong target", &hello{From: 2, To: 7, ClusterID: testCluster}, codes.FailedPrecondition, "addressed to member 7"},
		{"unknown member", &hello{From: 99, To: 1, ClusterID: testCluster}, codes.PermissionDenied, "unknown member 63"},
		{"removed member", &hello{From: 4, To: 1, ClusterID: testCluster}, codes.PermissionDenied, "member 4 was removed"},
		{"self", &hello{From: 1, To: 1, ClusterID: testCluster}, codes.PermissionDenied, "unknown member 1"},
		// gRPC aborts the stream itself when the codec refuses a frame.
		{"not a handshake", &rawFrame{b: []byte("junk")}, codes.Internal, "bad handshake frame"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rawHandshake(t, a, tc.first)
			s := status.Convert(err)
			if s.Code() != tc.code || !strings.Contains(s.Message(), tc.text) {
				t.Fatalf("got %v %q, want %v containing %q", s.Code(), s.Message(), tc.code, tc.text)
			}
		})
	}
	if n := len(a.rec.from(2)) + len(a.rec.from(99)); n != 0 {
		t.Fatalf("%d messages delivered from rejected streams", n)
	}

	// The accepted handshake is answered with the acceptor's identity.
	ack, err := rawHandshake(t, a, &hello{From: 2, To: 1, ClusterID: testCluster})
	if err != nil || ack != (hello{From: 1, To: 2, ClusterID: testCluster}) {
		t.Fatalf("ack %+v, %v", ack, err)
	}
}

// A transport of another cluster never gets a stream up: it counts failures,
// reports the peer unreachable, and nothing is delivered.
func TestForeignClusterTransportRejected(t *testing.T) {
	a := startMember(t, 1, nil)
	x := startMember(t, 2, func(c *Config) { c.ClusterID = 999; c.DialTimeout = 200 * time.Millisecond })
	a.t.AddPeer(2, []string{x.url})
	x.t.AddPeer(1, []string{a.url})
	x.t.Send([]Envelope{env(msg(raftpb.MessageType_MsgHeartbeat, 2, 1, 1))})
	eventually(t, 5*time.Second, "refused redials", func() bool {
		return stats(x, 1).DialFailures >= 2 && x.rec.unreachableCount(1) >= 2
	})
	if s := stats(x, 1); s.Connected || s.Sent != 0 || len(a.rec.from(2)) != 0 {
		t.Fatalf("foreign stream got through: %+v", s)
	}
	// And the other way round: a's dial to x is refused by x for the same reason.
	eventually(t, 5*time.Second, "a refused by x", func() bool { return stats(a, 2).DialFailures >= 1 })
	if stats(a, 2).Connected {
		t.Fatal("a connected to a foreign cluster member")
	}
}

// oneFrame is a message-stream frame carrying m alone.
func oneFrame(m *raftpb.Message) *envelopeBatch {
	return &envelopeBatch{envs: []Envelope{{Msg: m}}}
}

// A second stream from the same member replaces the first: the first is
// aborted and nothing it carries afterwards is delivered.
func TestNewerInboundStreamSupersedes(t *testing.T) {
	a := startMember(t, 1, nil)
	a.t.AddPeer(2, []string{"http://127.0.0.1:1"})
	open := func() grpc.ClientStream {
		cs := rawStream(t, a)
		if err := cs.SendMsg(&hello{From: 2, To: 1, ClusterID: testCluster}); err != nil {
			t.Fatal(err)
		}
		var ack hello
		if err := cs.RecvMsg(&ack); err != nil {
			t.Fatal(err)
		}
		return cs
	}
	old := open()
	if err := old.SendMsg(oneFrame(msg(raftpb.MessageType_MsgHeartbeat, 2, 1, 1))); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "delivery on first stream", func() bool { return len(a.rec.from(2)) == 1 })

	cur := open()
	var h hello
	if err := old.RecvMsg(&h); status.Code(err) != codes.Aborted {
		t.Fatalf("old stream ended with %v, want Aborted", err)
	}
	_ = old.SendMsg(oneFrame(msg(raftpb.MessageType_MsgHeartbeat, 2, 1, 99))) // may fail; must not arrive
	if err := cur.SendMsg(oneFrame(msg(raftpb.MessageType_MsgHeartbeat, 2, 1, 2))); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "delivery on second stream", func() bool { return len(a.rec.from(2)) >= 2 })
	if got := indexes(a.rec.from(2)); len(got) != 2 || got[1] != 2 {
		t.Fatalf("delivered %v, want [1 2]", got)
	}
}

// Stop returns promptly while peers hold streams open to us, and no Handler
// call happens after it returns.
func TestStopWithLiveStreams(t *testing.T) {
	a, b := startMember(t, 1, nil), startMember(t, 2, nil)
	connect(a, b)
	b.t.Send([]Envelope{env(msg(raftpb.MessageType_MsgHeartbeat, 2, 1, 1))})
	eventually(t, 5*time.Second, "delivery", func() bool { return len(a.rec.from(2)) == 1 && !a.t.ActiveSince(2).IsZero() })

	stopped := make(chan struct{})
	go func() { a.t.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop hung with live inbound streams")
	}
	if len(a.t.Stats()) != 0 || !a.t.ActiveSince(2).IsZero() {
		t.Fatal("peers left after Stop")
	}
	b.t.Send([]Envelope{env(msg(raftpb.MessageType_MsgHeartbeat, 2, 1, 2))})
	eventually(t, 5*time.Second, "b refused by stopped a", func() bool { return stats(b, 1).DialFailures >= 1 })
	if n := len(a.rec.from(2)); n != 1 {
		t.Fatalf("Process called after Stop: %d deliveries", n)
	}
}
