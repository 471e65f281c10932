package apply

import (
	"errors"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/kvtrace/kvtrace/internal/lease"
	"github.com/kvtrace/kvtrace/internal/store"
)

// Lessor returns the lease table this applier keeps (internal/lease).
func (a *Applier) Lessor() *lease.Lessor { return a.lessor }

// leaseGrant applies a LeaseGrant entry: the lease enters the table and the
// `lease` bucket in the same store txn (etcd: applierV3backend.LeaseGrant).
func (a *Applier) leaseGrant(tw store.TxnWrite, r *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error) {
	l, err := a.lessor.Grant(r.GetID(), r.GetTTL())
	if err != nil {
		return nil, leaseError(err)
	}
	tw.PutLease(store.LeaseRecord{ID: l.ID, TTL: l.TTL})
	return &pb.LeaseGrantResponse{Header: &pb.ResponseHeader{Revision: tw.Rev()}, ID: l.ID, TTL: l.TTL}, nil
}

// leaseRevoke applies a LeaseRevoke entry, whether a client asked for it or
// the leader's lessor found the lease expired: the attached keys are deleted
// in sorted order and the lease leaves the bucket, all in ONE store txn, so
// every member deletes the same keys at the same revision and a crash
// leaves either all of it or none (etcd: lessor.Revoke).
func (a *Applier) leaseRevoke(tw store.TxnWrite, r *pb.LeaseRevokeRequest) (*pb.LeaseRevokeResponse, error) {
	keys, ok := a.lessor.Keys(r.GetID())
	if !ok {
		return nil, rpctypes.ErrGRPCLeaseNotFound
	}
	for _, k := range keys {
		tw.DeleteRange([]byte(k), nil)
	}
	tw.DeleteLease(r.GetID())
	// AFTER the deletes: ApplyChanges then finds the keys already detached.
	a.lessor.Remove(r.GetID())
	return &pb.LeaseRevokeResponse{Header: &pb.ResponseHeader{Revision: txnRev(tw)}}, nil
}

func leaseError(err error) error {
	switch {
	case errors.Is(err, lease.ErrLeaseNotFound):
		return rpctypes.ErrGRPCLeaseNotFound
	case errors.Is(err, lease.ErrLeaseExists):
		return rpctypes.ErrGRPCLeaseExist
	case errors.Is(err, lease.ErrLeaseTTLTooLarge):
		return rpctypes.ErrGRPCLeaseTTLTooLarge
	}
	return err
}
