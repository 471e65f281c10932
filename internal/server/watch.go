package server

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/kvtrace/kvtrace/internal/store"
)

// DefaultProgressNotifyInterval is how often watchers created with
// progress_notify get an empty response while idle (etcd's default for
// --experimental-watch-progress-notify-interval).
const DefaultProgressNotifyInterval = 10 * time.Minute

// ctrlStreamLen buffers created/canceled responses (etcd: ctrlStreamBufLen).
const ctrlStreamLen = 16

// progressRetry is how often a deferred progress request is retried while
// some watcher of the stream is catching up (the store's sync loop retries
// at the same pace).
const progressRetry = 10 * time.Millisecond

// watchServer implements etcdserverpb.WatchServer on the store's watch
// streams, following etcd's server/etcdserver/api/v3rpc/watch.go: one
// receive loop turns requests into store watchers, one send loop turns
// the store's responses (and control responses) into gRPC messages.
type watchServer struct {
	pb.UnimplementedWatchServer
	s *Server
}

// serverWatchStream is one client Watch stream.
type serverWatchStream struct {
	s    *Server
	grpc pb.Watch_WatchServer
	ws   *store.WatchStream
	ctrl chan *pb.WatchResponse
	// progressReq carries progress requests from recvLoop to sendLoop; one
	// queued request stands for any number (they all ask the same).
	progressReq chan struct{}
	closec      chan struct{}
	wg          sync.WaitGroup

	// mu guards the per-watcher options; recvLoop writes them, sendLoop
	// and the progress ticker read them.
	mu       sync.Mutex
	prevKV   map[store.WatchID]bool
	fragment map[store.WatchID]bool
	progress map[store.WatchID]bool // progress_notify watchers: true = nothing sent since last tick
}

func (w *watchServer) Watch(stream pb.Watch_WatchServer) error {
	sws := &serverWatchStream{
		s: w.s, grpc: stream,
		ws:          w.s.store.NewWatchStream(),
		ctrl:        make(chan *pb.WatchResponse, ctrlStreamLen),
		progressReq: make(chan struct{}, 1),
		closec:      make(chan struct{}),
		prevKV:      make(map[store.WatchID]bool),
		fragment:    make(map[store.WatchID]bool),
		progress:    make(map[store.WatchID]bool),
	}
	sws.wg.Add(1)
	go func() {
		defer sws.wg.Done()
		sws.sendLoop()
	}()
	errc := make(chan error, 1)
	// recvLoop is not in wg: its Recv may outlive the stream's context.
	go func() {
		if err := sws.recvLoop(); err != nil {
			errc <- err
		}
	}()
	// A client that half-closes (io.EOF) keeps receiving until it goes
	// away, as in etcd; the gateway relies on this for /v3/watch.
	var err error
	select {
	case err = <-errc:
	case <-stream.Context().Done():
		err = stream.Context().Err()
	}
	if errors.Is(err, context.Canceled) {
		err = rpctypes.ErrGRPCWatchCanceled
	}
	close(sws.closec)
	sws.ws.Close()
	sws.wg.Wait()
	return err
}

func (sws *serverWatchStream) header(rev int64) *pb.ResponseHeader { return sws.s.header(rev) }

func (sws *serverWatchStream) sendCtrl(r *pb.WatchResponse) bool {
	select {
	case sws.ctrl <- r:
		return true
	case <-sws.closec:
		return false
	}
}

func (sws *serverWatchStream) recvLoop() error {
	for {
		req, err := sws.grpc.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		switch {
		case req.GetCreateRequest() != nil:
			sws.create(req.GetCreateRequest())
		case req.GetCancelRequest() != nil:
			id := store.WatchID(req.GetCancelRequest().GetWatchId())
			if err := sws.ws.Cancel(id); err == nil {
				sws.mu.Lock()
				delete(sws.prevKV, id)
				delete(sws.fragment, id)
				delete(sws.progress, id)
				sws.mu.Unlock()
				sws.sendCtrl(&pb.WatchResponse{Header: sws.header(sws.ws.Rev()), WatchId: int64(id), Canceled: true})
			}
		case req.GetProgressRequest() != nil:
			select {
			case sws.progressReq <- struct{}{}:
			default: // one is queued already; it answers this one too
			}
		default:
			// Unknown request kinds are ignored, as etcd does.
		}
	}
}

func (sws *serverWatchStream) create(cr *pb.WatchCreateRequest) {
	key, end := cr.GetKey(), cr.GetRangeEnd()
	var filters []store.EventFilter
	for _, f := range cr.GetFilters() {
		switch f {
		case pb.WatchCreateRequest_NOPUT:
			filters = append(filters, func(ev *mvccpb.Event) bool { return ev.Type == mvccpb.Event_PUT })
		case pb.WatchCreateRequest_NODELETE:
			filters = append(filters, func(ev *mvccpb.Event) bool { return ev.Type == mvccpb.Event_DELETE })
		}
	}
	var filter store.EventFilter
	if len(filters) > 0 {
		filter = func(ev *mvccpb.Event) bool {
			for _, f := range filters {
				if f(ev) {
					return true
				}
			}
			return false
		}
	}
	rev := sws.ws.Rev()
	startRev := cr.GetStartRevision()
	// The options MUST be known BEFORE the watcher can produce a response.
	// The id is not known yet; hold mu so the send loop cannot look them up
	// in between.
	sws.mu.Lock()
	id, err := sws.ws.Watch(store.WatchID(cr.GetWatchId()), key, end, startRev, filter)
	if err == nil {
		sws.prevKV[id] = cr.GetPrevKv()
		sws.fragment[id] = cr.GetFragment()
		if cr.GetProgressNotify() {
			sws.progress[id] = true
		}
	}
	sws.mu.Unlock()
	resp := &pb.WatchResponse{Header: sws.header(rev), WatchId: int64(id), Created: true}
	if err != nil {
		resp.WatchId = int64(store.ProgressAllID) // clientv3.InvalidWatchID
		resp.Canceled = true
		resp.CancelReason = err.Error()
	}
	sws.sendCtrl(resp)
}

// sendLoop is the only writer of the gRPC stream. Events of a watcher whose
// Created response has not gone out yet are held back until it has (etcd:
// sendLoop's pending map), so a client always sees Created first.
func (sws *serverWatchStream) sendLoop() {
	announced := make(map[store.WatchID]bool)
	pending := make(map[store.WatchID][]store.WatchResponse)
	interval := sws.s.progressNotifyInterval()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()

	// deferred: a progress request waits until every watcher of the stream
	// is synced, so the watermark it reports is never ahead of events still
	// to be replayed (etcd: deferredProgress). It is retried after every
	// response AND every progressRetry: a watcher can catch up without
	// sending anything (its replayed history had no event for it), and then
	// no response would ever come to retry it and the client would wait
	// forever (TestWatchProgressRequestWhileCatchingUp).
	deferred := false
	retry := time.NewTicker(progressRetry)
	retry.Stop()
	defer retry.Stop()
	progressAll := func() {
		if deferred && sws.ws.RequestProgressAll() {
			deferred = false
			retry.Stop()
		}
	}
	for {
		select {
		case wr, ok := <-sws.ws.Chan():
			if !ok {
				return
			}
			if wr.WatchID != store.ProgressAllID && !announced[wr.WatchID] {
				pending[wr.WatchID] = append(pending[wr.WatchID], wr)
				continue
			}
			if !sws.send(wr) {
				return
			}
			progressAll()
		case <-sws.progressReq:
			if !deferred {
				deferred = true
				retry.Reset(progressRetry)
				progressAll()
			}
		case <-retry.C:
			progressAll()
		case c := <-sws.ctrl:
			if err := sws.grpc.Send(c); err != nil {
				return
			}
			id := store.WatchID(c.WatchId)
			switch {
			case c.Created && !c.Canceled:
				announced[id] = true
				for _, wr := range pending[id] {
					if !sws.send(wr) {
						return
					}
				}
				delete(pending, id)
				progressAll()
			case c.Canceled:
				delete(announced, id)
				delete(pending, id)
			}
		case <-ticker.C:
			sws.mu.Lock()
			var idle []store.WatchID
			for id, quiet := range sws.progress {
				if quiet {
					idle = append(idle, id)
				}
				sws.progress[id] = true
			}
			sws.mu.Unlock()
			for _, id := range idle {
				sws.ws.RequestProgress(id)
			}
		case <-sws.closec:
			return
		}
	}
}

// send turns one store response into one or more gRPC messages.
func (sws *serverWatchStream) send(wr store.WatchResponse) bool {
	sws.mu.Lock()
	prevKV, fragment := sws.prevKV[wr.WatchID], sws.fragment[wr.WatchID]
	if _, ok := sws.progress[wr.WatchID]; ok && len(wr.Events) > 0 {
		sws.progress[wr.WatchID] = false
	}
	sws.mu.Unlock()

	evs := wr.Events
	if prevKV && len(evs) > 0 {
		evs = sws.withPrevKV(evs)
	}
	resp := &pb.WatchResponse{
		Header:          sws.header(wr.Revision),
		WatchId:         int64(wr.WatchID),
		Events:          evs,
		CompactRevision: wr.CompactRevision,
		// A compaction notice ends the watcher (etcd sets Canceled for it).
		Canceled: wr.CompactRevision != 0,
	}
	_, span := tracer().Start(sws.grpc.Context(), SpanWatchDeliver, trace.WithAttributes(
		attribute.Int64("watch.id", int64(wr.WatchID)), attribute.Int("watch.events", len(evs)),
		attribute.Int64("kv.revision", wr.Revision), attribute.Int64("watch.compact_revision", wr.CompactRevision),
		attribute.String("kv.member", sws.s.name)))
	ok := sws.sendResp(resp, fragment)
	span.End()
	return ok
}

// withPrevKV returns copies of evs carrying the previous version of each
// key, read at the revision before the event (etcd: sendLoop reads it the
// same way). The store's events are shared and stay unmodified.
func (sws *serverWatchStream) withPrevKV(evs []*mvccpb.Event) []*mvccpb.Event {
	out := make([]*mvccpb.Event, len(evs))
	rv := sws.s.store.Read()
	defer rv.End()
	for i, ev := range evs {
		cp := &mvccpb.Event{Type: ev.Type, Kv: ev.Kv}
		if rr, err := rv.Range(ev.Kv.Key, nil, store.RangeOptions{Rev: ev.Kv.ModRevision - 1}); err == nil && len(rr.KVs) == 1 {
			cp.PrevKv = rr.KVs[0]
		}
		out[i] = cp
	}
	return out
}

// sendResp sends resp, split into fragments under the request size limit
// when the watcher asked for fragment (etcd: sendFragments). Every
// fragment but the last has Fragment set; a single event is never split.
func (sws *serverWatchStream) sendResp(resp *pb.WatchResponse, fragment bool) bool {
	limit := sws.s.limits.MaxRequestBytes
	if !fragment || len(resp.Events) < 2 || proto.Size(resp) <= limit {
		return sws.grpc.Send(resp) == nil
	}
	evs := resp.Events
	for len(evs) > 0 {
		part := proto.Clone(resp).(*pb.WatchResponse)
		part.Events = nil
		size := proto.Size(part)
		n := 0
		for n < len(evs) {
			es := proto.Size(evs[n]) + 8
			if n > 0 && size+es > limit {
				break
			}
			size += es
			n++
		}
		part.Events = evs[:n]
		evs = evs[n:]
		part.Fragment = len(evs) > 0
		if sws.grpc.Send(part) != nil {
			return false
		}
	}
	return true
}
