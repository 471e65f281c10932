package metrics

import (
	"testing"
	"time"
)

// TestHotPathObservationsDoNotAllocate holds the package to its contract
// (doc.go, 3): what the write path calls per request, per fsync, per frame
// or per commit allocates nothing.
func TestHotPathObservationsDoNotAllocate(t *testing.T) {
	p := ForPeer(1, 0x8e9e05c52164694d)
	d := 3 * time.Millisecond
	for name, f := range map[string]func(){
		"wal fsync":      func() { WALFsyncSeconds.Observe(d.Seconds()) },
		"backend commit": func() { BackendCommitSeconds.Observe(d.Seconds()) },
		"db size":        func() { SetDBSize(1<<20, 1<<19) },
		"peer bytes":     func() { p.SentBytes.Add(512); p.ReceivedBytes.Add(512) },
		"peer rtt":       func() { p.RoundTrip.Observe(d.Seconds()) },
		"leader":         func() { SetLeader(true, false, false) },
		"proposal": func() {
			ProposalsPending.Inc()
			ProposalsCommitted.Set(7)
			ProposalsApplied.Set(7)
			ProposalsPending.Dec()
		},
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocations per observation, want 0", name, n)
		}
	}
}

// TestForPeerLabelsAreEtcdIDs: the To/From label is the member id in hex,
// as etcd's types.ID prints it, so a dashboard's per-peer panels match.
func TestForPeerLabelsAreEtcdIDs(t *testing.T) {
	p := ForPeer(1, 0x8e9e05c52164694d)
	p.SentBytes.Add(3)
	c, err := peerSentBytes.GetMetricWithLabelValues("8e9e05c52164694d")
	if err != nil {
		t.Fatal(err)
	}
	if c != p.SentBytes {
		t.Fatalf("ForPeer resolved another child than To=%q", "8e9e05c52164694d")
	}
}
