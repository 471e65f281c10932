package apply

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/kvtrace/kvtrace/internal/store"
)

// harness applies requests at increasing raft indexes to a real store.
type harness struct {
	t     *testing.T
	s     *store.Store
	a     *Applier
	index uint64
}

func newHarness(t *testing.T) *harness {
	lg := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := store.Open(store.Config{Path: filepath.Join(t.TempDir(), "db"), Logger: lg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return &harness{t: t, s: s, a: New(s, lg)}
}

func (h *harness) apply(r *pb.InternalRaftRequest) *Result {
	h.index++
	return h.a.Apply(h.index, 1, r)
}

func (h *harness) put(key, val string) *pb.PutResponse {
	h.t.Helper()
	res := h.apply(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(key), Value: []byte(val)}})
	if res.Err != nil {
		h.t.Fatal(res.Err)
	}
	return res.Resp.(*pb.PutResponse)
}

func (h *harness) txn(rt *pb.TxnRequest) (*pb.TxnResponse, error) {
	h.t.Helper()
	res := h.apply(&pb.InternalRaftRequest{Txn: rt})
	if res.Err != nil {
		return nil, res.Err
	}
	return res.Resp.(*pb.TxnResponse), nil
}

func (h *harness) rng(r *pb.RangeRequest) *pb.RangeResponse {
	h.t.Helper()
	resp, err := h.a.Range(r)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp
}

func keys(kvs []*mvccpb.KeyValue) string {
	var s []string
	for _, kv := range kvs {
		s = append(s, string(kv.Key))
	}
	return strings.Join(s, ",")
}

func opPut(k, v string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(k), Value: []byte(v)}}}
}
func opGet(k string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte(k)}}}
}
func opDel(k, end string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte(k), RangeEnd: []byte(end)}}}
}
func opTxn(t *pb.TxnRequest) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: t}}
}

func TestPutPrevKVIgnoreValueIgnoreLease(t *testing.T) {
	h := newHarness(t)
	h.grant(42)
	h.grant(7)
	res := h.apply(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("k"), Value: []byte("v1"), Lease: 42, PrevKv: true}})
	if r := res.Resp.(*pb.PutResponse); res.Err != nil || r.PrevKv != nil || r.Header.Revision != 2 {
		t.Fatalf("first put: %v %v", r, res.Err)
	}
	res = h.apply(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("k"), IgnoreValue: true, Lease: 7, PrevKv: true}})
	r := res.Resp.(*pb.PutResponse)
	if res.Err != nil || string(r.PrevKv.Value) != "v1" || r.PrevKv.Lease != 42 || r.Header.Revision != 3 {
		t.Fatalf("ignore_value put: %v %v", r, res.Err)
	}
	h.apply(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("k"), Value: []byte("v2"), IgnoreLease: true}})
	kv := h.rng(&pb.RangeRequest{Key: []byte("k")}).Kvs[0]
	if string(kv.Value) != "v2" || kv.Lease != 7 || kv.Version != 3 {
		t.Fatalf("after ignore_lease: %v", kv)
	}
	for _, p := range []*pb.PutRequest{
		{Key: []byte("missing"), IgnoreValue: true},
		{Key: []byte("missing"), Value: []byte("x"), IgnoreLease: true},
	} {
		res := h.apply(&pb.InternalRaftRequest{Put: p})
		if !errors.Is(res.Err, rpctypes.ErrGRPCKeyNotFound) {
			t.Fatalf("%v on missing key: %v", p, res.Err)
		}
	}
	if idx, _ := h.s.ConsistentIndex(); idx != h.index || h.s.Rev() != 4 {
		t.Fatalf("failed requests: index %d (want %d), rev %d (want 4)", idx, h.index, h.s.Rev())
	}
}

func TestDeleteRangePrevKV(t *testing.T) {
	h := newHarness(t)
	for _, k := range []string{"a", "b", "c"} {
		h.put(k, "v"+k)
	}
	res := h.apply(&pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("a"), RangeEnd: []byte("c"), PrevKv: true}})
	r := res.Resp.(*pb.DeleteRangeResponse)
	if res.Err != nil || r.Deleted != 2 || keys(r.PrevKvs) != "a,b" || string(r.PrevKvs[1].Value) != "vb" || r.Header.Revision != 5 {
		t.Fatalf("delete: %v %v", r, res.Err)
	}
	res = h.apply(&pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("zz")}})
	if r := res.Resp.(*pb.DeleteRangeResponse); r.Deleted != 0 || r.Header.Revision != 5 {
		t.Fatalf("delete nothing: %v", r)
	}
	res = h.apply(&pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("\x00"), RangeEnd: []byte("\x00")}})
	if r := res.Resp.(*pb.DeleteRangeResponse); r.Deleted != 1 || r.Header.Revision != 6 {
		t.Fatalf("delete all: %v", r)
	}
}

func TestRangeOptions(t *testing.T) {
	h := newHarness(t)
	// key: value (rev): a:3 (2), b:1 (3), c:2 (4), then b again (5), d (6)
	h.put("a", "3")
	h.put("b", "1")
	h.put("c", "2")
	h.put("b", "4")
	h.put("d", "0")
	all := func(r *pb.RangeRequest) *pb.RangeRequest { r.Key, r.RangeEnd = []byte("a"), []byte("z"); return r }
	cases := []struct {
		name  string
		req   *pb.RangeRequest
		keys  string
		count int64
		more  bool
	}{
		{"all", all(&pb.RangeRequest{}), "a,b,c,d", 4, false},
		{"limit", all(&pb.RangeRequest{Limit: 2}), "a,b", 4, true},
		{"limit exact", all(&pb.RangeRequest{Limit: 4}), "a,b,c,d", 4, false},
		{"prefix", &pb.RangeRequest{Key: []byte("b"), RangeEnd: []byte("c")}, "b", 1, false},
		{"from key", &pb.RangeRequest{Key: []byte("c"), RangeEnd: []byte{0}}, "c,d", 2, false},
		{"at rev 4", all(&pb.RangeRequest{Revision: 4}), "a,b,c", 3, false},
		{"key desc", all(&pb.RangeRequest{SortTarget: pb.RangeRequest_KEY, SortOrder: pb.RangeRequest_DESCEND}), "d,c,b,a", 4, false},
		{"value asc (order NONE)", all(&pb.RangeRequest{SortTarget: pb.RangeRequest_VALUE}), "d,c,a,b", 4, false},
		{"value desc limit", all(&pb.RangeRequest{SortTarget: pb.RangeRequest_VALUE, SortOrder: pb.RangeRequest_DESCEND, Limit: 1}), "b", 4, true},
		{"version desc", all(&pb.RangeRequest{SortTarget: pb.RangeRequest_VERSION, SortOrder: pb.RangeRequest_DESCEND}), "b,a,c,d", 4, false},
		{"create desc", all(&pb.RangeRequest{SortTarget: pb.RangeRequest_CREATE, SortOrder: pb.RangeRequest_DESCEND}), "d,c,b,a", 4, false},
		{"mod asc", all(&pb.RangeRequest{SortTarget: pb.RangeRequest_MOD, SortOrder: pb.RangeRequest_ASCEND}), "a,c,b,d", 4, false},
		{"min mod", all(&pb.RangeRequest{MinModRevision: 4}), "b,c,d", 4, false},
		{"max mod", all(&pb.RangeRequest{MaxModRevision: 4}), "a,c", 4, false},
		{"min create", all(&pb.RangeRequest{MinCreateRevision: 3}), "b,c,d", 4, false},
		{"max create limit", all(&pb.RangeRequest{MaxCreateRevision: 4, Limit: 2}), "a,b", 4, true},
		{"count only", all(&pb.RangeRequest{CountOnly: true}), "", 4, false},
	}
	for _, c := range cases {
		r := h.rng(c.req)
		if keys(r.Kvs) != c.keys || r.Count != c.count || r.More != c.more || r.Header.Revision != 6 {
			t.Errorf("%s: keys %q count %d more %v rev %d; want %q %d %v 6",
				c.name, keys(r.Kvs), r.Count, r.More, r.Header.Revision, c.keys, c.count, c.more)
		}
	}
	r := h.rng(all(&pb.RangeRequest{KeysOnly: true}))
	if r.Kvs[1].Value != nil || r.Kvs[1].Version != 2 || r.Kvs[1].ModRevision != 5 {
		t.Errorf("keys only: %v", r.Kvs[1])
	}
	r = h.rng(all(&pb.RangeRequest{KeysOnly: true, SortTarget: pb.RangeRequest_VALUE}))
	if keys(r.Kvs) != "d,c,a,b" || r.Kvs[0].Value != nil {
		t.Errorf("keys only sorted by value: %v", r.Kvs)
	}
	if _, err := h.a.Range(&pb.RangeRequest{Key: []byte("a"), Revision: 7}); !errors.Is(err, rpctypes.ErrGRPCFutureRev) {
		t.Errorf("future: %v", err)
	}
}

func TestTxnCompareMatrix(t *testing.T) {
	h := newHarness(t)
	h.put("k", "m")                                                                                       // rev 2
	h.put("k", "m")                                                                                       // rev 3: version 2, create 2, mod 3
	h.grant(5)                                                                                            // no revision
	h.apply(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("l"), Value: []byte("x"), Lease: 5}}) // rev 4
	type tc struct {
		target pb.Compare_CompareTarget
		set    func(*pb.Compare, int64)
		equal  int64 // the key's value for this target (VALUE uses bytes)
	}
	targets := map[string]tc{
		"VERSION": {pb.Compare_VERSION, func(c *pb.Compare, v int64) { c.TargetUnion = &pb.Compare_Version{Version: v} }, 2},
		"CREATE":  {pb.Compare_CREATE, func(c *pb.Compare, v int64) { c.TargetUnion = &pb.Compare_CreateRevision{CreateRevision: v} }, 2},
		"MOD":     {pb.Compare_MOD, func(c *pb.Compare, v int64) { c.TargetUnion = &pb.Compare_ModRevision{ModRevision: v} }, 3},
		"LEASE":   {pb.Compare_LEASE, func(c *pb.Compare, v int64) { c.TargetUnion = &pb.Compare_Lease{Lease: v} }, 0},
		"VALUE": {pb.Compare_VALUE, func(c *pb.Compare, v int64) {
			c.TargetUnion = &pb.Compare_Value{Value: []byte{byte('m' + v)}}
		}, 0},
	}
	results := []pb.Compare_CompareResult{pb.Compare_EQUAL, pb.Compare_NOT_EQUAL, pb.Compare_GREATER, pb.Compare_LESS}
	for name, tg := range targets {
		for _, res := range results {
			for _, delta := range []int64{-1, 0, 1} { // operand below, equal to, above the key's value
				c := &pb.Compare{Key: []byte("k"), Target: tg.target, Result: res}
				tg.set(c, tg.equal+delta)
				if name == "VALUE" {
					tg.set(c, delta)
				}
				want := map[pb.Compare_CompareResult]bool{
					pb.Compare_EQUAL: delta == 0, pb.Compare_NOT_EQUAL: delta != 0,
					pb.Compare_GREATER: delta < 0, pb.Compare_LESS: delta > 0,
				}[res]
				resp, err := h.txn(&pb.TxnRequest{Compare: []*pb.Compare{c}})
				if err != nil {
					t.Fatal(err)
				}
				if resp.Succeeded != want {
					t.Errorf("%s %s operand%+d: succeeded=%v want %v", name, res, delta, resp.Succeeded, want)
				}
			}
		}
	}
	// Missing keys: VALUE always fails; other targets compare against zero.
	missing := func(c *pb.Compare) bool {
		c.Key = []byte("nope")
		resp, err := h.txn(&pb.TxnRequest{Compare: []*pb.Compare{c}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Succeeded
	}
	if missing(&pb.Compare{Target: pb.Compare_VALUE, Result: pb.Compare_NOT_EQUAL, TargetUnion: &pb.Compare_Value{Value: []byte("x")}}) {
		t.Error("VALUE compare on a missing key succeeded")
	}
	if !missing(&pb.Compare{Target: pb.Compare_CREATE, Result: pb.Compare_EQUAL, TargetUnion: &pb.Compare_CreateRevision{CreateRevision: 0}}) {
		t.Error("create_revision == 0 on a missing key failed")
	}
	// Range compares: every key in [k, m) must hold.
	rc := func(lease int64, res pb.Compare_CompareResult) bool {
		resp, err := h.txn(&pb.TxnRequest{Compare: []*pb.Compare{{Key: []byte("k"), RangeEnd: []byte("m"),
			Target: pb.Compare_LEASE, Result: res, TargetUnion: &pb.Compare_Lease{Lease: lease}}}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Succeeded
	}
	if rc(5, pb.Compare_EQUAL) || !rc(6, pb.Compare_LESS) || !rc(-1, pb.Compare_GREATER) {
		t.Error("range compare over k (lease 0) and l (lease 5)")
	}
	if h.s.Rev() != 4 {
		t.Fatalf("compare-only txns changed the revision: %d", h.s.Rev())
	}
}

func TestTxnNestedOneRevision(t *testing.T) {
	h := newHarness(t)
	h.put("flag", "on") // 2
	h.put("old", "x")   // 3
	inner := &pb.TxnRequest{
		// Compares see the state BEFORE the outer txn: "new" does not exist yet.
		Compare: []*pb.Compare{{Key: []byte("new"), Target: pb.Compare_VERSION, Result: pb.Compare_EQUAL,
			TargetUnion: &pb.Compare_Version{Version: 0}}},
		Success: []*pb.RequestOp{opPut("inner", "yes"), opGet("new")},
		Failure: []*pb.RequestOp{opPut("inner", "no")},
	}
	resp, err := h.txn(&pb.TxnRequest{
		Compare: []*pb.Compare{{Key: []byte("flag"), Target: pb.Compare_VALUE, Result: pb.Compare_EQUAL,
			TargetUnion: &pb.Compare_Value{Value: []byte("on")}}},
		Success: []*pb.RequestOp{opPut("new", "1"), opDel("old", ""), opTxn(inner), opGet("inner")},
		Failure: []*pb.RequestOp{opPut("failed", "1")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Succeeded || resp.Header.Revision != 4 || len(resp.Responses) != 4 {
		t.Fatalf("txn: %v", resp)
	}
	if r := resp.Responses[0].GetResponsePut(); r.Header.Revision != 4 {
		t.Errorf("put rev %d", r.Header.Revision)
	}
	if r := resp.Responses[1].GetResponseDeleteRange(); r.Deleted != 1 {
		t.Errorf("delete %v", r)
	}
	in := resp.Responses[2].GetResponseTxn()
	if !in.Succeeded || keys(in.Responses[1].GetResponseRange().Kvs) != "new" {
		t.Errorf("inner txn: %v", in)
	}
	if r := resp.Responses[3].GetResponseRange(); string(r.Kvs[0].Value) != "yes" || r.Header.Revision != 4 {
		t.Errorf("range after nested put: %v", r)
	}
	// Every write is at revision 4, with increasing sub revisions.
	for _, k := range []string{"new", "inner"} {
		kv := h.rng(&pb.RangeRequest{Key: []byte(k)}).Kvs[0]
		if kv.ModRevision != 4 {
			t.Errorf("%s mod revision %d", k, kv.ModRevision)
		}
	}
	if h.s.Rev() != 4 {
		t.Fatalf("store rev %d, want 4", h.s.Rev())
	}
}

func TestTxnFailsWholeBeforeWriting(t *testing.T) {
	h := newHarness(t)
	h.put("a", "1")
	_, err := h.txn(&pb.TxnRequest{Success: []*pb.RequestOp{
		opPut("b", "1"),
		{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("missing"), IgnoreValue: true}}},
	}})
	if !errors.Is(err, rpctypes.ErrGRPCKeyNotFound) {
		t.Fatalf("err %v", err)
	}
	_, err = h.txn(&pb.TxnRequest{Success: []*pb.RequestOp{opPut("b", "1"),
		{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("a"), Revision: 99}}}}})
	if !errors.Is(err, rpctypes.ErrGRPCFutureRev) {
		t.Fatalf("err %v", err)
	}
	if h.s.Rev() != 2 || len(h.rng(&pb.RangeRequest{Key: []byte("b")}).Kvs) != 0 {
		t.Fatalf("failed txn wrote something: rev %d", h.s.Rev())
	}
	if idx, _ := h.s.ConsistentIndex(); idx != 3 {
		t.Fatalf("consistent index %d, want 3", idx)
	}
	// A read-only txn keeps the revision.
	resp, err := h.txn(&pb.TxnRequest{Success: []*pb.RequestOp{opGet("a")}})
	if err != nil || resp.Header.Revision != 2 {
		t.Fatalf("read-only txn: %v %v", resp, err)
	}
}

func TestCheckTxnRequest(t *testing.T) {
	ops := func(o ...*pb.RequestOp) []*pb.RequestOp { return o }
	cases := []struct {
		name string
		txn  *pb.TxnRequest
		want error
	}{
		{"ok", &pb.TxnRequest{Success: ops(opPut("a", ""), opPut("b", ""), opDel("c", ""))}, nil},
		{"dup put", &pb.TxnRequest{Success: ops(opPut("a", ""), opPut("a", ""))}, rpctypes.ErrGRPCDuplicateKey},
		{"put in deleted range", &pb.TxnRequest{Success: ops(opDel("a", "c"), opPut("b", ""))}, rpctypes.ErrGRPCDuplicateKey},
		{"put in deleted from-key", &pb.TxnRequest{Failure: ops(opDel("a", "\x00"), opPut("zz", ""))}, rpctypes.ErrGRPCDuplicateKey},
		{"put outside deleted range", &pb.TxnRequest{Success: ops(opDel("a", "c"), opPut("c", ""))}, nil},
		{"then/else same key ok", &pb.TxnRequest{Success: ops(opTxn(&pb.TxnRequest{
			Success: ops(opPut("a", "")), Failure: ops(opPut("a", ""))}))}, nil},
		{"nested dup with outer", &pb.TxnRequest{Success: ops(opPut("a", ""), opTxn(&pb.TxnRequest{
			Success: ops(opPut("a", ""))}))}, rpctypes.ErrGRPCDuplicateKey},
		{"nested delete vs outer put", &pb.TxnRequest{Success: ops(opPut("b", ""), opTxn(&pb.TxnRequest{
			Failure: ops(opDel("a", "z"))}))}, rpctypes.ErrGRPCDuplicateKey},
		{"two nested txns put same key", &pb.TxnRequest{Success: ops(
			opTxn(&pb.TxnRequest{Success: ops(opPut("a", ""))}),
			opTxn(&pb.TxnRequest{Failure: ops(opPut("a", ""))}))}, rpctypes.ErrGRPCDuplicateKey},
		{"empty key", &pb.TxnRequest{Success: ops(opPut("", ""))}, rpctypes.ErrGRPCEmptyKey},
		{"empty compare key", &pb.TxnRequest{Compare: []*pb.Compare{{}}}, rpctypes.ErrGRPCEmptyKey},
		{"empty op", &pb.TxnRequest{Success: ops(&pb.RequestOp{})}, rpctypes.ErrGRPCKeyNotFound},
		{"too many ops", &pb.TxnRequest{Success: ops(opPut("a", ""), opPut("b", ""), opPut("c", ""))}, rpctypes.ErrGRPCTooManyOps},
		{"ignore_value with value", &pb.TxnRequest{Success: ops(&pb.RequestOp{Request: &pb.RequestOp_RequestPut{
			RequestPut: &pb.PutRequest{Key: []byte("a"), Value: []byte("v"), IgnoreValue: true}}})}, rpctypes.ErrGRPCValueProvided},
	}
	for _, c := range cases {
		max := 128
		if c.name == "too many ops" {
			max = 2
		}
		if err := CheckTxnRequest(c.txn, max); !errors.Is(err, c.want) || (c.want == nil && err != nil) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if err := CheckPutRequest(&pb.PutRequest{Key: []byte("a"), Lease: 1, IgnoreLease: true}); !errors.Is(err, rpctypes.ErrGRPCLeaseProvided) {
		t.Error(err)
	}
	if err := CheckRangeRequest(&pb.RangeRequest{Key: []byte("a"), SortOrder: 9}); !errors.Is(err, rpctypes.ErrGRPCInvalidSortOption) {
		t.Error(err)
	}
	if err := CheckDeleteRequest(&pb.DeleteRangeRequest{}); !errors.Is(err, rpctypes.ErrGRPCEmptyKey) {
		t.Error(err)
	}
}

func TestCompaction(t *testing.T) {
	h := newHarness(t)
	for i := 0; i < 5; i++ {
		h.put("k", fmt.Sprint(i)) // revs 2..6
	}
	res := h.apply(&pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: 4, Physical: true}})
	if res.Err != nil || res.Resp.(*pb.CompactionResponse).Header.Revision != 6 {
		t.Fatalf("compact: %v %v", res.Resp, res.Err)
	}
	res = h.apply(&pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: 3}})
	if !errors.Is(res.Err, rpctypes.ErrGRPCCompacted) {
		t.Fatalf("compact again: %v", res.Err)
	}
	res = h.apply(&pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: 60}})
	if !errors.Is(res.Err, rpctypes.ErrGRPCFutureRev) {
		t.Fatalf("compact future: %v", res.Err)
	}
	if _, err := h.a.Range(&pb.RangeRequest{Key: []byte("k"), Revision: 3}); !errors.Is(err, rpctypes.ErrGRPCCompacted) {
		t.Fatalf("range compacted: %v", err)
	}
	if r := h.rng(&pb.RangeRequest{Key: []byte("k"), Revision: 4}); string(r.Kvs[0].Value) != "2" {
		t.Fatalf("range at compact rev: %v", r)
	}
	_, err := h.txn(&pb.TxnRequest{Success: []*pb.RequestOp{
		{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("k"), Revision: 2}}}}})
	if !errors.Is(err, rpctypes.ErrGRPCCompacted) {
		t.Fatalf("txn range compacted: %v", err)
	}
	if idx, _ := h.s.ConsistentIndex(); idx != h.index {
		t.Fatalf("consistent index %d, want %d", idx, h.index)
	}
	if res := h.apply(&pb.InternalRaftRequest{Alarm: &pb.AlarmRequest{}}); !errors.Is(res.Err, ErrUnsupported) {
		t.Fatalf("alarm: %v", res.Err)
	}
}
