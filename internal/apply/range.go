package apply

import (
	"bytes"
	"cmp"
	"slices"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/kvtrace/kvtrace/internal/store"
)

// executeRange runs a RangeRequest against a store view, like etcd's
// txn.executeRange (server/etcdserver/txn/range.go): fetch, filter by
// revision, sort, then cut at the limit and set More.
func executeRange(rv store.TxnRead, r *pb.RangeRequest) (*pb.RangeResponse, error) {
	ro := store.RangeOptions{
		Limit:    storeLimit(r),
		Rev:      r.GetRevision(),
		Count:    r.GetCountOnly(),
		KeysOnly: r.GetKeysOnly() && r.GetSortTarget() != pb.RangeRequest_VALUE,
	}
	rr, err := rv.Range(r.GetKey(), r.GetRangeEnd(), ro)
	if err != nil {
		return nil, err
	}
	kvs := filterByRevision(rr.KVs, r)
	sortKVs(kvs, r)
	resp := &pb.RangeResponse{
		Header: &pb.ResponseHeader{Revision: rr.Rev},
		// As in etcd, Count is the number of keys in the range before the
		// revision filters.
		Count: int64(rr.Count),
	}
	if r.GetLimit() > 0 && int64(len(kvs)) > r.GetLimit() {
		kvs = kvs[:r.GetLimit()]
		resp.More = true
	}
	if r.GetKeysOnly() {
		for _, kv := range kvs {
			kv.Value = nil
		}
	}
	resp.Kvs = kvs
	return resp, nil
}

// storeLimit is how many kvs to fetch: one more than asked, to learn
// whether there are more, unless sorting or filtering needs them all.
func storeLimit(r *pb.RangeRequest) int64 {
	if !defaultOrdering(r) || hasRevisionFilters(r) {
		return 0
	}
	if l := r.GetLimit(); l > 0 {
		return l + 1
	}
	return 0
}

// defaultOrdering: the store already returns keys in ascending order.
func defaultOrdering(r *pb.RangeRequest) bool {
	return r.GetSortOrder() == pb.RangeRequest_NONE ||
		(r.GetSortTarget() == pb.RangeRequest_KEY && r.GetSortOrder() == pb.RangeRequest_ASCEND)
}

func hasRevisionFilters(r *pb.RangeRequest) bool {
	return r.GetMinModRevision() != 0 || r.GetMaxModRevision() != 0 ||
		r.GetMinCreateRevision() != 0 || r.GetMaxCreateRevision() != 0
}

func filterByRevision(kvs []*mvccpb.KeyValue, r *pb.RangeRequest) []*mvccpb.KeyValue {
	if !hasRevisionFilters(r) {
		return kvs
	}
	return slices.DeleteFunc(kvs, func(kv *mvccpb.KeyValue) bool {
		return (r.GetMinModRevision() != 0 && kv.ModRevision < r.GetMinModRevision()) ||
			(r.GetMaxModRevision() != 0 && kv.ModRevision > r.GetMaxModRevision()) ||
			(r.GetMinCreateRevision() != 0 && kv.CreateRevision < r.GetMinCreateRevision()) ||
			(r.GetMaxCreateRevision() != 0 && kv.CreateRevision > r.GetMaxCreateRevision())
	})
}

// sortKVs sorts by the requested target. A target other than KEY with order
// NONE means ascending, as in etcd. The sort is stable, so equal targets
// stay in key order.
func sortKVs(kvs []*mvccpb.KeyValue, r *pb.RangeRequest) {
	order := r.GetSortOrder()
	if r.GetSortTarget() != pb.RangeRequest_KEY && order == pb.RangeRequest_NONE {
		order = pb.RangeRequest_ASCEND
	}
	if order == pb.RangeRequest_NONE ||
		(r.GetSortTarget() == pb.RangeRequest_KEY && order == pb.RangeRequest_ASCEND) {
		return
	}
	var by func(a, b *mvccpb.KeyValue) int
	switch r.GetSortTarget() {
	case pb.RangeRequest_KEY:
		by = func(a, b *mvccpb.KeyValue) int { return bytes.Compare(a.Key, b.Key) }
	case pb.RangeRequest_VERSION:
		by = func(a, b *mvccpb.KeyValue) int { return cmp.Compare(a.Version, b.Version) }
	case pb.RangeRequest_CREATE:
		by = func(a, b *mvccpb.KeyValue) int { return cmp.Compare(a.CreateRevision, b.CreateRevision) }
	case pb.RangeRequest_MOD:
		by = func(a, b *mvccpb.KeyValue) int { return cmp.Compare(a.ModRevision, b.ModRevision) }
	case pb.RangeRequest_VALUE:
		by = func(a, b *mvccpb.KeyValue) int { return bytes.Compare(a.Value, b.Value) }
	default:
		return // rejected by CheckRangeRequest
	}
	if order == pb.RangeRequest_DESCEND {
		asc := by
		by = func(a, b *mvccpb.KeyValue) int { return asc(b, a) }
	}
	slices.SortStableFunc(kvs, by)
}
