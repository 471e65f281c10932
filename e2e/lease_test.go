package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestLeaseExpiryOnEveryMember: keys of an expired lease vanish on every
// member, all deleted at one revision, because the leader's expiry becomes
// a LeaseRevoke raft entry. A lease kept alive meanwhile keeps its key.
func TestLeaseExpiryOnEveryMember(t *testing.T) {
	c := startCluster(t, 3)
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := testCtx(t, time.Minute)

	short, err := cli.Grant(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	kept, err := cli.Grant(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	ka, err := cli.KeepAlive(ctx, kept.ID)
	if err != nil {
		t.Fatal(err)
	}
	// One watch per member: each reports the deletes it applied.
	type del struct {
		member string
		revs   []int64
	}
	dels := make(chan del, 3)
	for _, m := range c.Members {
		mc, err := c.Client(m.ClientURL)
		if err != nil {
			t.Fatal(err)
		}
		defer mc.Close()
		wch := mc.Watch(ctx, "l/", clientv3.WithPrefix(), clientv3.WithFilterPut())
		if err := mc.RequestProgress(ctx); err != nil { // the watch is registered once this returns
			t.Fatal(err)
		}
		go func(name string) {
			var revs []int64
			for wr := range wch {
				for _, ev := range wr.Events {
					if ev.Type == mvccpb.DELETE {
						revs = append(revs, ev.Kv.ModRevision)
					}
				}
				if len(revs) >= 3 {
					break
				}
			}
			dels <- del{name, revs}
		}(m.Name)
	}
	for i := 0; i < 3; i++ {
		if _, err := cli.Put(ctx, fmt.Sprintf("l/%d", i), "v", clientv3.WithLease(short.ID)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cli.Put(ctx, "kept", "v", clientv3.WithLease(kept.ID)); err != nil {
		t.Fatal(err)
	}
	var rev int64
	for i := 0; i < 3; i++ {
		select {
		case d := <-dels:
			if len(d.revs) != 3 || d.revs[0] != d.revs[1] || d.revs[1] != d.revs[2] {
				t.Fatalf("%s deleted the lease's keys at revisions %v, want three at one revision", d.member, d.revs)
			}
			if rev != 0 && d.revs[0] != rev {
				t.Fatalf("%s deleted at revision %d, another member at %d", d.member, d.revs[0], rev)
			}
			rev = d.revs[0]
		case <-ctx.Done():
			t.Fatal("lease keys not deleted on every member before the deadline")
		}
	}
	for _, m := range c.Members {
		mc, err := c.Client(m.ClientURL)
		if err != nil {
			t.Fatal(err)
		}
		g, err := mc.Get(ctx, "l/", clientv3.WithPrefix(), clientv3.WithSerializable())
		mc.Close()
		if err != nil || len(g.Kvs) != 0 {
			t.Fatalf("%s still has %d lease keys (err %v)", m.Name, len(g.Kvs), err)
		}
	}
	// Three TTLs of the kept lease went by while the other expired.
	deadline := time.After(3 * time.Second)
	for waiting := true; waiting; {
		select {
		case <-ka:
		case <-deadline:
			waiting = false
		}
	}
	g, err := cli.Get(ctx, "kept")
	if err != nil || len(g.Kvs) != 1 {
		t.Fatalf("key of the kept-alive lease: %v %v", g, err)
	}
	ttl, err := cli.TimeToLive(ctx, short.ID)
	if err != nil || ttl.TTL != -1 {
		t.Fatalf("TimeToLive of the expired lease: %+v %v", ttl, err)
	}
}

// TestLeaseSurvivesRestart stops and restarts every member: the lease, its
// TTL and its keys come back from bbolt, and a revoke still deletes them.
func TestLeaseSurvivesRestart(t *testing.T) {
	c := startCluster(t, 3)
	ctx := testCtx(t, 90*time.Second)
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	l, err := cli.Grant(ctx, 120)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "persist", "v", clientv3.WithLease(l.ID)); err != nil {
		t.Fatal(err)
	}
	cli.Close()
	for _, m := range c.Members {
		if err := m.Stop(); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range c.Members {
		if err := m.Start(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	cli, err = c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	var ttl *clientv3.LeaseTimeToLiveResponse
	for {
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ttl, err = cli.TimeToLive(tctx, l.ID, clientv3.WithAttachedKeys())
		cancel()
		if err == nil || ctx.Err() != nil {
			break
		}
	}
	if err != nil || ttl.GrantedTTL != 120 || ttl.TTL <= 0 || len(ttl.Keys) != 1 || string(ttl.Keys[0]) != "persist" {
		t.Fatalf("after restart: %+v %v", ttl, err)
	}
	ls, err := cli.Leases(ctx)
	if err != nil || len(ls.Leases) != 1 || ls.Leases[0].ID != l.ID {
		t.Fatalf("leases after restart: %+v %v", ls, err)
	}
	if _, err := cli.Revoke(ctx, l.ID); err != nil {
		t.Fatal(err)
	}
	if g, err := cli.Get(ctx, "persist"); err != nil || len(g.Kvs) != 0 {
		t.Fatalf("key after revoke: %v %v", g, err)
	}
}
