package transport

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// Defaults for zero Config fields.
const (
	DefaultQueueSize = 4096
	// DefaultMaxMsgBytes caps one encoded envelope: 10 MiB of raft message plus
	// 512 KiB of slack for Meta and framing.
	DefaultMaxMsgBytes = 10<<20 + 512<<10
	DefaultDialTimeout = time.Second
)

// Handler is the raft side of the transport, implemented by the node.
type Handler interface {
	// Process delivers one received envelope. It is called from the stream's
	// goroutine, IN ORDER per sending peer, and never for two envelopes of the
	// same peer at once; calls for different peers run concurrently. An error
	// is logged and the stream continues.
	Process(ctx context.Context, env Envelope) error
	// IsIDRemoved reports whether id was removed from the cluster; streams
	// from removed members are refused.
	IsIDRemoved(id uint64) bool
	// ReportUnreachable is called, from the peer's sender goroutine, when the
	// stream to id breaks or a (re)connect attempt fails.
	ReportUnreachable(id uint64)
}

// Config configures a Transport. Zero fields take the defaults above.
type Config struct {
	ID, ClusterID uint64
	Handler       Handler
	Logger        *slog.Logger
	QueueSize     int // per-peer send queue, in messages
	MaxMsgBytes   int // cap on one encoded envelope, both directions
	DialTimeout   time.Duration
	// TLS dials https:// peer URLs (tls.go, DialOptions); nil: http:// only.
	TLS *tls.Config
}

// Transport sends raft messages to peers and receives theirs. See doc.go.
type Transport struct {
	cfg Config
	lg  *slog.Logger

	// faults holds *[]FaultRule; nil means no faults (the fast path in Send).
	faults atomic.Pointer[[]FaultRule]
	// droppedUnknown counts envelopes addressed to members not added.
	droppedUnknown atomic.Uint64

	stopc chan struct{} // closed by Stop
	// wg tracks peer sender goroutines and inbound receive goroutines. Add is
	// only called under mu with stopped false, so it never races Stop's Wait.
	wg sync.WaitGroup

	// mu guards peers and stopped. Lock order: Transport.mu BEFORE peer.mu.
	// Send holds it shared; membership changes and Stop hold it exclusively.
	mu      sync.RWMutex
	peers   map[uint64]*peer
	stopped bool
}

// New returns a Transport for member cfg.ID. It starts nothing until peers are
// added; call Register to accept streams from peers.
func New(cfg Config) *Transport {
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.MaxMsgBytes <= 0 {
		cfg.MaxMsgBytes = DefaultMaxMsgBytes
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.Handler == nil {
		cfg.Handler = nopHandler{}
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	lg = lg.With("local-member-id", fmt.Sprintf("%x", cfg.ID))
	return &Transport{
		cfg:   cfg,
		lg:    lg,
		stopc: make(chan struct{}),
		peers: make(map[uint64]*peer),
	}
}

// AddPeer starts a sender to member id at urls (http://host:port). Adding an
// existing peer updates its URLs, and redials, only if they differ; adding
// this member itself is ignored.
func (t *Transport) AddPeer(id uint64, urls []string) {
	if id == 0 || id == t.cfg.ID {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	if p, ok := t.peers[id]; ok {
		// Only a real change redials: the node re-adds every member after
		// each conf change, and tearing healthy streams down then lost the
		// MsgApp that carried the new commit, so followers learned it a
		// heartbeat later (a member joining right after MemberAdd asked
		// such a follower and was told it was not in the cluster).
		if !p.hasURLs(urls) {
			p.setURLs(urls)
		}
		return
	}
	p := newPeer(t, id, urls)
	t.peers[id] = p
	p.prom.Known.Set(1)
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		p.run()
	}()
	t.lg.Info("added peer", "remote-peer-id", fmt.Sprintf("%x", id), "urls", urls)
}

// RemovePeer stops the sender to id, discards its queue and closes any stream
// accepted from it. It returns after the sender goroutine has exited.
func (t *Transport) RemovePeer(id uint64) {
	t.mu.Lock()
	p, ok := t.peers[id]
	delete(t.peers, id)
	t.mu.Unlock()
	if !ok {
		return
	}
	p.stop()
	<-p.done
	p.prom.Known.Set(0)
	t.lg.Info("removed peer", "remote-peer-id", fmt.Sprintf("%x", id))
}

// UpdatePeer replaces the URLs of id and makes its sender redial now.
func (t *Transport) UpdatePeer(id uint64, urls []string) {
	t.mu.RLock()
	p, ok := t.peers[id]
	t.mu.RUnlock()
	if !ok {
		t.lg.Warn("update of unknown peer ignored", "remote-peer-id", fmt.Sprintf("%x", id))
		return
	}
	p.setURLs(urls)
}

// Send queues envelopes for their peers (env.Msg.To) and returns without
// blocking on the network. Per peer, envelopes are sent in the order of Send
// calls. Envelopes to id 0 or with a nil Msg are ignored; envelopes to unknown
// peers, or beyond a full queue, are dropped and counted: raft retransmits.
// After Send the caller MUST NOT modify the envelopes' messages or Meta.
func (t *Transport) Send(envs []Envelope) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.stopped {
		return
	}
	now := time.Time{}
	for _, env := range envs {
		to := env.Msg.GetTo()
		if to == 0 {
			continue
		}
		p, ok := t.peers[to]
		if !ok {
			t.droppedUnknown.Add(1)
			continue
		}
		drop, delay := t.applyFaults(env.Msg)
		if drop {
			p.faultDropped.Add(1)
			continue
		}
		item := outMsg{env: env}
		if delay > 0 {
			if now.IsZero() {
				now = time.Now()
			}
			item.notBefore = now.Add(delay)
		}
		p.enqueue(item)
	}
}

// ActiveSince returns when the current outgoing stream to id was established,
// or the zero time if there is none.
func (t *Transport) ActiveSince(id uint64) time.Time {
	t.mu.RLock()
	p, ok := t.peers[id]
	t.mu.RUnlock()
	if !ok {
		return time.Time{}
	}
	return p.activeSince()
}

// DroppedUnknown returns how many envelopes were addressed to unknown peers.
func (t *Transport) DroppedUnknown() uint64 { return t.droppedUnknown.Load() }

// Stats returns counters for every known peer.
func (t *Transport) Stats() map[uint64]PeerStats {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make(map[uint64]PeerStats, len(t.peers))
	for id, p := range t.peers {
		out[id] = p.stats()
	}
	return out
}

// Stop closes all streams and waits for the transport's goroutines. Handler
// methods are not called after Stop returns. Stop is idempotent; it does not
// stop the gRPC server passed to Register.
func (t *Transport) Stop() {
	t.mu.Lock()
	if t.stopped {
		t.mu.Unlock()
		return
	}
	t.stopped = true
	close(t.stopc)
	peers := t.peers
	t.peers = make(map[uint64]*peer)
	t.mu.Unlock()
	for _, p := range peers {
		p.stop()
	}
	t.wg.Wait()
}

// outMsg is one queued envelope; notBefore is set by a Delay fault.
type outMsg struct {
	env       Envelope
	notBefore time.Time
}

// messageType is used in log fields.
func messageType(m *raftpb.Message) string { return m.GetType().String() }
