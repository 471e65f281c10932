package apply

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/kvtrace/kvtrace/internal/store"
)

// checkLease rejects a put naming a lease that does not exist, as etcd
// does (txn.checkLease, server/etcdserver/txn/put.go).
func (a *Applier) checkLease(lease int64) error {
	if lease != 0 && !a.lessor.Exists(lease) {
		return rpctypes.ErrGRPCLeaseNotFound
	}
	return nil
}

// prevKV reads the key a put is about to overwrite, when the request needs
// it. It fails with ErrGRPCKeyNotFound if ignore_value or ignore_lease is
// set and the key does not exist (etcd: checkAndGetPrevKV).
func prevKV(rv store.TxnRead, p *pb.PutRequest) (*mvccpb.KeyValue, error) {
	if !p.GetIgnoreValue() && !p.GetIgnoreLease() && !p.GetPrevKv() {
		return nil, nil
	}
	rr, err := rv.Range(p.GetKey(), nil, store.RangeOptions{})
	if err != nil {
		return nil, err
	}
	var prev *mvccpb.KeyValue
	if len(rr.KVs) > 0 {
		prev = rr.KVs[0]
	}
	if prev == nil && (p.GetIgnoreValue() || p.GetIgnoreLease()) {
		return nil, rpctypes.ErrGRPCKeyNotFound
	}
	return prev, nil
}

// checkPut does every check of put that can fail, without writing.
func (a *Applier) checkPut(rv store.TxnRead, p *pb.PutRequest) error {
	if err := a.checkLease(p.GetLease()); err != nil {
		return err
	}
	_, err := prevKV(rv, p)
	return err
}

// put applies a PutRequest (etcd: txn.Put / txn.put).
func (a *Applier) put(tw store.TxnWrite, p *pb.PutRequest) (*pb.PutResponse, error) {
	if err := a.checkLease(p.GetLease()); err != nil {
		return nil, err
	}
	prev, err := prevKV(tw, p)
	if err != nil {
		return nil, err
	}
	val, lease := p.GetValue(), p.GetLease()
	if p.GetIgnoreValue() {
		val = prev.Value
	}
	if p.GetIgnoreLease() {
		lease = prev.Lease
	}
	resp := &pb.PutResponse{Header: &pb.ResponseHeader{}}
	if p.GetPrevKv() && prev != nil {
		resp.PrevKv = prev
	}
	resp.Header.Revision = tw.Put(p.GetKey(), val, lease)
	return resp, nil
}

// deleteRange applies a DeleteRangeRequest (etcd: txn.deleteRange).
func deleteRange(tw store.TxnWrite, d *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	resp := &pb.DeleteRangeResponse{Header: &pb.ResponseHeader{}}
	if d.GetPrevKv() {
		rr, err := tw.Range(d.GetKey(), d.GetRangeEnd(), store.RangeOptions{})
		if err != nil {
			return nil, err
		}
		resp.PrevKvs = rr.KVs
	}
	resp.Deleted, resp.Header.Revision = tw.DeleteRange(d.GetKey(), d.GetRangeEnd())
	return resp, nil
}
