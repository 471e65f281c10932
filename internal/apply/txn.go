package apply

import (
	"bytes"
	"cmp"
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/kvtrace/kvtrace/internal/store"
)

// txnPlan is the branch a txn takes, decided for it and for every nested
// txn on that branch BEFORE any op runs: all compares of a txn, nested ones
// included, see the state before the txn (etcd: compareToPath, which keeps
// the same decisions as a flattened []bool).
type txnPlan struct {
	succeeded bool
	ops       []*pb.RequestOp
	nested    map[int]*txnPlan // by position in ops
}

func planTxn(rv store.TxnRead, rt *pb.TxnRequest) *txnPlan {
	p := &txnPlan{succeeded: compareAll(rv, rt.GetCompare())}
	p.ops = rt.GetSuccess()
	if !p.succeeded {
		p.ops = rt.GetFailure()
	}
	for i, op := range p.ops {
		if t := op.GetRequestTxn(); t != nil {
			if p.nested == nil {
				p.nested = make(map[int]*txnPlan)
			}
			p.nested[i] = planTxn(rv, t)
		}
	}
	return p
}

// checkPlan runs every check that could fail an op on the chosen path,
// BEFORE anything is written: a txn either applies whole or not at all
// (etcd: checkTxn).
func (a *Applier) checkPlan(rv store.TxnRead, p *txnPlan) error {
	for i, op := range p.ops {
		switch {
		case op.GetRequestRange() != nil:
			// A count at the requested revision fails exactly when the
			// range would (compacted or future revision).
			r := op.GetRequestRange()
			if _, err := rv.Range(r.GetKey(), nil, store.RangeOptions{Rev: r.GetRevision(), Count: true}); err != nil {
				return err
			}
		case op.GetRequestPut() != nil:
			if err := a.checkPut(rv, op.GetRequestPut()); err != nil {
				return err
			}
		case op.GetRequestTxn() != nil:
			if err := a.checkPlan(rv, p.nested[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// executePlan runs the ops of the chosen path in order inside tw, so later
// ops see earlier ones, and all writes share tw's revision.
func (a *Applier) executePlan(tw store.TxnWrite, p *txnPlan) (*pb.TxnResponse, error) {
	resp := &pb.TxnResponse{
		Header:    &pb.ResponseHeader{},
		Succeeded: p.succeeded,
		Responses: make([]*pb.ResponseOp, 0, len(p.ops)),
	}
	for i, op := range p.ops {
		var ro *pb.ResponseOp
		switch {
		case op.GetRequestRange() != nil:
			r, err := executeRange(tw, op.GetRequestRange())
			if err != nil {
				return nil, fmt.Errorf("txn range: %w", err)
			}
			ro = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseRange{ResponseRange: r}}
		case op.GetRequestPut() != nil:
			r, err := a.put(tw, op.GetRequestPut())
			if err != nil {
				return nil, fmt.Errorf("txn put: %w", err)
			}
			ro = &pb.ResponseOp{Response: &pb.ResponseOp_ResponsePut{ResponsePut: r}}
		case op.GetRequestDeleteRange() != nil:
			r, err := deleteRange(tw, op.GetRequestDeleteRange())
			if err != nil {
				return nil, fmt.Errorf("txn delete: %w", err)
			}
			ro = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseDeleteRange{ResponseDeleteRange: r}}
		case op.GetRequestTxn() != nil:
			// As in etcd, only the outermost header carries the revision.
			r, err := a.executePlan(tw, p.nested[i])
			if err != nil {
				return nil, err
			}
			ro = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseTxn{ResponseTxn: r}}
		default:
			ro = &pb.ResponseOp{} // empty op; CheckTxnRequest rejects these
		}
		resp.Responses = append(resp.Responses, ro)
	}
	return resp, nil
}

// txn applies a TxnRequest in the single write txn tw.
func (a *Applier) txn(tw store.TxnWrite, rt *pb.TxnRequest) (*pb.TxnResponse, error) {
	plan := planTxn(tw, rt)
	if err := a.checkPlan(tw, plan); err != nil {
		return nil, err
	}
	resp, err := a.executePlan(tw, plan)
	if err != nil {
		if len(tw.Changes()) > 0 {
			// The checks above should make this impossible. Some ops are
			// already written and cannot be undone; going on would let
			// members diverge (etcd panics here too, txn.txn).
			a.lg.Error("apply: txn failed after writing", "err", err)
			panic(fmt.Sprintf("apply: txn failed after writing: %v", err))
		}
		return nil, err
	}
	resp.Header.Revision = txnRev(tw)
	return resp, nil
}

// txnRev is the revision a client sees after tw: its own if it wrote.
func txnRev(tw store.TxnWrite) int64 {
	if len(tw.Changes()) > 0 {
		return tw.Rev() + 1
	}
	return tw.Rev()
}

func compareAll(rv store.TxnRead, cs []*pb.Compare) bool {
	for _, c := range cs {
		if !compareOne(rv, c) {
			return false
		}
	}
	return true
}

// compareOne holds if every key in the compare's range satisfies it. An
// empty range compares a zero KeyValue, except that a VALUE compare on a
// missing key always fails (etcd: applyCompare).
func compareOne(rv store.TxnRead, c *pb.Compare) bool {
	rr, err := rv.Range(c.GetKey(), c.GetRangeEnd(), store.RangeOptions{})
	if err != nil {
		return false
	}
	if len(rr.KVs) == 0 {
		if c.GetTarget() == pb.Compare_VALUE {
			return false
		}
		return compareKV(c, &mvccpb.KeyValue{})
	}
	for _, kv := range rr.KVs {
		if !compareKV(c, kv) {
			return false
		}
	}
	return true
}

func compareKV(c *pb.Compare, kv *mvccpb.KeyValue) bool {
	var r int
	switch c.GetTarget() {
	case pb.Compare_VALUE:
		r = bytes.Compare(kv.Value, c.GetValue())
	case pb.Compare_VERSION:
		r = cmp.Compare(kv.Version, c.GetVersion())
	case pb.Compare_CREATE:
		r = cmp.Compare(kv.CreateRevision, c.GetCreateRevision())
	case pb.Compare_MOD:
		r = cmp.Compare(kv.ModRevision, c.GetModRevision())
	case pb.Compare_LEASE:
		r = cmp.Compare(kv.Lease, c.GetLease())
	}
	switch c.GetResult() {
	case pb.Compare_EQUAL:
		return r == 0
	case pb.Compare_NOT_EQUAL:
		return r != 0
	case pb.Compare_GREATER:
		return r > 0
	case pb.Compare_LESS:
		return r < 0
	}
	return true
}
