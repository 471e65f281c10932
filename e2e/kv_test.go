package e2e

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestKVRoundTrip drives Put/Get/Delete/Txn/Compact through clientv3 against
// three kvd processes and checks revisions, history reads and errors.
func TestKVRoundTrip(t *testing.T) {
	c := startCluster(t, 3)
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := testCtx(t, 60*time.Second)

	p1, err := cli.Put(ctx, "k", "v1")
	if err != nil {
		t.Fatal(err)
	}
	if p1.Header.ClusterId == 0 || p1.Header.MemberId == 0 || p1.Header.RaftTerm == 0 {
		t.Fatalf("response header incomplete: %+v", p1.Header)
	}
	p2, err := cli.Put(ctx, "k", "v2", clientv3.WithPrevKV())
	if err != nil {
		t.Fatal(err)
	}
	if p2.Header.Revision != p1.Header.Revision+1 {
		t.Fatalf("revision went %d -> %d, want +1", p1.Header.Revision, p2.Header.Revision)
	}
	if p2.PrevKv == nil || string(p2.PrevKv.Value) != "v1" {
		t.Fatalf("prev_kv = %v, want v1", p2.PrevKv)
	}
	// Putting the same value again still makes a new revision and version.
	p3, err := cli.Put(ctx, "k", "v2")
	if err != nil {
		t.Fatal(err)
	}
	g, err := cli.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	kv := g.Kvs[0]
	if kv.Version != 3 || kv.CreateRevision != p1.Header.Revision || kv.ModRevision != p3.Header.Revision {
		t.Fatalf("kv = %+v, want version 3 create %d mod %d", kv, p1.Header.Revision, p3.Header.Revision)
	}

	// History read at an old revision, from every member (serializable reads
	// after a linearizable one from the same member).
	old, err := cli.Get(ctx, "k", clientv3.WithRev(p1.Header.Revision))
	if err != nil {
		t.Fatal(err)
	}
	if string(old.Kvs[0].Value) != "v1" {
		t.Fatalf("get --rev %d = %s, want v1", p1.Header.Revision, old.Kvs[0].Value)
	}

	// Prefix, count, limit, sort.
	for i := 0; i < 5; i++ {
		if _, err := cli.Put(ctx, fmt.Sprintf("p/%d", i), fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	pg, err := cli.Get(ctx, "p/", clientv3.WithPrefix(), clientv3.WithLimit(2), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))
	if err != nil {
		t.Fatal(err)
	}
	if pg.Count != 5 || len(pg.Kvs) != 2 || !pg.More || string(pg.Kvs[0].Key) != "p/4" {
		t.Fatalf("prefix get: count %d kvs %d more %v first %s", pg.Count, len(pg.Kvs), pg.More, pg.Kvs[0].Key)
	}

	// Txn: compare the value, take the success branch, then the failure one.
	tr, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.Value("k"), "=", "v2")).
		Then(clientv3.OpPut("k", "v3"), clientv3.OpGet("p/0")).Else(clientv3.OpPut("k", "bad")).Commit()
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Succeeded || string(tr.Responses[1].GetResponseRange().Kvs[0].Value) != "0" {
		t.Fatalf("txn: succeeded=%v responses=%v", tr.Succeeded, tr.Responses)
	}
	tr2, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.Version("k"), "<", 2)).
		Then(clientv3.OpPut("k", "bad")).Else(clientv3.OpGet("k")).Commit()
	if err != nil {
		t.Fatal(err)
	}
	if tr2.Succeeded || string(tr2.Responses[0].GetResponseRange().Kvs[0].Value) != "v3" {
		t.Fatalf("txn else branch: succeeded=%v responses=%v", tr2.Succeeded, tr2.Responses)
	}

	// Delete with prev_kv.
	d, err := cli.Delete(ctx, "p/", clientv3.WithPrefix(), clientv3.WithPrevKV())
	if err != nil {
		t.Fatal(err)
	}
	if d.Deleted != 5 || len(d.PrevKvs) != 5 {
		t.Fatalf("delete: deleted %d prev %d, want 5", d.Deleted, len(d.PrevKvs))
	}
	if g, err := cli.Get(ctx, "p/", clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil || g.Count != 0 {
		t.Fatalf("after delete: count %v err %v", g, err)
	}

	// Compact, then a read at a compacted revision gets etcd's error.
	cur, err := cli.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, cur.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Get(ctx, "k", clientv3.WithRev(p1.Header.Revision)); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("get at compacted rev: err = %v, want %v", err, rpctypes.ErrCompacted)
	}
	if _, err := cli.Compact(ctx, p1.Header.Revision); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("compact below compact rev: err = %v, want %v", err, rpctypes.ErrCompacted)
	}
	if _, err := cli.Get(ctx, "k", clientv3.WithRev(cur.Header.Revision+1000)); !errors.Is(err, rpctypes.ErrFutureRev) {
		t.Fatalf("get at future rev: err = %v, want %v", err, rpctypes.ErrFutureRev)
	}
	// The latest value survives compaction.
	if g, err := cli.Get(ctx, "k"); err != nil || string(g.Kvs[0].Value) != "v3" {
		t.Fatalf("after compaction: %v %v", g, err)
	}
}

// TestKVErrors checks that invalid requests get etcd's gRPC errors.
func TestKVErrors(t *testing.T) {
	c := startCluster(t, 3, "--max-txn-ops", "4", "--max-request-bytes", "4096")
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := testCtx(t, 30*time.Second)

	if _, err := cli.Put(ctx, "", "v"); !errors.Is(err, rpctypes.ErrEmptyKey) {
		t.Errorf("empty key: %v, want %v", err, rpctypes.ErrEmptyKey)
	}
	if _, err := cli.Put(ctx, "big", strings.Repeat("x", 8192)); !errors.Is(err, rpctypes.ErrRequestTooLarge) {
		t.Errorf("large put: %v, want %v", err, rpctypes.ErrRequestTooLarge)
	}
	ops := []clientv3.Op{}
	for i := 0; i < 5; i++ {
		ops = append(ops, clientv3.OpPut(fmt.Sprint("t", i), "v"))
	}
	if _, err := cli.Txn(ctx).Then(ops...).Commit(); !errors.Is(err, rpctypes.ErrTooManyOps) {
		t.Errorf("too many ops: %v, want %v", err, rpctypes.ErrTooManyOps)
	}
	if _, err := cli.Txn(ctx).Then(clientv3.OpPut("d", "1"), clientv3.OpPut("d", "2")).Commit(); !errors.Is(err, rpctypes.ErrDuplicateKey) {
		t.Errorf("duplicate key: %v, want %v", err, rpctypes.ErrDuplicateKey)
	}
	if _, err := cli.Put(ctx, "nokey", "", clientv3.WithIgnoreValue()); !errors.Is(err, rpctypes.ErrKeyNotFound) {
		t.Errorf("ignore_value on missing key: %v, want %v", err, rpctypes.ErrKeyNotFound)
	}
}
