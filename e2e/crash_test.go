package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

type ack struct {
	key string
	rev int64
}

// TestKillLeaderDuringWrites kills -9 the leader while a client streams
// puts, restarts it, and checks that every acknowledged put is on every
// member at the revision it was acknowledged with, and revisions only grow.
func TestKillLeaderDuringWrites(t *testing.T) {
	c := startCluster(t, 3)
	ctx := testCtx(t, 3*time.Minute)
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()

	var (
		mu    sync.Mutex
		acks  []ack
		fails int
	)
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acks) }
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			key := fmt.Sprintf("crash/%05d", i)
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			resp, err := cli.Put(pctx, key, fmt.Sprint(i))
			cancel()
			mu.Lock()
			if err != nil {
				fails++ // outcome unknown: may or may not be applied
			} else {
				acks = append(acks, ack{key, resp.Header.Revision})
			}
			mu.Unlock()
		}
	}()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			select {
			case <-ctx.Done():
				t.Fatalf("timed out waiting for %s", what)
			case <-time.After(10 * time.Millisecond):
			}
		}
	}

	waitFor("50 acknowledged puts", func() bool { return count() >= 50 })
	li, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leader := c.Members[li]
	if err := leader.Kill(); err != nil {
		t.Fatal(err)
	}
	killedAt := count()
	t.Logf("killed leader %s after %d acks", leader.Name, killedAt)
	waitFor("50 more acks after the kill", func() bool { return count() >= killedAt+50 })
	if err := leader.Start(); err != nil {
		t.Fatal(err)
	}
	restartedAt := count()
	waitFor("30 more acks after the restart", func() bool { return count() >= restartedAt+30 })
	close(stop)
	<-done

	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d acknowledged puts, %d failed or unknown", len(acks), fails)
	for i := 1; i < len(acks); i++ {
		if acks[i].rev <= acks[i-1].rev {
			t.Fatalf("revision went back: %s at %d after %s at %d", acks[i].key, acks[i].rev, acks[i-1].key, acks[i-1].rev)
		}
	}
	last := acks[len(acks)-1]
	for _, m := range c.Members {
		mc, err := c.Client(m.ClientURL)
		if err != nil {
			t.Fatal(err)
		}
		// Wait until this member has applied the last acknowledged write
		// (the restarted one catches up from the leader), then read locally.
		waitFor(m.Name+" to catch up", func() bool {
			r, err := mc.Get(ctx, last.key, clientv3.WithSerializable())
			return err == nil && len(r.Kvs) == 1
		})
		r, err := mc.Get(ctx, "crash/", clientv3.WithPrefix(), clientv3.WithSerializable())
		mc.Close()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, kv := range r.Kvs {
			got[string(kv.Key)] = kv.ModRevision
		}
		for _, a := range acks {
			rev, ok := got[a.key]
			if !ok {
				t.Fatalf("%s lost acknowledged put %s (rev %d)", m.Name, a.key, a.rev)
			}
			if rev != a.rev {
				t.Fatalf("%s has %s at revision %d, acknowledged at %d", m.Name, a.key, rev, a.rev)
			}
		}
	}
}
