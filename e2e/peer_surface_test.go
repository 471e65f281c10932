package e2e

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestPeerPortServesOnlyLeaseForwarding: the peer port answers the two
// lease calls followers forward (keep-alive, time-to-live) and nothing a
// client could use it for instead of the client port.
func TestPeerPortServesOnlyLeaseForwarding(t *testing.T) {
	c := startCluster(t, 3)
	ctx := testCtx(t, time.Minute)
	li, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	peer := c.Members[li].PeerURL // the leader's: forwarded calls end there
	for _, args := range [][]string{{"get", "foo"}, {"put", "foo", "bar"}, {"lease", "grant", "10"}, {"lease", "list"}} {
		cmd := exec.Command(etcdctlBin, append([]string{"--endpoints=" + peer, "--command-timeout=5s"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "Unimplemented") {
			t.Fatalf("etcdctl %v on the peer port: err=%v output=%q, want Unimplemented", args, err, out)
		}
	}
	// The forwarding path itself: a lease granted through the client port
	// answers time-to-live through the leader's peer port.
	out := etcdctl(t, c.Endpoints()[:1], "", "lease", "grant", "30")
	id := strings.Fields(out)[1]
	ttl := etcdctl(t, []string{peer}, "", "lease", "timetolive", id)
	if !strings.Contains(ttl, "remaining") {
		t.Fatalf("lease timetolive %s on the peer port printed %q", id, ttl)
	}
}
