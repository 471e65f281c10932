package server

import (
	"context"
	"slices"
	"sort"
	"sync"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/kvtrace/kvtrace/instrument"
	"github.com/kvtrace/kvtrace/internal/apply"
	"github.com/kvtrace/kvtrace/internal/store"
)

// serverTracer records the propose and bbolt.commit spans of
// docs/spans.md. The zero value is off and costs a branch per call.
type serverTracer struct {
	on bool
	tr trace.Tracer

	// mu guards pending: traced entries applied into the open batch tx,
	// appended by the apply goroutine, taken by the bbolt commit hook.
	mu      sync.Mutex
	pending []durable
}

type durable struct {
	index uint64
	sc    trace.SpanContext
}

// SetTracer turns tracing on and hooks the store's batch commits. Call it
// before the node starts.
func (s *Server) SetTracer(tr trace.Tracer) {
	s.trace = &serverTracer{on: tr != nil, tr: tr}
	if tr != nil {
		s.store.SetHooks(store.Hooks{OnBatchCommit: s.trace.batchCommitted})
	}
}

// base returns an empty attribute list with room for a span's own. The
// member is named by the resource (service.instance.id, kv.member_id), not
// by each span (docs/spans.md).
func (t *serverTracer) base() []attribute.KeyValue {
	return make([]attribute.KeyValue, 0, 8)
}

// opAndKey names the request for the write list of the tracer.
func opAndKey(r *pb.InternalRaftRequest) (string, []byte) {
	switch {
	case r.Put != nil:
		return "put", r.Put.Key
	case r.DeleteRange != nil:
		return "delete_range", r.DeleteRange.Key
	case r.Txn != nil:
		for _, ops := range [][]*pb.RequestOp{r.Txn.Success, r.Txn.Failure} {
			for _, op := range ops {
				switch {
				case op.GetRequestPut() != nil:
					return "txn", op.GetRequestPut().Key
				case op.GetRequestDeleteRange() != nil:
					return "txn", op.GetRequestDeleteRange().Key
				case op.GetRequestRange() != nil:
					return "txn", op.GetRequestRange().Key
				}
			}
		}
		return "txn", nil
	case r.Compaction != nil:
		return "compact", nil
	}
	return "other", nil
}

// propose starts raft.propose under the gRPC span in ctx and returns the
// entry data with the span's context appended. end records the outcome.
func (t *serverTracer) propose(ctx context.Context, id uint64, r *pb.InternalRaftRequest, data []byte) (context.Context, []byte, func(any, error)) {
	if !t.on {
		return ctx, data, func(any, error) {}
	}
	op, key := opAndKey(r)
	attrs := append(t.base(),
		instrument.AttrOp.String(op),
		instrument.AttrKey.String(string(key)),
		instrument.AttrRequestID.String(instrument.HexID(id)),
		instrument.AttrBytes.Int(len(data)),
	)
	rpc := trace.SpanFromContext(ctx)
	rpc.SetAttributes(attrs...)
	ctx, span := t.tr.Start(ctx, instrument.Propose, trace.WithAttributes(attrs...))
	data = instrument.AppendEntryContext(data, span.SpanContext())
	return ctx, data, func(v any, err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		if res, ok := v.(*apply.Result); ok && res != nil && res.Resp != nil {
			if h := respHeader(res.Resp); h != nil {
				rev := instrument.AttrRevision.Int64(h.Revision)
				span.SetAttributes(rev)
				rpc.SetAttributes(rev)
			}
		}
		span.End()
	}
}

func respHeader(m any) *pb.ResponseHeader {
	switch r := m.(type) {
	case *pb.PutResponse:
		return r.Header
	case *pb.DeleteRangeResponse:
		return r.Header
	case *pb.TxnResponse:
		return r.Header
	case *pb.CompactionResponse:
		return r.Header
	}
	return nil
}

// applying tells the member what its apply span for this entry should say
// (instrument.ApplyNote in ctx): op, key and request id now, the revision
// and any error when end runs. It remembers the entry until a bbolt commit
// makes it durable. (The MVCC write used to be a child span, mvcc.write; it
// said nothing apply does not, at one span per entry per member.)
func (t *serverTracer) applying(ctx context.Context, index uint64, r *pb.InternalRaftRequest) func(*apply.Result) {
	if !t.on {
		return func(*apply.Result) {}
	}
	note := instrument.ApplyNoteFrom(ctx)
	if note == nil {
		return func(*apply.Result) {}
	}
	op, key := opAndKey(r)
	note.Op, note.Key, note.RequestID = op, string(key), instrument.HexID(r.GetHeader().GetID())
	// Remember the entry BEFORE its write enters the batch tx, so the commit
	// that makes it durable cannot run before it is listed (the hook only
	// takes entries with index <= the commit's LastIndex).
	t.mu.Lock()
	t.pending = append(t.pending, durable{index, note.SC})
	t.mu.Unlock()
	return func(res *apply.Result) {
		if res != nil && res.Resp != nil {
			if h := respHeader(res.Resp); h != nil {
				note.Revision = h.Revision
			}
		}
		if res != nil && res.Err != nil {
			note.Err = res.Err.Error()
		}
	}
}

// batchCommitted is the store's OnBatchCommit hook: one bbolt.commit span,
// linked to every traced entry whose writes this commit made durable (or,
// beyond instrument.MaxLinks entries, one span per chunk of them, each
// saying which part of how many it is).
func (t *serverTracer) batchCommitted(info store.CommitInfo) {
	t.mu.Lock()
	i := sort.Search(len(t.pending), func(i int) bool { return t.pending[i].index > info.LastIndex })
	carried := t.pending[:i:i]
	t.pending = append([]durable(nil), t.pending[i:]...)
	t.mu.Unlock()
	if len(carried) == 0 {
		return
	}
	attrs := append(t.base(),
		instrument.AttrFirstIndex.Int64(int64(info.FirstIndex)),
		instrument.AttrLastIndex.Int64(int64(info.LastIndex)),
		instrument.AttrBboltOps.Int(info.Ops),
		instrument.AttrBytes.Int(info.Bytes))
	parts, part := instrument.LinkParts(len(carried)), 0
	for chunk := range slices.Chunk(carried, instrument.MaxLinks) {
		part++
		links := make([]trace.Link, 0, len(chunk))
		for _, d := range chunk {
			links = append(links, trace.Link{SpanContext: d.sc}) // no attributes: see node.links
		}
		ctx := trace.ContextWithRemoteSpanContext(context.Background(), chunk[0].sc)
		_, span := t.tr.Start(ctx, instrument.BackendCommit, trace.WithTimestamp(info.Start), trace.WithLinks(links...),
			trace.WithAttributes(instrument.WithPart(attrs, part, parts)...))
		span.End(trace.WithTimestamp(info.Start.Add(info.Duration)))
	}
}
