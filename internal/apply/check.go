package apply

import (
	"bytes"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// Request validation done BEFORE proposing, as etcd's gRPC layer does
// (server/etcdserver/api/v3rpc/key.go: checkRangeRequest, checkPutRequest,
// checkDeleteRequest, checkTxnRequest, checkIntervals). Checks that need
// the store's state (ignore_value on a missing key, compacted revisions)
// happen at apply time instead.

// CheckRangeRequest validates a RangeRequest.
func CheckRangeRequest(r *pb.RangeRequest) error {
	if len(r.GetKey()) == 0 {
		return rpctypes.ErrGRPCEmptyKey
	}
	if _, ok := pb.RangeRequest_SortOrder_name[int32(r.GetSortOrder())]; !ok {
		return rpctypes.ErrGRPCInvalidSortOption
	}
	if _, ok := pb.RangeRequest_SortTarget_name[int32(r.GetSortTarget())]; !ok {
		return rpctypes.ErrGRPCInvalidSortOption
	}
	return nil
}

// CheckPutRequest validates a PutRequest.
func CheckPutRequest(r *pb.PutRequest) error {
	if len(r.GetKey()) == 0 {
		return rpctypes.ErrGRPCEmptyKey
	}
	if r.GetIgnoreValue() && len(r.GetValue()) != 0 {
		return rpctypes.ErrGRPCValueProvided
	}
	if r.GetIgnoreLease() && r.GetLease() != 0 {
		return rpctypes.ErrGRPCLeaseProvided
	}
	return nil
}

// CheckDeleteRequest validates a DeleteRangeRequest.
func CheckDeleteRequest(r *pb.DeleteRangeRequest) error {
	if len(r.GetKey()) == 0 {
		return rpctypes.ErrGRPCEmptyKey
	}
	return nil
}

// CheckTxnRequest validates a TxnRequest: op counts against maxTxnOps, every
// nested request, and that no key is written twice on any path through the
// txn (ErrGRPCDuplicateKey).
func CheckTxnRequest(r *pb.TxnRequest, maxTxnOps int) error {
	if err := checkTxnShape(r, maxTxnOps); err != nil {
		return err
	}
	// AFTER the shape check, which bounds the work done here.
	if _, _, err := checkOverlaps(r.GetSuccess()); err != nil {
		return err
	}
	if _, _, err := checkOverlaps(r.GetFailure()); err != nil {
		return err
	}
	return nil
}

func checkTxnShape(r *pb.TxnRequest, maxTxnOps int) error {
	n := max(len(r.GetCompare()), len(r.GetSuccess()), len(r.GetFailure()))
	if n > maxTxnOps {
		return rpctypes.ErrGRPCTooManyOps
	}
	for _, c := range r.GetCompare() {
		if len(c.GetKey()) == 0 {
			return rpctypes.ErrGRPCEmptyKey
		}
	}
	for _, ops := range [][]*pb.RequestOp{r.GetSuccess(), r.GetFailure()} {
		for _, op := range ops {
			if err := checkRequestOp(op, maxTxnOps-n); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkRequestOp(op *pb.RequestOp, maxTxnOps int) error {
	switch {
	case op.GetRequestRange() != nil:
		return CheckRangeRequest(op.GetRequestRange())
	case op.GetRequestPut() != nil:
		return CheckPutRequest(op.GetRequestPut())
	case op.GetRequestDeleteRange() != nil:
		return CheckDeleteRequest(op.GetRequestDeleteRange())
	case op.GetRequestTxn() != nil:
		return checkTxnShape(op.GetRequestTxn(), maxTxnOps)
	default:
		return rpctypes.ErrGRPCKeyNotFound // empty op, as etcd answers
	}
}

// keyInterval is a delete's key range: [start, end), [start, +inf) when
// toEnd, or the single key start when point.
type keyInterval struct {
	start, end []byte
	point      bool
	toEnd      bool
}

func intervalOf(key, end []byte) keyInterval {
	switch {
	case len(end) == 0:
		return keyInterval{start: key, point: true}
	case len(end) == 1 && end[0] == 0:
		return keyInterval{start: key, toEnd: true}
	default:
		return keyInterval{start: key, end: end}
	}
}

func (iv keyInterval) contains(k []byte) bool {
	switch {
	case iv.point:
		return bytes.Equal(iv.start, k)
	case iv.toEnd:
		return bytes.Compare(k, iv.start) >= 0
	default:
		return bytes.Compare(k, iv.start) >= 0 && bytes.Compare(k, iv.end) < 0
	}
}

func covered(dels []keyInterval, k []byte) bool {
	for _, d := range dels {
		if d.contains(k) {
			return true
		}
	}
	return false
}

// checkOverlaps returns the keys put and the ranges deleted by ops (and the
// txns nested in them), or ErrGRPCDuplicateKey if one path through them
// writes a key twice. The two branches of a nested txn are exclusive, so
// they may put the same key. Same rules as etcd's checkIntervals, with
// a linear scan instead of an interval tree (ops are bounded by maxTxnOps).
// Unlike etcd, a range_end of "\x00" counts as "to the end of the keyspace".
func checkOverlaps(ops []*pb.RequestOp) (map[string]struct{}, []keyInterval, error) {
	var dels []keyInterval
	for _, op := range ops {
		if d := op.GetRequestDeleteRange(); d != nil {
			dels = append(dels, intervalOf(d.GetKey(), d.GetRangeEnd()))
		}
	}
	puts := make(map[string]struct{})
	for _, op := range ops {
		t := op.GetRequestTxn()
		if t == nil {
			continue
		}
		thenPuts, thenDels, err := checkOverlaps(t.GetSuccess())
		if err != nil {
			return nil, nil, err
		}
		elsePuts, elseDels, err := checkOverlaps(t.GetFailure())
		if err != nil {
			return nil, nil, err
		}
		for k := range thenPuts {
			if _, dup := puts[k]; dup || covered(dels, []byte(k)) {
				return nil, nil, rpctypes.ErrGRPCDuplicateKey
			}
			puts[k] = struct{}{}
		}
		for k := range elsePuts {
			_, dup := puts[k]
			_, sameTxnThen := thenPuts[k]
			if (dup && !sameTxnThen) || covered(dels, []byte(k)) {
				return nil, nil, rpctypes.ErrGRPCDuplicateKey
			}
			puts[k] = struct{}{}
		}
		dels = append(append(dels, thenDels...), elseDels...)
	}
	for _, op := range ops {
		p := op.GetRequestPut()
		if p == nil {
			continue
		}
		k := string(p.GetKey())
		if _, dup := puts[k]; dup || covered(dels, p.GetKey()) {
			return nil, nil, rpctypes.ErrGRPCDuplicateKey
		}
		puts[k] = struct{}{}
	}
	return puts, dels, nil
}
