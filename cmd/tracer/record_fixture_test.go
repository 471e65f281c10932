package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kvtrace/kvtrace/internal/localcluster"
	"github.com/kvtrace/kvtrace/internal/traceview"
)

var recordFixture = flag.Bool("record", false, "re-record testdata/fixture from a real 3-member kvd cluster (then run with -update)")

// TestRecordFixture records the checked-in fixture from a REAL run: three
// kvd processes with --trace, seven writes that exercise every shape the
// tracer draws — a plain put through the leader, three puts batched into one
// MsgApp and one WAL save (the leader is held at raftBeforeLeaderSend while
// they are proposed), a put served by a follower (forwarded MsgProp), a txn
// and a delete. The goldens are then regenerated with -update.
func TestRecordFixture(t *testing.T) {
	if !*recordFixture {
		t.Skip("run with -record to re-record testdata/fixture from a real 3-member cluster")
	}
	bin := buildKVD(t)
	dir := t.TempDir()
	ports, err := localcluster.FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	c, err := localcluster.Start(localcluster.Config{Binary: bin, Dir: dir, Size: 3,
		ExtraArgs:  []string{"--trace", "--log-level", "warn"},
		MemberArgs: func(i int) []string { return []string{"--failpoint-addr", fmt.Sprintf("127.0.0.1:%d", ports[i])} }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	li, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leader, err := c.Client(c.Members[li].ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	defer leader.Close()
	follower, err := c.Client(c.Members[(li+1)%3].ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	defer follower.Close()

	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(leader.Put(ctx, "a", "1"))

	fp := fmt.Sprintf("http://127.0.0.1:%d/raftBeforeLeaderSend", ports[li])
	failpoint(t, http.MethodPut, fp, `return("pause")`)
	var wg sync.WaitGroup
	started := make(chan struct{}, 3)
	for _, k := range []string{"b", "c", "d"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			started <- struct{}{}
			if _, err := leader.Put(ctx, k, "batched"); err != nil {
				t.Error(err)
			}
		}()
	}
	for range 3 {
		<-started
	}
	// There is no way to ask a paused leader how many proposals it holds, so
	// this recorder (not a test: it is skipped unless -record) gives the
	// three calls half a second to arrive, and CHECKS below that the
	// recording really holds a batched WAL save.
	<-time.After(500 * time.Millisecond)
	failpoint(t, http.MethodDelete, fp, "")
	wg.Wait()

	must(follower.Put(ctx, "e", "via-follower"))
	must(leader.Txn(ctx).If(clientv3.Compare(clientv3.Value("a"), "=", "1")).
		Then(clientv3.OpPut("f", "txn"), clientv3.OpGet("a")).Commit())
	must(leader.Delete(ctx, "a"))

	keys := []string{"a", "b", "c", "d", "e", "f"}
	for {
		tr, err := traceview.Load(dir)
		if err == nil && len(tr.Writes) == 7 && allComplete(tr, keys) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("spans of the 7 writes did not complete: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	tr, err := traceview.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	batched := false
	for _, sp := range tr.Spans {
		if sp.Name == "wal.save" && sp.Member == c.Members[li].Name {
			if n, _ := sp.Attr("raft.entries"); n != "" && n != "0" && n != "1" {
				batched = true
			}
		}
	}
	if !batched {
		t.Fatal("the leader saved no batch of 2+ entries; run the recorder again")
	}
	c.Close() // flush
	out := filepath.Join("testdata", "fixture")
	for _, m := range c.Members {
		b, err := os.ReadFile(filepath.Join(m.DataDir, "trace", "spans.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, m.Name+".jsonl"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("recorded %s; now run: go test ./cmd/tracer -update", out)
}

func failpoint(t *testing.T, method, url, body string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s", method, url, resp.Status)
	}
}

func allComplete(tr *traceview.Trace, keys []string) bool {
	for _, k := range keys {
		ws := tr.WritesByKey(k)
		if len(ws) == 0 {
			return false
		}
		for _, w := range ws {
			if len(missingOn(tr, w)) > 0 {
				return false
			}
		}
	}
	return true
}
