package transport

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// Three members send to each other at once; each receiver sees each sender's
// messages complete and in Send order, with Meta intact.
func TestExchangeOrderedPerPeer(t *testing.T) {
	ms := []*member{startMember(t, 1, nil), startMember(t, 2, nil), startMember(t, 3, nil)}
	connect(ms...)
	const n = 300
	for i := uint64(1); i <= n; i++ {
		for _, a := range ms {
			var batch []Envelope
			for _, b := range ms {
				if a != b {
					batch = append(batch, env(appMsg(a.id, b.id, i, 16)))
				}
			}
			a.t.Send(batch)
		}
	}
	want := make([]uint64, n)
	for i := range want {
		want[i] = uint64(i + 1)
	}
	for _, b := range ms {
		for _, a := range ms {
			if a == b {
				continue
			}
			eventually(t, 10*time.Second, fmt.Sprintf("%d->%d delivery", a.id, b.id), func() bool {
				return len(b.rec.from(a.id)) >= n
			})
			got := b.rec.from(a.id)
			if !slices.Equal(indexes(got), want) {
				t.Fatalf("%d->%d order: got %v", a.id, b.id, indexes(got))
			}
			for _, r := range got {
				if wantMeta := fmt.Sprintf("meta-%d", r.env.Msg.GetIndex()); string(r.env.Meta) != wantMeta {
					t.Fatalf("meta = %q, want %q", r.env.Meta, wantMeta)
				}
				if r.env.Msg.GetTo() != b.id || len(r.env.Msg.GetEntries()) != 1 {
					t.Fatalf("bad message %v", r.env.Msg)
				}
			}
			s := stats(a, b.id)
			if s.Sent != n || !s.Connected || s.Dropped != 0 || s.ActiveSince.IsZero() {
				t.Fatalf("%d->%d stats: %+v", a.id, b.id, s)
			}
			if got := stats(b, a.id).Received; got != n {
				t.Fatalf("%d received from %d = %d, want %d", b.id, a.id, got, n)
			}
		}
	}
}

// With the default cap, a 9 MiB message is delivered (the server accepts it
// because of ServerOptions) and an 11 MiB one is counted and not sent; the
// stream survives and carries the next message.
func TestMessageSizeCap(t *testing.T) {
	a, b := startMember(t, 1, nil), startMember(t, 2, nil)
	connect(a, b)

	big := appMsg(1, 2, 1, 9<<20)
	big.Entries[0].Data[12345] = 7
	huge := appMsg(1, 2, 2, 11<<20)
	marker := msg(raftpb.MessageType_MsgHeartbeat, 1, 2, 3)
	a.t.Send([]Envelope{{Msg: big}, {Msg: huge}, {Msg: marker}})

	eventually(t, 20*time.Second, "big message and marker", func() bool { return len(b.rec.from(1)) >= 2 })
	got := b.rec.from(1)
	if !slices.Equal(indexes(got), []uint64{1, 3}) {
		t.Fatalf("got indexes %v, want [1 3]", indexes(got))
	}
	if !bytes.Equal(got[0].env.Msg.GetEntries()[0].GetData(), big.Entries[0].Data) {
		t.Fatal("big payload corrupted")
	}
	if s := stats(a, 2); s.Oversize != 1 || s.Sent != 2 {
		t.Fatalf("stats %+v, want Oversize 1 Sent 2", s)
	}
}

// A small MaxMsgBytes applies to the whole frame (Meta included).
func TestMessageSizeCapCountsMeta(t *testing.T) {
	small := func(c *Config) { c.MaxMsgBytes = 64 << 10 }
	a, b := startMember(t, 1, small), startMember(t, 2, small)
	connect(a, b)
	a.t.Send([]Envelope{
		{Msg: appMsg(1, 2, 1, 60<<10)},
		{Msg: appMsg(1, 2, 2, 60<<10), Meta: make([]byte, 8<<10)},
		{Msg: msg(raftpb.MessageType_MsgHeartbeat, 1, 2, 3)},
	})
	eventually(t, 10*time.Second, "delivery", func() bool { return len(b.rec.from(1)) >= 2 })
	if got := indexes(b.rec.from(1)); !slices.Equal(got, []uint64{1, 3}) {
		t.Fatalf("got %v, want [1 3]", got)
	}
	if s := stats(a, 2); s.Oversize != 1 {
		t.Fatalf("Oversize = %d, want 1", s.Oversize)
	}
}

func TestSendIgnoresZeroUnknownAndStopped(t *testing.T) {
	a := newMember(t, 1, nil)
	a.t.Send([]Envelope{
		{Msg: msg(raftpb.MessageType_MsgApp, 1, 0, 1)}, // to 0: ignored
		{Msg: nil}, // ignored
		{Msg: msg(raftpb.MessageType_MsgApp, 1, 9, 1)}, // unknown: counted
	})
	if got := a.t.DroppedUnknown(); got != 1 {
		t.Fatalf("DroppedUnknown = %d, want 1", got)
	}
	if !a.t.ActiveSince(9).IsZero() {
		t.Fatal("ActiveSince of unknown peer not zero")
	}
	a.t.AddPeer(1, []string{"http://127.0.0.1:1"}) // self: ignored
	if len(a.t.Stats()) != 0 {
		t.Fatalf("self was added as a peer: %v", a.t.Stats())
	}
	a.t.Stop()
	a.t.Stop()
	a.t.AddPeer(2, []string{"http://127.0.0.1:1"})
	a.t.Send([]Envelope{{Msg: msg(raftpb.MessageType_MsgApp, 1, 2, 1)}})
	if len(a.t.Stats()) != 0 {
		t.Fatal("AddPeer after Stop took effect")
	}
}

func TestDialTarget(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"http://127.0.0.1:2380", "passthrough:///127.0.0.1:2380", true},
		{"http://[::1]:2380", "passthrough:///[::1]:2380", true},
		{"http://localhost:2380/", "passthrough:///localhost:2380", true},
		{"https://127.0.0.1:2380", "passthrough:///127.0.0.1:2380", true}, // TLS: tls.go
		{"unix:///tmp/kvd.sock", "", false},
		{"http://127.0.0.1", "", false},
		{"127.0.0.1:2380", "", false},
	} {
		got, err := dialTarget(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("dialTarget(%q) = %q, %v", tc.in, got, err)
		}
	}
}
