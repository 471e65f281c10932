package transport

import (
	"slices"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

func TestFaultDropByTypeAndPeer(t *testing.T) {
	a, b, c := startMember(t, 1, nil), startMember(t, 2, nil), startMember(t, 3, nil)
	connect(a, b, c)
	rules := []FaultRule{{To: 2, Type: raftpb.MessageType_MsgApp, Drop: 1}}
	a.t.SetFaults(rules)
	if got := a.t.Faults(); !slices.Equal(got, rules) {
		t.Fatalf("Faults() = %v", got)
	}

	const n = 50
	for i := uint64(1); i <= n; i++ {
		a.t.Send([]Envelope{
			env(appMsg(1, 2, 2*i, 8)),
			env(msg(raftpb.MessageType_MsgHeartbeat, 1, 2, 2*i+1)),
			env(appMsg(1, 3, i, 8)),
		})
	}
	eventually(t, 5*time.Second, "heartbeats to 2", func() bool { return len(b.rec.from(1)) == n })
	eventually(t, 5*time.Second, "apps to 3", func() bool { return len(c.rec.from(1)) == n })
	for _, r := range b.rec.from(1) {
		if r.env.Msg.GetType() != raftpb.MessageType_MsgHeartbeat {
			t.Fatalf("peer 2 received %v", r.env.Msg.GetType())
		}
	}
	if s := stats(a, 2); s.FaultDropped != n || s.Dropped != 0 {
		t.Fatalf("stats %+v, want FaultDropped %d", s, n)
	}

	a.t.SetFaults(nil)
	if a.t.Faults() != nil {
		t.Fatal("faults not cleared")
	}
	a.t.Send([]Envelope{env(appMsg(1, 2, 1000, 8))})
	eventually(t, 5*time.Second, "MsgApp after clearing", func() bool {
		rs := b.rec.from(1)
		return len(rs) == n+1 && rs[n].env.Msg.GetType() == raftpb.MessageType_MsgApp
	})
}

// A delayed message arrives no sooner than its delay, and holds back what was
// sent behind it to the same peer (order is preserved), but not other peers.
func TestFaultDelayPreservesOrder(t *testing.T) {
	a, b, c := startMember(t, 1, nil), startMember(t, 2, nil), startMember(t, 3, nil)
	connect(a, b, c)
	// Warm the streams so connection setup does not count as delay.
	a.t.Send([]Envelope{env(msg(raftpb.MessageType_MsgHeartbeat, 1, 2, 1)), env(msg(raftpb.MessageType_MsgHeartbeat, 1, 3, 1))})
	eventually(t, 5*time.Second, "warm-up", func() bool { return len(b.rec.from(1)) == 1 && len(c.rec.from(1)) == 1 })

	const delay = 150 * time.Millisecond
	a.t.SetFaults([]FaultRule{{To: 2, Type: raftpb.MessageType_MsgHeartbeat, Delay: delay}})
	start := time.Now()
	a.t.Send([]Envelope{
		env(msg(raftpb.MessageType_MsgHeartbeat, 1, 2, 2)), // delayed
		env(appMsg(1, 2, 3, 8)),                            // not matched, but queued behind
		env(msg(raftpb.MessageType_MsgHeartbeat, 1, 3, 2)), // other peer: not matched
	})
	eventually(t, 5*time.Second, "delayed delivery", func() bool { return len(b.rec.from(1)) == 3 })
	rs := b.rec.from(1)
	if got := indexes(rs); !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Fatalf("order %v", got)
	}
	if d := rs[1].at.Sub(start); d < delay {
		t.Fatalf("delayed message arrived after %v, want >= %v", d, delay)
	}
	if d := rs[2].at.Sub(start); d < delay {
		t.Fatalf("message behind the delayed one arrived after %v, want >= %v", d, delay)
	}
	eventually(t, 5*time.Second, "peer 3", func() bool { return len(c.rec.from(1)) == 2 })

	a.t.SetFaults(nil)
	a.t.Send([]Envelope{env(msg(raftpb.MessageType_MsgHeartbeat, 1, 2, 4))})
	eventually(t, 5*time.Second, "undelayed delivery", func() bool { return len(b.rec.from(1)) == 4 })
}

func TestFaultRuleMatching(t *testing.T) {
	tr := New(Config{ID: 1})
	defer tr.Stop()
	hb := msg(raftpb.MessageType_MsgHeartbeat, 1, 2, 0)
	app := msg(raftpb.MessageType_MsgApp, 1, 3, 0)
	for _, tc := range []struct {
		name      string
		rules     []FaultRule
		hbDrop    bool
		appDrop   bool
		hbDelay   time.Duration
		appDelayd time.Duration
	}{
		{"none", nil, false, false, 0, 0},
		{"blackhole any", []FaultRule{{Type: AnyType, Blackhole: true}}, true, true, 0, 0},
		{"zero type is MsgHup, matches nothing sent", []FaultRule{{Blackhole: true}}, false, false, 0, 0},
		{"other sender", []FaultRule{{From: 5, Type: AnyType, Drop: 1}}, false, false, 0, 0},
		{"this sender", []FaultRule{{From: 1, To: 3, Type: AnyType, Drop: 1}}, false, true, 0, 0},
		{"first match wins", []FaultRule{
			{To: 2, Type: AnyType, Delay: time.Second},
			{Type: AnyType, Blackhole: true},
		}, false, true, time.Second, 0},
		{"drop zero keeps", []FaultRule{{Type: AnyType, Drop: 0, Delay: time.Millisecond}}, false, false, time.Millisecond, time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr.SetFaults(tc.rules)
			if d, dl := tr.applyFaults(hb); d != tc.hbDrop || dl != tc.hbDelay {
				t.Errorf("heartbeat: drop %v delay %v", d, dl)
			}
			if d, dl := tr.applyFaults(app); d != tc.appDrop || dl != tc.appDelayd {
				t.Errorf("app: drop %v delay %v", d, dl)
			}
		})
	}
}
