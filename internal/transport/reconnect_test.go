package transport

import (
	"slices"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// A down peer never blocks Send or another peer; its queue stays bounded and
// the overflow is counted. When it comes up on the same port, the queued
// messages and new ones are delivered.
func TestPeerDownThenUpSamePort(t *testing.T) {
	const queue = 16
	small := func(c *Config) { c.QueueSize = queue; c.DialTimeout = 200 * time.Millisecond }
	a := startMember(t, 1, small)
	c := startMember(t, 3, nil)
	b := newMember(t, 2, nil)
	url2, addr2 := deadURL(t)
	// Receivers learn about 1 first, so 1's first dial is not refused as unknown.
	b.t.AddPeer(1, []string{a.url})
	c.t.AddPeer(1, []string{a.url})
	a.t.AddPeer(2, []string{url2})
	a.t.AddPeer(3, []string{c.url})

	eventually(t, 5*time.Second, "stream to 3", func() bool { return !a.t.ActiveSince(3).IsZero() })

	const n = 100
	start := time.Now()
	for i := uint64(1); i <= n; i++ {
		a.t.Send([]Envelope{env(appMsg(1, 2, i, 8))})
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Send blocked on a down peer for %v", d)
	}
	a.t.Send([]Envelope{env(appMsg(1, 3, 1, 8))})
	eventually(t, 5*time.Second, "peer 3 served while 2 is down", func() bool { return len(c.rec.from(1)) == 1 })
	s := stats(a, 2)
	if s.Queued != queue || s.Dropped != n-queue || s.Connected || s.Sent != 0 {
		t.Fatalf("down peer stats %+v, want Queued %d Dropped %d", s, queue, n-queue)
	}
	eventually(t, 5*time.Second, "ReportUnreachable(2)", func() bool { return a.rec.unreachableCount(2) >= 2 })
	if a.rec.unreachableCount(3) != 0 {
		t.Fatal("healthy peer reported unreachable")
	}

	b.serve(t, addr2)
	eventually(t, 10*time.Second, "delivery after peer came up", func() bool { return len(b.rec.from(1)) == queue })
	a.t.Send([]Envelope{env(msg(raftpb.MessageType_MsgHeartbeat, 1, 2, n+1))})
	eventually(t, 5*time.Second, "new message", func() bool { return len(b.rec.from(1)) == queue+1 })
	got := indexes(b.rec.from(1))
	want := []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, n + 1}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if a.t.ActiveSince(2).IsZero() || !stats(a, 2).Connected {
		t.Fatal("not connected after delivery")
	}
}

// A peer that moved is reached at its new URL after UpdatePeer.
func TestUpdatePeerNewURL(t *testing.T) {
	a := startMember(t, 1, func(c *Config) { c.DialTimeout = 200 * time.Millisecond })
	b := startMember(t, 2, nil)
	url2, _ := deadURL(t)
	a.t.AddPeer(2, []string{url2})
	b.t.AddPeer(1, []string{a.url})
	a.t.Send([]Envelope{env(msg(raftpb.MessageType_MsgHeartbeat, 1, 2, 1))})
	eventually(t, 5*time.Second, "dial failures", func() bool { return stats(a, 2).DialFailures >= 2 })

	a.t.UpdatePeer(2, []string{b.url})
	eventually(t, 5*time.Second, "delivery at new URL", func() bool { return len(b.rec.from(1)) == 1 })
	if !stats(a, 2).Connected {
		t.Fatal("not connected")
	}
}

// A stream that breaks (the peer's server dies) is noticed while idle, reported,
// and re-established with backoff once the peer is back.
func TestReconnectAfterPeerRestart(t *testing.T) {
	a, b := startMember(t, 1, nil), startMember(t, 2, nil)
	connect(a, b)
	a.t.Send([]Envelope{env(msg(raftpb.MessageType_MsgHeartbeat, 1, 2, 1))})
	eventually(t, 5*time.Second, "first delivery", func() bool { return len(b.rec.from(1)) == 1 })
	first := a.t.ActiveSince(2)

	addr := b.addr()
	b.stopServer()
	eventually(t, 5*time.Second, "stream loss noticed", func() bool { return a.t.ActiveSince(2).IsZero() })
	eventually(t, 5*time.Second, "ReportUnreachable(2)", func() bool { return a.rec.unreachableCount(2) >= 1 })

	b.serve(t, addr)
	a.t.Send([]Envelope{env(msg(raftpb.MessageType_MsgHeartbeat, 1, 2, 2))})
	eventually(t, 10*time.Second, "delivery after restart", func() bool { return len(b.rec.from(1)) == 2 })
	s := stats(a, 2)
	if s.Reconnects < 1 || !s.ActiveSince.After(first) {
		t.Fatalf("stats %+v, first ActiveSince %v", s, first)
	}
}

// RemovePeer closes the stream accepted from that member, and the member's
// redials are refused as unknown.
func TestRemovePeerClosesInbound(t *testing.T) {
	a := startMember(t, 1, nil)
	b := startMember(t, 2, func(c *Config) { c.DialTimeout = 200 * time.Millisecond })
	connect(a, b)
	b.t.Send([]Envelope{env(msg(raftpb.MessageType_MsgHeartbeat, 2, 1, 1))})
	eventually(t, 5*time.Second, "delivery", func() bool { return len(a.rec.from(2)) == 1 })

	eventually(t, 5*time.Second, "b connected", func() bool { return stats(b, 1).Connected })
	before := stats(b, 1).DialFailures

	a.t.RemovePeer(2)
	if _, ok := a.t.Stats()[2]; ok {
		t.Fatal("removed peer still in Stats")
	}
	eventually(t, 5*time.Second, "b's stream closed and refused", func() bool {
		s := stats(b, 1)
		return !s.Connected && s.DialFailures >= before+2
	})
	b.t.Send([]Envelope{env(msg(raftpb.MessageType_MsgHeartbeat, 2, 1, 2))})
	eventually(t, 5*time.Second, "more refusals", func() bool { return stats(b, 1).DialFailures >= before+3 })
	if n := len(a.rec.from(2)); n != 1 {
		t.Fatalf("removed member delivered %d messages, want 1", n)
	}
}
