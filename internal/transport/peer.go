package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/status"

	"github.com/kvtrace/kvtrace/internal/metrics"
)

// Reconnect backoff bounds. The delay doubles per failed attempt; each wait is
// drawn from [d/2, d] so members that lost the same peer do not redial in step.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// errRedial ends a healthy stream because the peer's URLs changed; it is not a
// failure and is neither backed off nor reported as unreachable.
var errRedial = errors.New("transport: peer URLs changed")

// peer is one remote member: the sender side (queue, one outgoing stream, and
// the goroutine that owns it) and the receive-side state of the stream that
// member opened to us. Compare etcd rafthttp peer.go (peer, startPeer), which
// splits the same roles over streamWriter/streamReader and a pipeline.
type peer struct {
	t  *Transport
	id uint64
	lg *slog.Logger

	queue  chan outMsg   // bounded; Send never blocks on it
	redial chan struct{} // cap 1; poked by setURLs
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when run returns

	// Owned by the run goroutine (pump): held is a delayed message taken
	// off the queue that starts the next frame (it survives a reconnect);
	// batch and sizes are reused between frames.
	held  *outMsg
	batch []Envelope
	sizes []int

	// mu guards urls, nextURL, since and inEvict. Taken AFTER Transport.mu.
	mu      sync.Mutex
	urls    []string
	nextURL int           // round-robin position for the next dial
	since   time.Time     // when the outgoing stream was established; zero if none
	inEvict chan struct{} // closed to end the current inbound stream

	// recvMu serializes Process for this member across inbound streams, so a
	// reconnect can never run two streams' deliveries concurrently or out of
	// order. inGen names the newest inbound stream; older ones stop at their
	// next message. Lock order: recvMu is never held with mu.
	recvMu sync.Mutex
	inGen  atomic.Uint64

	sent, bytes, dropped, oversize, faultDropped atomic.Uint64
	connects, dialFailures, received             atomic.Uint64
	prom                                         metrics.Peer // this peer's Prometheus children (probe.go)
}

func newPeer(t *Transport, id uint64, urls []string) *peer {
	ctx, cancel := context.WithCancel(context.Background())
	return &peer{
		t:      t,
		id:     id,
		lg:     t.lg.With("remote-peer-id", fmt.Sprintf("%x", id)),
		queue:  make(chan outMsg, t.cfg.QueueSize),
		redial: make(chan struct{}, 1),
		ctx:    ctx,
		cancel: cancel,
		done:   make(chan struct{}),
		urls:   append([]string(nil), urls...),
		prom:   metrics.ForPeer(t.cfg.ID, id),
	}
}

// enqueue never blocks: a full queue means the link cannot keep up or the peer
// is down, and raft will retransmit (etcd rafthttp peer.go, (*peer).send, does
// the same on a full stream buffer).
func (p *peer) enqueue(m outMsg) {
	select {
	case p.queue <- m:
	default:
		p.dropped.Add(1)
		p.prom.SentFailures.Inc()
	}
}

// hasURLs reports whether the peer's URLs are exactly urls.
func (p *peer) hasURLs(urls []string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Equal(p.urls, urls)
}

func (p *peer) setURLs(urls []string) {
	p.mu.Lock()
	p.urls = append([]string(nil), urls...)
	p.nextURL = 0
	p.mu.Unlock()
	select {
	case p.redial <- struct{}{}:
	default:
	}
}

// stop ends the sender goroutine and any inbound stream from this member.
func (p *peer) stop() {
	p.cancel()
	p.mu.Lock()
	if p.inEvict != nil {
		close(p.inEvict)
		p.inEvict = nil
	}
	p.mu.Unlock()
}

func (p *peer) activeSince() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.since
}

func (p *peer) setSince(ts time.Time) {
	p.mu.Lock()
	was := p.since
	p.since = ts
	p.mu.Unlock()
	p.prom.Active.Set(b2f(!ts.IsZero())) // etcd_network_active_peers (probe.go)
	if !was.IsZero() && ts.IsZero() {
		p.prom.Disconnected.Inc()
	}
}

func (p *peer) pickURL() (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.urls) == 0 {
		return "", errors.New("transport: peer has no URLs")
	}
	u := p.urls[p.nextURL%len(p.urls)]
	p.nextURL++
	return u, nil
}

// dialTarget turns http(s)://host:port into a gRPC passthrough target.
func dialTarget(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("transport: peer URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("transport: peer URL %q: scheme %q not supported (http or https only)", raw, u.Scheme)
	}
	if _, _, err := net.SplitHostPort(u.Host); err != nil {
		return "", fmt.Errorf("transport: peer URL %q: %w", raw, err)
	}
	return "passthrough:///" + u.Host, nil
}

// run owns the outgoing stream: connect, pump the queue, and on failure report
// unreachable and back off. Queued messages survive a reconnect.
func (p *peer) run() {
	defer close(p.done)
	attempt := 0
	wasUp := false
	for {
		err := p.connectAndPump(&wasUp)
		if p.ctx.Err() != nil {
			return
		}
		if errors.Is(err, errRedial) {
			attempt = 0
			continue
		}
		if wasUp {
			attempt = 0
			p.lg.Warn("stream to peer broke", "error", err)
		} else if attempt == 0 {
			p.lg.Warn("cannot reach peer", "error", err)
		} else {
			p.lg.Debug("cannot reach peer", "error", err, "attempt", attempt)
		}
		wasUp = false
		// raft moves the follower to probe; etcd reports from the same spots
		// (stream.go, streamWriter.run, on a write error or closed stream).
		p.t.cfg.Handler.ReportUnreachable(p.id)

		d := min(minBackoff<<min(attempt, 10), maxBackoff)
		attempt++
		timer := time.NewTimer(d/2 + rand.N(d/2+1))
		select {
		case <-p.ctx.Done():
			timer.Stop()
			return
		case <-p.redial:
			attempt = 0
		case <-timer.C:
		}
		timer.Stop()
	}
}

// connectAndPump dials, handshakes, and writes queued messages until the stream
// fails, the URLs change, or the peer stops. *up is set once established.
func (p *peer) connectAndPump(up *bool) error {
	raw, err := p.pickURL()
	if err != nil {
		p.dialFailures.Add(1)
		return err
	}
	target, creds, err := p.t.DialOptions(raw) // tls.go
	if err != nil {
		p.dialFailures.Add(1)
		return err
	}
	cc, err := grpc.NewClient(target, creds,
		grpc.WithDefaultCallOptions(grpc.CallContentSubtype(codecName)),
		// Fixed flow-control windows turn off gRPC's bandwidth-delay
		// estimator, which pings the other side about once per round trip
		// while data flows: with raft's many small messages that was a
		// write and a read per message more (see windowSize).
		grpc.WithInitialWindowSize(streamWindow),
		grpc.WithInitialConnWindowSize(connWindow),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: minBackoff, Multiplier: 2, Jitter: 0.2, MaxDelay: maxBackoff},
			MinConnectTimeout: p.t.cfg.DialTimeout,
		}),
	)
	if err != nil {
		p.dialFailures.Add(1)
		return fmt.Errorf("transport: dial %s: %w", raw, err)
	}
	defer cc.Close()

	sctx, scancel := context.WithCancel(p.ctx)
	defer scancel()
	cs, err := p.handshake(sctx, scancel, cc)
	if err != nil {
		p.dialFailures.Add(1)
		// The peer refuses us because we were removed: tell the node, which
		// stops, as etcd's member does when a peer answers that it was
		// removed (rafthttp, errMemberRemoved).
		if rh, ok := p.t.cfg.Handler.(RemovedHandler); ok && strings.Contains(err.Error(), "PermissionDenied") &&
			strings.Contains(err.Error(), fmt.Sprintf("member %x was removed", p.t.cfg.ID)) {
			rh.RemovedByPeer(p.id)
		}
		return fmt.Errorf("transport: stream to %s: %w", raw, err)
	}

	*up = true
	if p.connects.Add(1) > 1 {
		p.lg.Info("re-established stream to peer", "url", raw, "dropped-total", p.dropped.Load())
	} else {
		p.lg.Info("established stream to peer", "url", raw)
	}
	p.setSince(time.Now())
	defer p.setSince(time.Time{})

	// The acceptor sends nothing after its hello, so RecvMsg returns only when
	// the stream ends; that tells the writer promptly even while it is idle.
	broken := make(chan struct{})
	var recvErr error
	go func() {
		defer close(broken)
		for {
			var h hello
			if err := cs.RecvMsg(&h); err != nil {
				recvErr = err
				return
			}
		}
	}()
	probed := p.probe(sctx, cc) // probe.go
	err = p.pump(cs, broken)
	scancel()
	<-broken
	<-probed
	if err == nil || (!errors.Is(err, errRedial) && recvErr != nil) {
		// The receiver's status explains more than the io.EOF SendMsg returns.
		err = recvErr
	}
	return err
}

// handshake opens the stream and exchanges hellos within DialTimeout.
func (p *peer) handshake(sctx context.Context, scancel context.CancelFunc, cc *grpc.ClientConn) (grpc.ClientStream, error) {
	timer := time.AfterFunc(p.t.cfg.DialTimeout, scancel)
	cs, err := cc.NewStream(sctx, &serviceDesc.Streams[0], fullMethod)
	if err == nil {
		err = cs.SendMsg(&hello{From: p.t.cfg.ID, To: p.id, ClusterID: p.t.cfg.ClusterID})
	}
	var ack hello
	if err == nil {
		// On rejection SendMsg may still succeed; the status arrives here.
		err = cs.RecvMsg(&ack)
	}
	if !timer.Stop() {
		return nil, fmt.Errorf("handshake timed out after %v (last error: %v)", p.t.cfg.DialTimeout, err)
	}
	if err != nil {
		if s, ok := status.FromError(err); ok {
			return nil, fmt.Errorf("%s: %s", s.Code(), s.Message())
		}
		return nil, err
	}
	if ack.From != p.id || ack.To != p.t.cfg.ID || ack.ClusterID != p.t.cfg.ClusterID {
		return nil, fmt.Errorf("unexpected member at this URL: it is %x of cluster %x (addressed to %x), want %x of cluster %x",
			ack.From, ack.ClusterID, ack.To, p.id, p.t.cfg.ClusterID)
	}
	return cs, nil
}

// maxBatch bounds the envelopes in one frame (MaxMsgBytes bounds its bytes).
const maxBatch = 256

// pump writes queued messages IN QUEUE ORDER, as many per frame as are
// queued when the first one is taken (up to maxBatch and MaxMsgBytes). A
// delayed message blocks the ones behind it (a slow link, not reordering).
func (p *peer) pump(cs grpc.ClientStream, broken <-chan struct{}) error {
	for {
		var m outMsg
		if p.held != nil {
			m, p.held = *p.held, nil
		} else {
			select {
			case <-p.ctx.Done():
				return nil
			case <-broken:
				return errors.New("stream closed by peer")
			case <-p.redial:
				return errRedial
			case m = <-p.queue:
			}
		}
		if !m.notBefore.IsZero() {
			if err := p.waitUntil(m.notBefore, broken); err != nil {
				p.dropped.Add(1)
				return err
			}
		}
		batch := p.drain(append(p.batch[:0], m.env))
		err := p.writeBatch(cs, batch)
		clear(batch) // do not pin sent messages until the next frame
		p.batch = batch[:0]
		if err != nil {
			return err
		}
	}
}

// drain appends the envelopes already queued, without waiting. A delayed
// one ends the frame: it is held and starts the next.
func (p *peer) drain(batch []Envelope) []Envelope {
	for len(batch) < maxBatch {
		select {
		case m := <-p.queue:
			if !m.notBefore.IsZero() {
				p.held = &m
				return batch
			}
			batch = append(batch, m.env)
		default:
			return batch
		}
	}
	return batch
}

func (p *peer) waitUntil(ts time.Time, broken <-chan struct{}) error {
	d := time.Until(ts)
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-p.ctx.Done():
		return p.ctx.Err()
	case <-broken:
		return errors.New("stream closed by peer")
	}
}

// writeBatch encodes envs into batch frames of at most MaxMsgBytes (one
// frame unless they do not fit) and sends them. Encoding or size errors
// drop only that message; a stream error ends the stream.
func (p *peer) writeBatch(cs grpc.ClientStream, envs []Envelope) error {
	limit := p.t.cfg.MaxMsgBytes
	sizes, total := p.sizes[:0], 0
	for _, env := range envs {
		n := envelopeSize(env)
		if rec := uvarintLen(uint64(n)) + n; rec <= limit {
			sizes = append(sizes, n)
			total += rec
			continue
		}
		// Never sent: the receiver would refuse it and tear down the stream,
		// and raft would resend it forever.
		sizes = append(sizes, -1)
		p.oversize.Add(1)
		p.lg.Error("raft message exceeds the transport size cap; not sent",
			"type", messageType(env.Msg), "bytes", n, "max-bytes", limit,
			"entries", len(env.Msg.GetEntries()))
	}
	p.sizes = sizes
	// A NEW buffer per frame: SendMsg returns once the frame is queued and
	// gRPC writes it later (rawFrame.b is handed over without a copy).
	frame, count := make([]byte, 0, min(total, limit)), 0
	for i, env := range envs {
		n := sizes[i]
		if n < 0 {
			continue
		}
		if rec := uvarintLen(uint64(n)) + n; len(frame)+rec > limit {
			if err := p.sendFrame(cs, frame, count); err != nil {
				return err
			}
			total -= len(frame)
			frame, count = make([]byte, 0, min(total, limit)), 0
		}
		next, err := appendBatchRecord(frame, env, n)
		if err != nil {
			p.dropped.Add(1)
			p.lg.Error("cannot encode raft message", "type", messageType(env.Msg), "error", err)
			continue
		}
		frame, count = next, count+1
	}
	if count == 0 {
		return nil
	}
	return p.sendFrame(cs, frame, count)
}

// sendFrame sends one batch frame holding count envelopes.
func (p *peer) sendFrame(cs grpc.ClientStream, frame []byte, count int) error {
	if err := cs.SendMsg(&rawFrame{b: frame}); err != nil {
		p.dropped.Add(uint64(count))
		p.prom.SentFailures.Add(float64(count))
		return err
	}
	p.sent.Add(uint64(count))
	p.bytes.Add(uint64(len(frame)))
	p.prom.SentBytes.Add(float64(len(frame)))
	return nil
}
