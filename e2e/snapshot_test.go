package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// waitUntil polls cond every 20ms until it holds or ctx ends.
func waitUntil(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func countFiles(t *testing.T, dir, suffix string) int {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, de := range des {
		if strings.HasSuffix(de.Name(), suffix) {
			n++
		}
	}
	return n
}

// TestSnapshotCatchUp stops a follower, drives 5x --snapshot-count writes,
// and restarts it: the leader has compacted its log past the follower, so
// the follower catches up through the leader's database streamed as a
// snapshot (snapshot.send on the leader, snapshot.apply on the follower).
// WAL segments and .snap files stay bounded by --max-wals/--max-snapshots.
func TestSnapshotCatchUp(t *testing.T) {
	const snapCount = 100
	c := startCluster(t, 3, "--trace", "--snapshot-count", fmt.Sprint(snapCount), "--snapshot-catchup-entries", "20",
		"--max-wals", "2", "--max-snapshots", "2", "--wal-segment-size", "32768")
	ctx := testCtx(t, 90*time.Second)
	li, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leader := c.Members[li]
	follower := c.Members[(li+1)%3]
	if err := follower.Stop(); err != nil {
		t.Fatal(err)
	}
	var eps []string
	for _, m := range c.Members {
		if m != follower {
			eps = append(eps, m.ClientURL)
		}
	}
	cli, err := c.Client(eps...)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	val := strings.Repeat("v", 200)
	const n = 5 * snapCount
	for i := range n {
		if _, err := cli.Put(ctx, fmt.Sprintf("snap/%04d", i), val); err != nil {
			t.Fatal(err)
		}
	}
	walDir := filepath.Join(leader.DataDir, "wal")
	snapDir := filepath.Join(leader.DataDir, "snap")
	if got := countFiles(t, snapDir, ".snap"); got == 0 || got > 2 {
		t.Fatalf("leader holds %d .snap files, want 1..2 (--max-snapshots 2)", got)
	}
	if got := countFiles(t, walDir, ".wal"); got > 2 {
		t.Fatalf("leader holds %d WAL segments, want <= 2 (--max-wals 2)", got)
	}
	t.Logf("leader %s: %d WAL segments, %d .snap files", leader.Name, countFiles(t, walDir, ".wal"), countFiles(t, snapDir, ".snap"))

	if err := follower.Start(); err != nil {
		t.Fatal(err)
	}
	fc, err := c.Client(follower.ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Close()
	last := fmt.Sprintf("snap/%04d", n-1)
	waitUntil(t, ctx, follower.Name+" to catch up", func() bool {
		r, err := fc.Get(ctx, last, clientv3.WithSerializable())
		return err == nil && len(r.Kvs) == 1
	})
	r, err := fc.Get(ctx, "snap/", clientv3.WithPrefix(), clientv3.WithCountOnly(), clientv3.WithSerializable())
	if err != nil || r.Count != n {
		t.Fatalf("follower holds %v keys (err %v), want %d", r.Count, err, n)
	}
	// A linearizable read and a new write through the caught-up follower.
	if _, err := fc.Put(ctx, "after", "snapshot"); err != nil {
		t.Fatal(err)
	}
	if r, err := fc.Get(ctx, "after"); err != nil || len(r.Kvs) != 1 {
		t.Fatalf("linearizable read on %s: %v %v", follower.Name, r, err)
	}
	// The spans show the catch-up went through a snapshot.
	hasSpan := func(dir, name string) bool {
		b, err := os.ReadFile(filepath.Join(dir, "trace", "spans.jsonl"))
		return err == nil && bytes.Contains(b, []byte(`"`+name+`"`))
	}
	waitUntil(t, ctx, "snapshot.send span on the leader", func() bool { return hasSpan(leader.DataDir, "snapshot.send") })
	waitUntil(t, ctx, "snapshot.apply span on the follower", func() bool { return hasSpan(follower.DataDir, "snapshot.apply") })

	// Restart the follower once more: it boots from its snapshot + WAL.
	if err := follower.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := follower.Start(); err != nil {
		t.Fatal(err)
	}
	fc2, err := c.Client(follower.ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	defer fc2.Close()
	waitUntil(t, ctx, follower.Name+" to serve after a restart", func() bool {
		r, err := fc2.Get(ctx, "after", clientv3.WithSerializable())
		return err == nil && len(r.Kvs) == 1
	})
}
