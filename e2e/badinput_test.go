package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// TestBadRequests sends every request limit and malformed request etcd
// rejects, on the raw gRPC API (no clientv3 in between), and checks that kvd
// answers with etcd's gRPC code AND message (rpctypes.ErrGRPC*), which is
// what clients match on (rpctypes.Error, etcdctl's output).
func TestBadRequests(t *testing.T) {
	c := startCluster(t, 1, "--max-request-bytes", "4096", "--max-txn-ops", "4")
	ctx := testCtx(t, time.Minute)
	conn, err := grpc.NewClient(strings.TrimPrefix(c.Members[0].ClientURL, "http://"),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	kv, lease, cluster := pb.NewKVClient(conn), pb.NewLeaseClient(conn), pb.NewClusterClient(conn)

	// Some history: two revisions of k, compacted at the first.
	p1, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("k"), Value: []byte("1")})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("k"), Value: []byte("2")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Compact(ctx, &pb.CompactionRequest{Revision: p2.Header.Revision, Physical: true}); err != nil {
		t.Fatal(err)
	}
	lg, err := lease.LeaseGrant(ctx, &pb.LeaseGrantRequest{TTL: 60})
	if err != nil {
		t.Fatal(err)
	}
	put := func(k string) *pb.RequestOp {
		return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(k), Value: []byte("v")}}}
	}
	big := strings.Repeat("x", 8192)

	for _, tc := range []struct {
		name string
		call func() error
		want error
	}{
		{"put empty key", func() error { _, err := kv.Put(ctx, &pb.PutRequest{Value: []byte("v")}); return err }, rpctypes.ErrGRPCEmptyKey},
		{"range empty key", func() error { _, err := kv.Range(ctx, &pb.RangeRequest{}); return err }, rpctypes.ErrGRPCEmptyKey},
		{"delete empty key", func() error { _, err := kv.DeleteRange(ctx, &pb.DeleteRangeRequest{}); return err }, rpctypes.ErrGRPCEmptyKey},
		{"put over --max-request-bytes", func() error {
			_, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("big"), Value: []byte(big)})
			return err
		}, rpctypes.ErrGRPCRequestTooLarge},
		{"txn over --max-txn-ops", func() error {
			_, err := kv.Txn(ctx, &pb.TxnRequest{Success: []*pb.RequestOp{put("a"), put("b"), put("c"), put("d"), put("e")}})
			return err
		}, rpctypes.ErrGRPCTooManyOps},
		{"txn puts one key twice", func() error {
			_, err := kv.Txn(ctx, &pb.TxnRequest{Success: []*pb.RequestOp{put("d"), put("d")}})
			return err
		}, rpctypes.ErrGRPCDuplicateKey},
		{"txn with an empty key", func() error {
			_, err := kv.Txn(ctx, &pb.TxnRequest{Success: []*pb.RequestOp{put("")}})
			return err
		}, rpctypes.ErrGRPCEmptyKey},
		{"range with an invalid sort order", func() error {
			_, err := kv.Range(ctx, &pb.RangeRequest{Key: []byte("k"), SortOrder: 7})
			return err
		}, rpctypes.ErrGRPCInvalidSortOption},
		{"range with an invalid sort target", func() error {
			_, err := kv.Range(ctx, &pb.RangeRequest{Key: []byte("k"), SortOrder: pb.RangeRequest_ASCEND, SortTarget: 9})
			return err
		}, rpctypes.ErrGRPCInvalidSortOption},
		{"range at a future revision", func() error {
			_, err := kv.Range(ctx, &pb.RangeRequest{Key: []byte("k"), Revision: p2.Header.Revision + 100})
			return err
		}, rpctypes.ErrGRPCFutureRev},
		{"range at a compacted revision", func() error {
			_, err := kv.Range(ctx, &pb.RangeRequest{Key: []byte("k"), Revision: p1.Header.Revision})
			return err
		}, rpctypes.ErrGRPCCompacted},
		{"compact a compacted revision", func() error {
			_, err := kv.Compact(ctx, &pb.CompactionRequest{Revision: p1.Header.Revision})
			return err
		}, rpctypes.ErrGRPCCompacted},
		{"compact a future revision", func() error {
			_, err := kv.Compact(ctx, &pb.CompactionRequest{Revision: p2.Header.Revision + 100})
			return err
		}, rpctypes.ErrGRPCFutureRev},
		{"put with a lease that does not exist", func() error {
			_, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("l"), Value: []byte("v"), Lease: 12345})
			return err
		}, rpctypes.ErrGRPCLeaseNotFound},
		{"put ignore_value on a missing key", func() error {
			_, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("missing"), IgnoreValue: true})
			return err
		}, rpctypes.ErrGRPCKeyNotFound},
		{"put ignore_value with a value", func() error {
			_, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("k"), Value: []byte("v"), IgnoreValue: true})
			return err
		}, rpctypes.ErrGRPCValueProvided},
		{"put ignore_lease with a lease", func() error {
			_, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("k"), Value: []byte("v"), Lease: lg.ID, IgnoreLease: true})
			return err
		}, rpctypes.ErrGRPCLeaseProvided},
		{"revoke a lease that does not exist", func() error {
			_, err := lease.LeaseRevoke(ctx, &pb.LeaseRevokeRequest{ID: 12345})
			return err
		}, rpctypes.ErrGRPCLeaseNotFound},
		{"grant a lease with an ID in use", func() error {
			_, err := lease.LeaseGrant(ctx, &pb.LeaseGrantRequest{ID: lg.ID, TTL: 60})
			return err
		}, rpctypes.ErrGRPCLeaseExist},
		{"grant a lease with a TTL too large", func() error {
			_, err := lease.LeaseGrant(ctx, &pb.LeaseGrantRequest{TTL: 9000000001})
			return err
		}, rpctypes.ErrGRPCLeaseTTLTooLarge},
		{"remove a member that does not exist", func() error {
			_, err := cluster.MemberRemove(ctx, &pb.MemberRemoveRequest{ID: 12345})
			return err
		}, rpctypes.ErrGRPCMemberNotFound},
		{"add a member with a malformed peer URL", func() error {
			_, err := cluster.MemberAdd(ctx, &pb.MemberAddRequest{PeerURLs: []string{"::not a url"}})
			return err
		}, rpctypes.ErrGRPCMemberBadURLs},
	} {
		err := tc.call()
		got, want := status.Convert(err), status.Convert(tc.want)
		if err == nil || got.Code() != want.Code() || got.Message() != want.Message() {
			t.Errorf("%s: got %v, want code %v %q", tc.name, err, want.Code(), want.Message())
		}
	}

	// Above the gRPC receive limit (--max-request-bytes + 512 KiB, as etcd)
	// gRPC itself refuses the message, with ResourceExhausted.
	_, err = kv.Put(ctx, &pb.PutRequest{Key: []byte("huge"), Value: make([]byte, 600*1024)})
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("put above the gRPC receive limit: %v, want ResourceExhausted", err)
	}
	// Nothing of the above changed the keyspace.
	r, err := kv.Range(ctx, &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Count != 1 || r.Header.Revision != p2.Header.Revision {
		t.Errorf("after the bad requests: %d keys at revision %d, want 1 at %d", r.Count, r.Header.Revision, p2.Header.Revision)
	}
}

// TestGatewayMalformedJSON: the JSON gateway answers a body that is not
// JSON, or JSON of the wrong shape, with 400 and a message that says what
// is wrong, and applies nothing.
func TestGatewayMalformedJSON(t *testing.T) {
	c := startCluster(t, 1)
	base := c.Members[0].ClientURL
	for _, tc := range []struct{ path, body string }{
		{"/v3/kv/put", `{"key": "a2V5", "value": `}, // truncated
		{"/v3/kv/put", `not json at all`},
		{"/v3/kv/put", `{"key": 12}`},                       // key must be base64 bytes
		{"/v3/kv/put", `{"key": "!!notbase64!!"}`},          // invalid base64
		{"/v3/kv/range", `["a", "list"]`},                   // wrong top-level type
		{"/v3/kv/txn", `{"compare": [{"result": "NOPE"}]}`}, // unknown enum value
	} {
		resp, err := http.Post(base+tc.path, "application/json", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("POST %s %q: %s %s, want 400", tc.path, tc.body, resp.Status, b)
			continue
		}
		if !strings.Contains(string(b), `"message"`) || !strings.Contains(string(b), `"code":3`) && !strings.Contains(string(b), `"code": 3`) {
			t.Errorf("POST %s %q: body %s, want a JSON error with code 3 (InvalidArgument) and a message", tc.path, tc.body, b)
		}
		t.Logf("POST %s %q -> %d %s", tc.path, tc.body, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	resp, err := http.Post(base+"/v3/kv/range", "application/json", strings.NewReader(`{"key":"AA==","range_end":"AA=="}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.Contains(string(b), `"kvs"`) {
		t.Errorf("after the malformed requests the keyspace is not empty: %s %s", resp.Status, b)
	}
}
