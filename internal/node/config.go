package node

import (
	"context"
	"crypto/sha1"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// Member is one entry of --initial-cluster.
type Member struct {
	ID       uint64
	Name     string
	PeerURLs []string
}

// StateMachine is what the apply goroutine drives. It is implemented by
// internal/server on top of internal/store.
type StateMachine interface {
	// Apply applies the committed normal entry (index, term) whose payload is
	// data (nil for the empty entry a new leader appends). It MUST record
	// index/term in the same durable transaction as the entry's effects, so
	// that AppliedIndex after a crash names exactly what is in the store.
	// It returns the id of the request the entry carried (0 if none) and the
	// result to hand to the proposer waiting on that id.
	// ctx carries the entry's apply span when the entry is traced.
	Apply(ctx context.Context, index, term uint64, data []byte) (reqID uint64, result any)
	// AppliedIndex is the index of the last entry whose effects are in the
	// state machine (etcd's consistent index).
	AppliedIndex() uint64
}

// Config holds what New needs. Durations follow etcd's flag semantics.
type Config struct {
	Name           string
	DataDir        string
	InitialCluster []Member // every member with its peer URLs
	NewCluster     bool     // --initial-cluster-state=new
	ClusterToken   string   // --initial-cluster-token

	HeartbeatInterval time.Duration // --heartbeat-interval; one raft tick
	ElectionTimeout   time.Duration // --election-timeout; a multiple of the heartbeat
	SnapshotCount     uint64        // --snapshot-count: applied entries between snapshots
	// SnapshotCatchUpEntries is how many entries the raft log keeps behind a
	// snapshot so a slightly lagging follower catches up from the log, not
	// a whole database (etcd: --experimental-snapshot-catchup-entries, 5000).
	SnapshotCatchUpEntries uint64
	MaxSnapshots           int // --max-snapshots: .snap files kept (0 = all)
	MaxWALs                int // --max-wals: WAL segment files kept (0 = all)

	MaxSizePerMsg   uint64 // bytes of entries per MsgApp (etcd: 1 MiB)
	MaxInflightMsgs int    // pipelined MsgApps per follower (etcd: 512)

	StateMachine StateMachine
	Logger       *slog.Logger
	// Tracer records the raft-level spans of docs/spans.md; nil = off.
	Tracer trace.Tracer
	// PeerTLS dials https:// peer URLs (--peer-cert-file and friends;
	// internal/tlsutil, Info.ClientConfig); nil: http:// peers only.
	PeerTLS *tls.Config
}

func (c *Config) validate() error {
	if c.Name == "" {
		return errors.New("node: --name is empty; give this member a name that appears in --initial-cluster")
	}
	if c.DataDir == "" {
		return errors.New("node: --data-dir is empty")
	}
	if c.StateMachine == nil {
		return errors.New("node: no state machine")
	}
	if c.HeartbeatInterval <= 0 {
		return errors.New("node: --heartbeat-interval must be positive")
	}
	if c.ElectionTimeout < 5*c.HeartbeatInterval {
		return fmt.Errorf("node: --election-timeout (%v) must be at least 5 times --heartbeat-interval (%v)", c.ElectionTimeout, c.HeartbeatInterval)
	}
	if c.self() == nil {
		return fmt.Errorf("node: member %q is not in --initial-cluster; add %s=<peer-url> to it", c.Name, c.Name)
	}
	if c.MaxSizePerMsg == 0 {
		c.MaxSizePerMsg = 1 << 20
	}
	if c.MaxInflightMsgs == 0 {
		c.MaxInflightMsgs = 512
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.SnapshotCount == 0 {
		c.SnapshotCount = 10000
	}
	if c.SnapshotCatchUpEntries == 0 {
		c.SnapshotCatchUpEntries = 5000
	}
	return nil
}

func (c *Config) self() *Member {
	for i := range c.InitialCluster {
		if c.InitialCluster[i].Name == c.Name {
			return &c.InitialCluster[i]
		}
	}
	return nil
}

// ParseInitialCluster parses etcd's --initial-cluster form
// "m1=http://127.0.0.1:2380,m2=http://127.0.0.1:12380" and derives member
// IDs from the peer URLs and the cluster token, the way etcd derives them
// (etcd server/etcdserver/api/membership/member.go, computeMemberID: a hash
// of the sorted peer URLs and the token), so the same flags give the same IDs
// on every member and on every restart.
func ParseInitialCluster(s, token string) ([]Member, error) {
	byName := map[string]*Member{}
	var order []string
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, url, ok := strings.Cut(part, "=")
		if !ok || name == "" || url == "" {
			return nil, fmt.Errorf("--initial-cluster: %q is not name=url", part)
		}
		if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
			return nil, fmt.Errorf("--initial-cluster: peer URL %q of %s needs a scheme (http://host:port)", url, name)
		}
		m, ok := byName[name]
		if !ok {
			m = &Member{Name: name}
			byName[name] = m
			order = append(order, name)
		}
		m.PeerURLs = append(m.PeerURLs, url)
	}
	if len(order) == 0 {
		return nil, errors.New("--initial-cluster is empty")
	}
	out := make([]Member, 0, len(order))
	seen := map[uint64]string{}
	for _, name := range order {
		m := *byName[name]
		m.ID = MemberID(m.PeerURLs, token)
		if other, dup := seen[m.ID]; dup {
			return nil, fmt.Errorf("--initial-cluster: members %s and %s have the same peer URLs", other, name)
		}
		seen[m.ID] = name
		out = append(out, m)
	}
	return out, nil
}

// MemberID hashes sorted peer URLs and the cluster token into a member ID.
func MemberID(peerURLs []string, token string) uint64 {
	urls := slices.Clone(peerURLs)
	slices.Sort(urls)
	h := sha1.New()
	h.Write([]byte(strings.Join(urls, "")))
	h.Write([]byte(token))
	id := binary.BigEndian.Uint64(h.Sum(nil)[:8])
	if id == 0 { // raft reserves 0 for "none"
		id = 1
	}
	return id
}

// ClusterID hashes the sorted member IDs into the cluster ID.
func ClusterID(members []Member) uint64 {
	ids := make([]uint64, 0, len(members))
	for _, m := range members {
		ids = append(ids, m.ID)
	}
	slices.Sort(ids)
	h := sha1.New()
	var b [8]byte
	for _, id := range ids {
		binary.BigEndian.PutUint64(b[:], id)
		h.Write(b[:])
	}
	return binary.BigEndian.Uint64(h.Sum(nil)[:8])
}
