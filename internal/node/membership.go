package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	"go.etcd.io/raft/v3/raftpb"
)

// MemberInfo is one member as the cluster knows it. Its JSON form is what
// the state machine persists in bbolt's `members` bucket (one value per
// member, keyed by id), what conf-change entries carry in their Context and
// what the raft snapshot's Data holds (the whole list), like etcd's
// membership.Member (server/etcdserver/api/membership/member.go).
type MemberInfo struct {
	ID         uint64   `json:"id"`
	Name       string   `json:"name,omitempty"` // empty until the member starts and publishes it
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs,omitempty"`
	IsLearner  bool     `json:"isLearner,omitempty"`
}

// MembershipStateMachine is implemented by a StateMachine that persists
// membership. SaveMembers applies entry (index, term) whose effect is the
// given list: it MUST write it and the consistent index in the same durable
// transaction, like Apply. LoadMembers returns what was saved (ok false if
// nothing ever was).
type MembershipStateMachine interface {
	SaveMembers(index, term uint64, members map[uint64][]byte, removed []uint64)
	LoadMembers() (members map[uint64][]byte, removed []uint64, ok bool, err error)
}

// Errors of membership changes; internal/server maps them to etcd's.
var (
	ErrIDRemoved               = errors.New("node: ID removed")
	ErrIDExists                = errors.New("node: ID exists")
	ErrIDNotFound              = errors.New("node: member not found")
	ErrPeerURLExists           = errors.New("node: peerURL exists")
	ErrMemberNotLearner        = errors.New("node: can only promote a learner member")
	ErrLearnerNotReady         = errors.New("node: can only promote a learner member which is in sync with leader")
	ErrTooManyLearners         = errors.New("node: too many learner members in cluster")
	ErrNotEnoughStartedMembers = errors.New("node: re-configuration failed due to not enough started members")
	ErrUnhealthy               = errors.New("node: unhealthy cluster")
	ErrNotLeader               = errors.New("node: not leader")
	ErrRemoved                 = errors.New("node: this member was removed from the cluster")
)

// membership is the member list this node applied. mu guards both maps; it
// is written by the apply goroutine only and read by anyone.
type membership struct {
	mu      sync.RWMutex
	members map[uint64]*MemberInfo
	removed map[uint64]bool
}

func newMembership() *membership {
	return &membership{members: map[uint64]*MemberInfo{}, removed: map[uint64]bool{}}
}

func (ms *membership) list() []MemberInfo {
	ms.mu.RLock()
	defer ms.mu.RUnlock()
	out := make([]MemberInfo, 0, len(ms.members))
	for _, m := range ms.members {
		c := *m
		c.PeerURLs = slices.Clone(m.PeerURLs)
		c.ClientURLs = slices.Clone(m.ClientURLs)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (ms *membership) get(id uint64) (MemberInfo, bool) {
	ms.mu.RLock()
	defer ms.mu.RUnlock()
	m, ok := ms.members[id]
	if !ok {
		return MemberInfo{}, false
	}
	return *m, true
}

func (ms *membership) isRemoved(id uint64) bool {
	ms.mu.RLock()
	defer ms.mu.RUnlock()
	return ms.removed[id]
}

// encode returns the persisted form: id -> JSON, and the removed ids.
func (ms *membership) encode() (map[uint64][]byte, []uint64) {
	ms.mu.RLock()
	defer ms.mu.RUnlock()
	out := make(map[uint64][]byte, len(ms.members))
	for id, m := range ms.members {
		b, _ := json.Marshal(m) // a struct of strings and bools always encodes
		out[id] = b
	}
	removed := make([]uint64, 0, len(ms.removed))
	for id := range ms.removed {
		removed = append(removed, id)
	}
	slices.Sort(removed)
	return out, removed
}

// load replaces the list with a persisted one.
func (ms *membership) load(enc map[uint64][]byte, removed []uint64) error {
	members := map[uint64]*MemberInfo{}
	for id, b := range enc {
		m := &MemberInfo{}
		if err := json.Unmarshal(b, m); err != nil {
			return fmt.Errorf("node: member %x does not decode: %w", id, err)
		}
		m.ID = id
		members[id] = m
	}
	rm := map[uint64]bool{}
	for _, id := range removed {
		rm[id] = true
	}
	ms.mu.Lock()
	ms.members, ms.removed = members, rm
	ms.mu.Unlock()
	return nil
}

// snapshotData is the raft snapshot's Data: the whole member list, so a
// snapshot file alone says who the cluster was (etcd keeps the membership
// in the v2 store that its snapshot data encodes).
type snapshotData struct {
	Members []MemberInfo `json:"members"`
	Removed []uint64     `json:"removed,omitempty"`
}

func (ms *membership) snapshotData() []byte {
	enc, removed := ms.encode()
	sd := snapshotData{Removed: removed}
	for _, b := range enc {
		var m MemberInfo
		json.Unmarshal(b, &m)
		sd.Members = append(sd.Members, m)
	}
	sort.Slice(sd.Members, func(i, j int) bool { return sd.Members[i].ID < sd.Members[j].ID })
	b, _ := json.Marshal(sd)
	return b
}

func (ms *membership) loadSnapshotData(b []byte) error {
	var sd snapshotData
	if err := json.Unmarshal(b, &sd); err != nil {
		return fmt.Errorf("node: snapshot data does not decode: %w", err)
	}
	enc := map[uint64][]byte{}
	for _, m := range sd.Members {
		b, _ := json.Marshal(m)
		enc[m.ID] = b
	}
	return ms.load(enc, sd.Removed)
}

// confChangeContext is the Context of every conf change kvd proposes.
type confChangeContext struct {
	ReqID  uint64     `json:"reqID,omitempty"`
	Member MemberInfo `json:"member"`
}

// applyConfChange changes the list as a committed conf change says. It is
// called from the apply goroutine for every conf change entry that the
// state machine has not seen yet, and returns the change's context. v1
// changes come from raft.StartNode's bootstrap entries, whose Context is
// the member's JSON (or, from older data dirs, only its name).
func (ms *membership) applyConfChange(cc *raftpb.ConfChangeV2, initial []Member) (ctx confChangeContext) {
	if len(cc.GetContext()) > 0 {
		if jerr := json.Unmarshal(cc.GetContext(), &ctx); jerr != nil || ctx.Member.ID == 0 {
			ctx = confChangeContext{}
			// Bootstrap entry of an older format: the context is a name.
			for _, m := range initial {
				if m.Name == string(cc.GetContext()) {
					ctx.Member = MemberInfo{ID: m.ID, Name: m.Name, PeerURLs: m.PeerURLs}
				}
			}
		}
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	for _, ch := range cc.GetChanges() {
		id := ch.GetNodeId()
		switch ch.GetType() {
		case raftpb.ConfChangeType_ConfChangeAddNode, raftpb.ConfChangeType_ConfChangeAddLearnerNode:
			learner := ch.GetType() == raftpb.ConfChangeType_ConfChangeAddLearnerNode
			if m, ok := ms.members[id]; ok {
				m.IsLearner = learner // a promotion (AddNode of a learner) or a repeat
				continue
			}
			m := ctx.Member
			m.ID, m.IsLearner = id, learner
			if len(m.PeerURLs) == 0 {
				for _, im := range initial {
					if im.ID == id {
						m.Name, m.PeerURLs = im.Name, im.PeerURLs
					}
				}
			}
			ms.members[id] = &m
		case raftpb.ConfChangeType_ConfChangeRemoveNode:
			delete(ms.members, id)
			ms.removed[id] = true
		case raftpb.ConfChangeType_ConfChangeUpdateNode:
			if m, ok := ms.members[id]; ok && len(ctx.Member.PeerURLs) > 0 {
				m.PeerURLs = slices.Clone(ctx.Member.PeerURLs)
			}
		}
	}
	return ctx
}

// setAttrs records the name and client URLs a member published.
func (ms *membership) setAttrs(id uint64, name string, clientURLs []string) bool {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	m, ok := ms.members[id]
	if !ok {
		return false
	}
	m.Name, m.ClientURLs = name, slices.Clone(clientURLs)
	return true
}
