package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kvtrace/kvtrace/internal/localcluster"
	"github.com/kvtrace/kvtrace/internal/node"
)

// startRogue starts a kvd that is not a member of c but believes it is: it
// shares c's m1 and m2 peer URLs in its --initial-cluster, with token. It
// campaigns and sends to m1 and m2. Killed at the end of the test.
func startRogue(t *testing.T, c *localcluster.Cluster, dir, token string) (id uint64, log string) {
	t.Helper()
	ports, err := localcluster.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	peer := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	client := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	log = filepath.Join(dir, "rogue-"+token+".log")
	lf, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(kvdBin, "--name", "m3", "--data-dir", filepath.Join(dir, "rogue-"+token+".kvd"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", fmt.Sprintf("m1=%s,m2=%s,m3=%s", c.Members[0].PeerURL, c.Members[1].PeerURL, peer),
		"--initial-cluster-token", token, "--heartbeat-interval", "50", "--election-timeout", "500")
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); lf.Close() })
	return node.MemberID([]string{peer}, token), log
}

// TestRoguePeerRejected starts two kvd processes that are not members of a
// running cluster and dial its members: one with the cluster's token (its
// own member ID is unknown, so its cluster ID differs), one with another
// token (every ID differs). The members reject both streams at the
// handshake and log it; nothing the rogues send is applied: the leader, the
// term and the member list stay as they were and writes go on.
func TestRoguePeerRejected(t *testing.T) {
	c := startCluster(t, 3)
	ctx := testCtx(t, 2*time.Minute)
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	st0, err := cli.Status(ctx, c.Members[0].ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(c.Members[0].DataDir)
	rogueSame, _ := startRogue(t, c, dir, "kvtrace-local")
	rogueOther, _ := startRogue(t, c, dir, "another-cluster")

	// Both members the rogues dial log a rejection naming each rogue.
	for _, m := range c.Members[:2] {
		for _, id := range []uint64{rogueSame, rogueOther} {
			want := fmt.Sprintf(`"remote-member-id":"%x"`, id)
			for {
				b, _ := os.ReadFile(m.LogPath)
				if strings.Contains(string(b), "rejected peer stream") && strings.Contains(string(b), want) {
					break
				}
				select {
				case <-ctx.Done():
					t.Fatalf("%s never logged a rejected stream from rogue %x", m.Name, id)
				case <-time.After(50 * time.Millisecond):
				}
			}
		}
	}
	// Give the rogues a few election rounds' worth of messages; then nothing changed.
	if err := putWithin(cli, 10*time.Second, "after-rogues", "v"); err != nil {
		t.Fatal(err)
	}
	for _, m := range c.Members {
		st, err := cli.Status(ctx, m.ClientURL)
		if err != nil {
			t.Fatal(err)
		}
		if st.Leader != st0.Leader || st.RaftTerm != st0.RaftTerm {
			t.Errorf("%s: leader %x term %d after the rogues, was leader %x term %d", m.Name, st.Leader, st.RaftTerm, st0.Leader, st0.RaftTerm)
		}
	}
	ml, err := cli.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ml.Members) != 3 {
		t.Errorf("member list has %d members after the rogues: %v", len(ml.Members), ml.Members)
	}
	for _, m := range ml.Members {
		if m.ID == rogueSame || m.ID == rogueOther {
			t.Errorf("rogue %x is in the member list", m.ID)
		}
	}
}

// TestDataDirFromAnotherCluster: a member restarted on a data dir that
// another cluster (another --initial-cluster-token, so another cluster ID)
// wrote refuses to start, and says why.
func TestDataDirFromAnotherCluster(t *testing.T) {
	c := startCluster(t, 1)
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	if err := putWithin(cli, 10*time.Second, "k", "v"); err != nil {
		t.Fatal(err)
	}
	cli.Close()
	m := c.Members[0]
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	args := m.Args()
	for i := range args {
		if args[i] == "--initial-cluster-token" {
			args[i+1] = "another-cluster"
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, kvdBin, args...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("kvd started on another cluster's data dir and kept running:\n%s", tail(string(out), 20))
	}
	if err == nil {
		t.Fatalf("kvd exited 0 on another cluster's data dir:\n%s", tail(string(out), 20))
	}
	if !strings.Contains(string(out), "cluster") || !strings.Contains(string(out), m.DataDir) {
		t.Errorf("the error does not name the cluster mismatch and the data dir:\n%s", tail(string(out), 10))
	}
	t.Logf("refused: %s", tail(strings.TrimSpace(string(out)), 1))
}
