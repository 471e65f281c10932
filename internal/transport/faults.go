package transport

import (
	"math/rand/v2"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// AnyType in FaultRule.Type matches every message type. The zero value
// (MsgHup) never crosses a transport, so a rule MUST set Type to match anything.
const AnyType raftpb.MessageType = -1

// FaultRule perturbs outgoing messages of this member. It is evaluated on the
// SEND side, in Send, before the message is queued.
//
// From and To are member ids; 0 matches any. Type is a raft message type or
// AnyType. Of a matching rule, Blackhole (drop everything) is applied first,
// then Drop (probability 0..1), then Delay to the survivors.
//
// A delayed message holds back everything queued behind it for the same peer,
// like a slow link: per-peer ORDER IS PRESERVED, delay is not reordering.
type FaultRule struct {
	From, To  uint64
	Type      raftpb.MessageType
	Drop      float64
	Delay     time.Duration
	Blackhole bool
}

func (r *FaultRule) matches(from, to uint64, typ raftpb.MessageType) bool {
	return (r.From == 0 || r.From == from) &&
		(r.To == 0 || r.To == to) &&
		(r.Type == AnyType || r.Type == typ)
}

// SetFaults replaces the fault rules; nil or empty removes all faults.
// Only the FIRST matching rule applies to a message.
func (t *Transport) SetFaults(rules []FaultRule) {
	if len(rules) == 0 {
		t.faults.Store(nil)
		return
	}
	cp := append([]FaultRule(nil), rules...)
	t.faults.Store(&cp)
}

// Faults returns a copy of the current rules (nil when none).
func (t *Transport) Faults() []FaultRule {
	p := t.faults.Load()
	if p == nil {
		return nil
	}
	return append([]FaultRule(nil), (*p)...)
}

// applyFaults decides the fate of m: drop it, or send it no earlier than the
// returned delay from now. Fast path: one atomic load when no faults are set.
func (t *Transport) applyFaults(m *raftpb.Message) (drop bool, delay time.Duration) {
	p := t.faults.Load()
	if p == nil {
		return false, 0
	}
	from, to, typ := t.cfg.ID, m.GetTo(), m.GetType()
	for i := range *p {
		r := &(*p)[i]
		if !r.matches(from, to, typ) {
			continue
		}
		if r.Blackhole || (r.Drop > 0 && rand.Float64() < r.Drop) {
			return true, 0
		}
		return false, r.Delay
	}
	return false, 0
}
