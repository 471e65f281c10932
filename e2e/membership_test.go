package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kvtrace/kvtrace/internal/localcluster"
)

// memberListJSON is the part of `etcdctl member list -w json` the tests read.
type memberListJSON struct {
	Members []struct {
		ID         uint64   `json:"ID"`
		Name       string   `json:"name"`
		PeerURLs   []string `json:"peerURLs"`
		ClientURLs []string `json:"clientURLs"`
		IsLearner  bool     `json:"isLearner"`
	} `json:"members"`
}

func memberList(t *testing.T, eps []string) memberListJSON {
	t.Helper()
	var ml memberListJSON
	if err := json.Unmarshal([]byte(etcdctl(t, eps, "", "member", "list", "-w", "json")), &ml); err != nil {
		t.Fatal(err)
	}
	return ml
}

func memberIDHex(t *testing.T, eps []string, name string) string {
	t.Helper()
	for _, m := range memberList(t, eps).Members {
		if m.Name == name {
			return fmt.Sprintf("%x", m.ID)
		}
	}
	t.Fatalf("no member %s", name)
	return ""
}

// etcdctlRetry runs etcdctl until it stops failing with "unhealthy
// cluster": the reconfiguration checks want every peer stream up for 5s
// (etcd's HealthInterval), which a just-started cluster is not.
func etcdctlRetry(t *testing.T, eps []string, args ...string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		full := append([]string{"--endpoints=" + strings.Join(eps, ","), "--command-timeout=20s"}, args...)
		cmd := exec.Command(etcdctlBin, full...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if err == nil {
			return stdout.String()
		}
		if !strings.Contains(stderr.String(), "unhealthy cluster") || time.Now().After(deadline) {
			t.Fatalf("etcdctl %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// etcdctlErr runs etcdctl expecting failure and returns its combined output.
func etcdctlErr(t *testing.T, eps []string, args ...string) string {
	t.Helper()
	full := append([]string{"--endpoints=" + strings.Join(eps, ","), "--command-timeout=20s"}, args...)
	out, err := exec.Command(etcdctlBin, full...).CombinedOutput()
	if err == nil {
		t.Fatalf("etcdctl %s succeeded, want an error: %s", strings.Join(args, " "), out)
	}
	return string(out)
}

// TestMemberReplaceLearnerPromote: replace a member (remove m3, add m4 with
// an empty data dir through --initial-cluster-state existing), add m5 as a
// learner and promote it, and check that a removal that would cost the
// quorum is refused.
func TestMemberReplaceLearnerPromote(t *testing.T) {
	c := startCluster(t, 3)
	ctx := testCtx(t, 2*time.Minute)
	cli, err := c.Client(c.Members[0].ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	for i := range 20 {
		if _, err := cli.Put(ctx, fmt.Sprintf("m/%d", i), "x"); err != nil {
			t.Fatal(err)
		}
	}
	eps := []string{c.Members[0].ClientURL, c.Members[1].ClientURL}

	// Every member published its name and client URLs through raft.
	waitUntil(t, ctx, "every member to publish its client URLs", func() bool {
		ml := memberList(t, eps)
		for _, m := range ml.Members {
			if m.Name == "" || len(m.ClientURLs) == 0 {
				return false
			}
		}
		return len(ml.Members) == 3
	})
	table := etcdctl(t, eps, "", "member", "list", "-w", "table")
	for _, want := range []string{"ID", "STATUS", "NAME", "PEER ADDRS", "CLIENT ADDRS", "IS LEARNER", "started", c.Members[2].ClientURL} {
		if !strings.Contains(table, want) {
			t.Fatalf("member list table lacks %q:\n%s", want, table)
		}
	}

	// Remove m3: it stops by itself.
	m3 := c.Members[2]
	out := etcdctlRetry(t, eps, "member", "remove", memberIDHex(t, eps, "m3"))
	if !strings.Contains(out, "removed from cluster") {
		t.Fatalf("member remove printed %q", out)
	}
	waitUntil(t, ctx, "the removed m3 to exit", func() bool { return !m3.Running() })
	c.Members = c.Members[:2]

	// Add m4 with an empty data dir.
	m4, err := c.NewMember("m4", c.Members[0])
	if err != nil {
		t.Fatal(err)
	}
	out = etcdctlRetry(t, eps, "member", "add", "m4", "--peer-urls="+m4.PeerURL)
	if !strings.Contains(out, "added to cluster") || !strings.Contains(out, `ETCD_INITIAL_CLUSTER_STATE="existing"`) {
		t.Fatalf("member add printed %q", out)
	}
	if err := m4.Start(); err != nil {
		t.Fatal(err)
	}
	waitLinearizable(t, ctx, c, m4, "m/19")

	// A learner, promoted once it caught up.
	eps = []string{c.Members[0].ClientURL, c.Members[1].ClientURL, m4.ClientURL}
	m5, err := c.NewMember("m5", c.Members[0])
	if err != nil {
		t.Fatal(err)
	}
	out = etcdctl(t, eps, "", "member", "add", "m5", "--learner", "--peer-urls="+m5.PeerURL)
	if !strings.Contains(out, "added as learner to cluster") {
		t.Fatalf("member add --learner printed %q", out)
	}
	if err := m5.Start(); err != nil {
		t.Fatal(err)
	}
	var m5ID string
	waitUntil(t, ctx, "m5 to start as a learner", func() bool {
		for _, m := range memberList(t, eps).Members {
			if m.Name == "m5" && m.IsLearner {
				m5ID = fmt.Sprintf("%x", m.ID)
				return true
			}
		}
		return false
	})
	waitUntil(t, ctx, "m5 to be promoted", func() bool {
		full := []string{"--endpoints=" + strings.Join(eps, ","), "member", "promote", m5ID}
		out, err := exec.Command(etcdctlBin, full...).CombinedOutput()
		return err == nil && strings.Contains(string(out), "promoted")
	})
	for _, m := range memberList(t, eps).Members {
		if m.IsLearner {
			t.Fatalf("%s is still a learner after promote", m.Name)
		}
	}
	eps = append(eps, m5.ClientURL)
	waitLinearizable(t, ctx, c, m5, "m/19")

	// Four voters (m1 m2 m4 m5) with m2 and m4 down: removing m5 would leave
	// one active voter of three. Refused.
	m2 := c.Members[1]
	if err := m2.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := m4.Stop(); err != nil {
		t.Fatal(err)
	}
	msg := etcdctlErr(t, []string{c.Members[0].ClientURL}, "member", "remove", m5ID)
	if !strings.Contains(msg, "unhealthy cluster") && !strings.Contains(msg, "not enough started members") {
		t.Fatalf("quorum-losing removal: %s", msg)
	}
}

// waitLinearizable waits until m serves a linearizable read of key.
func waitLinearizable(t *testing.T, ctx interface {
	Done() <-chan struct{}
	Err() error
	Deadline() (time.Time, bool)
	Value(any) any
}, c *localcluster.Cluster, m *localcluster.Member, key string) {
	t.Helper()
	mc, err := c.Client(m.ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	waitUntil(t, ctx, m.Name+" to serve a linearizable read", func() bool {
		r, err := mc.Get(ctx, key)
		return err == nil && len(r.Kvs) == 1
	})
	_ = clientv3.WithSerializable
}
