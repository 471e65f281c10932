package apply

import (
	"errors"
	"io"
	"log/slog"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

func (h *harness) grant(id int64) {
	h.t.Helper()
	if res := h.apply(&pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{ID: id, TTL: 60}}); res.Err != nil {
		h.t.Fatalf("grant %d: %v", id, res.Err)
	}
}

// TestLeaseRevokeDeletesKeysInOneRevision: a revoke deletes every attached
// key in one txn; keys moved to another lease or deleted are not touched.
func TestLeaseRevokeDeletesKeysInOneRevision(t *testing.T) {
	h := newHarness(t)
	h.grant(1)
	h.grant(2)
	for _, k := range []string{"a", "b", "c", "moved", "gone"} {
		h.apply(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(k), Value: []byte("v"), Lease: 1}})
	}
	h.apply(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("moved"), Value: []byte("v"), Lease: 2}})
	h.apply(&pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("gone")}})
	before := h.s.Rev()
	res := h.apply(&pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: 1}})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if rev := res.Resp.(*pb.LeaseRevokeResponse).Header.Revision; rev != before+1 {
		t.Fatalf("revoke at revision %d, want %d (one txn)", rev, before+1)
	}
	rr := h.rng(&pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}})
	if len(rr.Kvs) != 1 || string(rr.Kvs[0].Key) != "moved" {
		t.Fatalf("after revoke: %v", rr.Kvs)
	}
	if res := h.apply(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("x"), Lease: 1}}); !errors.Is(res.Err, rpctypes.ErrGRPCLeaseNotFound) {
		t.Fatalf("put with revoked lease: %v", res.Err)
	}
	if res := h.apply(&pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{ID: 2, TTL: 5}}); !errors.Is(res.Err, rpctypes.ErrGRPCLeaseExist) {
		t.Fatalf("duplicate grant: %v", res.Err)
	}

	// A fresh applier over the same store recovers lease 2 and its key.
	lg := slog.New(slog.NewTextHandler(io.Discard, nil))
	a2 := New(h.s, lg)
	if keys, ok := a2.Lessor().Keys(2); !ok || len(keys) != 1 || keys[0] != "moved" {
		t.Fatalf("recovered lease 2: %v %v", keys, ok)
	}
	if a2.Lessor().Exists(1) {
		t.Fatal("revoked lease 1 recovered")
	}
}
