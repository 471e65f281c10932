package e2e

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kvtrace/kvtrace/internal/traceview"
)

// httpDo sends one admin/failpoint request and fails the test on a non-2xx.
func httpDo(t *testing.T, method, url, body string) string {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s: %s", method, url, resp.Status, b)
	}
	return string(b)
}

// kvdFault runs `kvd fault --admin addr args...` and returns its stdout.
func kvdFault(t *testing.T, addr string, args ...string) string {
	t.Helper()
	out, err := exec.Command(kvdBin, append([]string{"fault", "--admin", addr}, args...)...).Output()
	if err != nil {
		t.Fatalf("kvd fault %v: %v", args, err)
	}
	return string(out)
}

func putWithin(cli *clientv3.Client, d time.Duration, k, v string) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	_, err := cli.Put(ctx, k, v)
	return err
}

// TestFailpointPauseFollowerSave pauses raftBeforeSave on one follower (the
// write still commits with the other), then on both (it does not), then
// clears them (writes go through again).
func TestFailpointPauseFollowerSave(t *testing.T) {
	c, fps, _ := tracedCluster(t)
	ctx := testCtx(t, 2*time.Minute)
	li, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f1, f2 := (li+1)%3, (li+2)%3
	cli, err := c.Client(c.Members[li].ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	pause := `return("pause")`

	httpDo(t, http.MethodPut, "http://"+fps[f1]+"/raftBeforeSave", pause)
	if err := putWithin(cli, 10*time.Second, "one-paused", "v"); err != nil {
		t.Fatalf("with one follower paused the put should commit on a quorum of 2: %v", err)
	}

	httpDo(t, http.MethodPut, "http://"+fps[f2]+"/raftBeforeSave", pause)
	err = putWithin(cli, 3*time.Second, "both-paused", "v")
	if err == nil {
		t.Fatal("with both followers paused before their WAL save the put committed")
	}
	t.Logf("with both followers paused: %v", err)

	httpDo(t, http.MethodDelete, "http://"+fps[f1]+"/raftBeforeSave", "")
	httpDo(t, http.MethodDelete, "http://"+fps[f2]+"/raftBeforeSave", "")
	all, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	for {
		if err := putWithin(all, 5*time.Second, "after-clear", "v"); err == nil {
			break
		} else if ctx.Err() != nil {
			t.Fatalf("writes did not go through after clearing the failpoints: %v", err)
		}
	}
}

// TestDropMsgAppResp drops every MsgAppResp the followers send: the leader
// still writes the entry to its own WAL, nothing commits, and once the acks
// flow again the entry commits and is applied everywhere.
func TestDropMsgAppResp(t *testing.T) {
	c, _, admins := tracedCluster(t)
	ctx := testCtx(t, 2*time.Minute)
	li, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leader := c.Members[li]
	cli, err := c.Client(leader.ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	// One follower through the CLI, the other through the HTTP API.
	f1, f2 := (li+1)%3, (li+2)%3
	out := kvdFault(t, admins[f1], "add", "--type", "MsgAppResp", "--blackhole")
	if !strings.Contains(out, `"type":"MsgAppResp"`) || !strings.Contains(out, `"blackhole":true`) {
		t.Fatalf("kvd fault add printed %q", out)
	}
	httpDo(t, http.MethodPost, "http://"+admins[f2]+"/faults", `{"type":"MsgAppResp","blackhole":true}`)
	if out := kvdFault(t, admins[f2], "list"); !strings.Contains(out, "MsgAppResp") {
		t.Fatalf("kvd fault list printed %q", out)
	}
	err = putWithin(cli, 3*time.Second, "unacked", "v")
	if err == nil {
		t.Fatal("the put committed although every MsgAppResp was dropped")
	}
	if !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "timed out") {
		t.Logf("put failed with %v", err)
	}

	// The leader's spans show the entry in its WAL and no commit for it.
	var w *traceview.Write
	var saved, committed bool
	for w == nil || !saved {
		tr, err := traceview.Load(leader.DataDir)
		if err == nil {
			for i := range tr.Writes {
				if tr.Writes[i].Key == "unacked" {
					w = &tr.Writes[i]
				}
			}
			if w != nil {
				for _, s := range spansOf(tr, w) {
					saved = saved || (s.Name == "wal.save" && s.Member == leader.Name)
					committed = committed || s.Name == "raft.commit"
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no wal.save of the unacked write on the leader %s (write found: %v)", leader.Name, w != nil)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if committed {
		t.Fatal("a raft.commit span exists for a write whose acks were all dropped")
	}
	st, err := cli.Status(ctx, leader.ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	if st.RaftAppliedIndex >= w.Index && w.Index != 0 {
		t.Fatalf("leader applied index %d covers the unacked entry %d", st.RaftAppliedIndex, w.Index)
	}

	// Let the acks through: the entry the client gave up on commits now.
	if out := kvdFault(t, admins[f1], "clear"); strings.TrimSpace(out) != "no message faults" {
		t.Fatalf("kvd fault clear printed %q", out)
	}
	httpDo(t, http.MethodDelete, "http://"+admins[f2]+"/faults", "")
	for _, m := range c.Members {
		mc, err := c.Client(m.ClientURL)
		if err != nil {
			t.Fatal(err)
		}
		for {
			r, err := mc.Get(ctx, "unacked", clientv3.WithSerializable())
			if err == nil && len(r.Kvs) == 1 {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%s never applied the entry after the acks were let through", m.Name)
			case <-time.After(50 * time.Millisecond):
			}
		}
		mc.Close()
	}
}
