package apply

import (
	"errors"
	"fmt"
	"log/slog"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/protobuf/proto"

	"github.com/kvtrace/kvtrace/internal/lease"
	"github.com/kvtrace/kvtrace/internal/store"
)

// ErrUnsupported answers raft requests this package does not handle yet
// (lease checkpoints, auth, alarms, membership).
var ErrUnsupported = errors.New("apply: request type not supported")

// Applier turns committed etcd requests into store operations.
type Applier struct {
	s      *store.Store
	lg     *slog.Logger
	lessor *lease.Lessor
}

// New returns an Applier writing into s, with a lessor recovered from s.
// A store whose leases cannot be read is unusable: New panics.
func New(s *store.Store, lg *slog.Logger) *Applier {
	if lg == nil {
		lg = slog.Default()
	}
	le := lease.New(lg.With("component", "lessor"), 1)
	if err := le.Recover(s); err != nil {
		lg.Error("apply: recovering leases from the store failed", "err", err)
		panic(fmt.Sprintf("apply: recovering leases from the store failed: %v", err))
	}
	return &Applier{s: s, lg: lg, lessor: le}
}

// Result is the outcome of applying one entry. Resp is one of
// *etcdserverpb.PutResponse, RangeResponse, DeleteRangeResponse,
// TxnResponse or CompactionResponse; its header carries only Revision.
type Result struct {
	Resp proto.Message
	Err  error
}

// Apply applies the committed raft entry (index, term) carrying r, in one
// store write txn. The store records index as applied even when the request
// fails, so a failed request is not re-applied after a restart. It MUST be
// called from the apply loop only, once per entry, in index order.
//
// A physical compaction blocks until the compaction is done, so it stalls
// the apply loop for that long (etcd waits in the gRPC handler instead).
func (a *Applier) Apply(index, term uint64, r *pb.InternalRaftRequest) *Result {
	if c := r.GetCompaction(); c != nil {
		return a.compact(index, term, c)
	}
	tw := a.s.Write(index, term)
	defer tw.End()
	var res Result
	switch {
	case r.GetRange() != nil:
		resp, err := executeRange(tw, r.GetRange())
		res = result(resp, err)
	case r.GetPut() != nil:
		resp, err := a.put(tw, r.GetPut())
		res = result(resp, err)
	case r.GetDeleteRange() != nil:
		resp, err := deleteRange(tw, r.GetDeleteRange())
		res = result(resp, err)
	case r.GetTxn() != nil:
		resp, err := a.txn(tw, r.GetTxn())
		res = result(resp, err)
	case r.GetLeaseGrant() != nil:
		resp, err := a.leaseGrant(tw, r.GetLeaseGrant())
		res = result(resp, err)
	case r.GetLeaseRevoke() != nil:
		resp, err := a.leaseRevoke(tw, r.GetLeaseRevoke())
		res = result(resp, err)
	default:
		res = Result{Err: ErrUnsupported}
	}
	// Attach and detach keys to leases from what the request changed,
	// BEFORE tw.End publishes the revision.
	a.lessor.ApplyChanges(tw.Changes())
	return &res
}

// result builds a Result without storing a typed nil response.
func result[M proto.Message](resp M, err error) Result {
	if err != nil {
		return Result{Err: toGRPCError(err)}
	}
	return Result{Resp: resp}
}

func (a *Applier) compact(index, term uint64, c *pb.CompactionRequest) *Result {
	done, err := a.s.Compact(index, term, c.GetRevision())
	if err != nil {
		return &Result{Err: toGRPCError(err)}
	}
	if c.GetPhysical() {
		<-done // the store closes it when the deletes are committed, or on Close
	}
	return &Result{Resp: &pb.CompactionResponse{Header: &pb.ResponseHeader{Revision: a.s.Rev()}}}
}

// Range serves a read without raft: serializable, or linearizable once the
// caller has waited for ReadIndex to be applied.
func (a *Applier) Range(r *pb.RangeRequest) (*pb.RangeResponse, error) {
	rv := a.s.Read()
	defer rv.End()
	resp, err := executeRange(rv, r)
	if err != nil {
		return nil, toGRPCError(err)
	}
	return resp, nil
}

// toGRPCError maps store errors to the errors etcd clients expect.
func toGRPCError(err error) error {
	switch {
	case errors.Is(err, store.ErrCompacted):
		return rpctypes.ErrGRPCCompacted
	case errors.Is(err, store.ErrFutureRev):
		return rpctypes.ErrGRPCFutureRev
	default:
		return err
	}
}
