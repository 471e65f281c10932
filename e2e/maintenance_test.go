package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestMaintenanceEtcdctl drives the Maintenance service with the real
// etcdctl: endpoint status/hashkv --cluster, snapshot save (whose sha256
// etcdctl verifies), defrag, move-leader.
func TestMaintenanceEtcdctl(t *testing.T) {
	c := startCluster(t, 3)
	ctx := testCtx(t, time.Minute)
	eps := c.Endpoints()
	for i := range 10 {
		etcdctl(t, eps, "", "put", fmt.Sprintf("k%d", i), "v")
	}

	out := etcdctl(t, eps[:1], "", "endpoint", "status", "--cluster", "-w", "table")
	for _, want := range []string{"ENDPOINT", "DB SIZE", "IS LEADER", "RAFT TERM", "RAFT APPLIED INDEX", "true", "false"} {
		if !strings.Contains(out, want) {
			t.Fatalf("endpoint status table lacks %q:\n%s", want, out)
		}
	}
	for _, m := range c.Members {
		if !strings.Contains(out, m.ClientURL) {
			t.Fatalf("endpoint status --cluster lacks %s (client URLs come from member list):\n%s", m.ClientURL, out)
		}
	}

	// Every member hashes the same keys at the same revision.
	var hk []struct {
		Endpoint string `json:"Endpoint"`
		HashKV   struct {
			Hash         uint32 `json:"hash"`
			HashRevision int64  `json:"hash_revision"`
		} `json:"HashKV"`
	}
	waitUntil(t, ctx, "equal hashkv on every member", func() bool {
		if err := json.Unmarshal([]byte(etcdctl(t, eps[:1], "", "endpoint", "hashkv", "--cluster", "-w", "json")), &hk); err != nil {
			t.Fatal(err)
		}
		return len(hk) == 3 && hk[0].HashKV.Hash == hk[1].HashKV.Hash && hk[1].HashKV.Hash == hk[2].HashKV.Hash
	})

	dbFile := filepath.Join(t.TempDir(), "snap.db")
	out = etcdctl(t, eps[:1], "", "snapshot", "save", dbFile)
	if !strings.Contains(out, "Snapshot saved at "+dbFile) {
		t.Fatalf("snapshot save printed %q", out)
	}
	if fi, err := os.Stat(dbFile); err != nil || fi.Size() == 0 {
		t.Fatalf("snapshot file: %v", err)
	}

	out = etcdctl(t, eps, "", "defrag")
	if strings.Count(out, "Finished defragmenting etcd member") != 3 {
		t.Fatalf("defrag printed %q", out)
	}
	if r := etcdctl(t, eps, "", "get", "k9", "--print-value-only"); strings.TrimSpace(r) != "v" {
		t.Fatalf("after defrag k9 = %q", r)
	}

	li, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	target := c.Members[(li+1)%3]
	id := memberIDHex(t, eps, target.Name)
	out = etcdctl(t, eps, "", "move-leader", id)
	if !strings.Contains(out, "Leadership transferred from") {
		t.Fatalf("move-leader printed %q", out)
	}
	if nl, err := c.WaitLeader(ctx); err != nil || c.Members[nl] != target {
		t.Fatalf("leader after move-leader: %v %v, want %s", nl, err, target.Name)
	}
}

// TestNoSpaceAlarm fills a small --quota-backend-bytes: the NOSPACE alarm
// goes up, puts fail with etcd's error while deletes still work, and
// delete + compact + defrag + disarm bring the cluster back.
func TestNoSpaceAlarm(t *testing.T) {
	c := startCluster(t, 3, "--quota-backend-bytes", fmt.Sprint(1<<20))
	ctx := testCtx(t, time.Minute)
	eps := c.Endpoints()
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	val := strings.Repeat("x", 32<<10)
	var perr error
	for i := 0; i < 200 && perr == nil; i++ {
		_, perr = cli.Put(ctx, fmt.Sprintf("big/%03d", i), val)
	}
	if perr == nil || perr.Error() != rpctypes.ErrNoSpace.Error() {
		t.Fatalf("filling the quota ended with %v, want %v", perr, rpctypes.ErrNoSpace)
	}
	out := etcdctl(t, eps, "", "alarm", "list")
	if !strings.Contains(out, "alarm:NOSPACE") {
		t.Fatalf("alarm list printed %q", out)
	}
	if _, err := cli.Put(ctx, "small", "1"); err == nil || err.Error() != rpctypes.ErrNoSpace.Error() {
		t.Fatalf("put under NOSPACE: %v", err)
	}
	// Reads and deletes are accepted.
	if out := etcdctl(t, eps, "", "del", "big/", "--prefix"); strings.TrimSpace(out) == "0" {
		t.Fatalf("del printed %q", out)
	}
	r, err := cli.Get(ctx, "big/", withPrefix())
	if err != nil || len(r.Kvs) != 0 {
		t.Fatalf("get after delete: %v %v", r, err)
	}
	etcdctl(t, eps, "", "compaction", fmt.Sprint(r.Header.Revision), "--physical")
	etcdctl(t, eps, "", "defrag")
	out = etcdctl(t, eps, "", "alarm", "disarm")
	if !strings.Contains(out, "alarm:NOSPACE") {
		t.Fatalf("alarm disarm printed %q", out)
	}
	if out := etcdctl(t, eps, "", "alarm", "list"); strings.TrimSpace(out) != "" {
		t.Fatalf("alarm list after disarm printed %q", out)
	}
	if _, err := cli.Put(ctx, "small", "1"); err != nil {
		t.Fatalf("put after recovery: %v", err)
	}
}

func withPrefix() clientv3.OpOption { return clientv3.WithPrefix() }
