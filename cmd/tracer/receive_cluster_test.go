package main

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kvtrace/kvtrace/internal/localcluster"
	"github.com/kvtrace/kvtrace/internal/traceview"
)

// TestReceiveLiveCluster: three real kvd processes export their spans by
// OTLP/gRPC to an in-process receiver; a Put made with clientv3 shows up in
// the receiver's file as a write with the same key and revision, applied on
// every member.
func TestReceiveLiveCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-member kvd cluster")
	}
	bin := buildKVD(t)
	r, out, _ := startTestReceiver(t)

	dir := t.TempDir()
	c, err := localcluster.Start(localcluster.Config{Binary: bin, Dir: dir, Size: 3, ExtraArgs: []string{
		"--heartbeat-interval", "50", "--election-timeout", "500", "--log-level", "warn",
		"--trace-otlp-endpoint", r.GRPCAddr(),
	}})
	if err != nil {
		t.Fatal(err)
	}
	var closeOnce sync.Once
	stopCluster := func() { closeOnce.Do(c.Close) }
	t.Cleanup(func() {
		stopCluster()
		if t.Failed() {
			for _, m := range c.Members {
				b, _ := os.ReadFile(m.LogPath)
				t.Logf("---- log of %s ----\n%s", m.Name, b)
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := c.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	resp, err := cli.Put(ctx, "traced-key", "v")
	if err != nil {
		t.Fatal(err)
	}
	rev := resp.Header.Revision

	// Spans leave each member within its flush interval (500ms); poll the
	// file until the write and an apply on every member are in it.
	var last string
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		tr, err := traceview.Load(out)
		switch {
		case err != nil:
			last = err.Error()
		default:
			last = "no write to traced-key"
			for _, w := range tr.WritesByKey("traced-key") {
				if w.Revision != rev {
					last = "write to traced-key at another revision"
					continue
				}
				applied := map[string]bool{}
				for _, e := range tr.Detail(w).Events {
					if e.Name == traceview.NameApply {
						applied[e.Member] = true
					}
				}
				if len(applied) == 3 {
					t.Logf("write %s rev %d: %d members applied, trace %s", w.Key, w.Revision, len(applied), w.TraceID)
					return
				}
				last = "applied on " + strings.Join(keys(applied), ",") + " only"
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the write (traced-key, revision %d) did not arrive with spans of 3 members: %s", rev, last)
		}
		<-tick.C
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
