package debugger

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kvtrace/kvtrace/internal/localcluster"
)

func TestCondition(t *testing.T) {
	for _, tc := range []struct {
		boundary, member string
		term, index      uint64
		want             string
	}{
		{"wal.fsync", "m2", 0, 0, `name == "wal.fsync" && member == "m2"`},
		{"wal.save", "", 3, 42, `name == "wal.save" && term == 3 && index == 42`},
		{"", "", 0, 0, ``},
	} {
		if got := Condition(tc.boundary, tc.member, tc.term, tc.index); got != tc.want {
			t.Errorf("Condition(%q, %q, %d, %d) = %q, want %q", tc.boundary, tc.member, tc.term, tc.index, got, tc.want)
		}
	}
}

// debugCluster builds kvd with -N -l and starts a 3-member cluster with m2
// under headless delve. m2 gets a long election timeout so that it never
// campaigns: it stays a follower (the lab's setup). It returns the cluster
// and m2's delve address, or skips the test when the kernel refuses ptrace.
func debugCluster(t *testing.T) (*localcluster.Cluster, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds kvd and runs a cluster under delve")
	}
	bin := t.TempDir()
	kvd := filepath.Join(bin, "kvd")
	if out, err := exec.Command("go", "build", "-gcflags="+DebugGCFlags, "-o", kvd, "github.com/kvtrace/kvtrace/cmd/kvd").CombinedOutput(); err != nil {
		t.Fatalf("building kvd for delve: %v\n%s", err, out)
	}
	dlv, err := DlvPath()
	if err != nil {
		t.Fatal(err)
	}
	wrapper, err := WriteWrapper(bin, dlv, kvd)
	if err != nil {
		t.Fatal(err)
	}
	ports, err := localcluster.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + itoa(ports[0])
	dir := t.TempDir()
	c, err := localcluster.Start(localcluster.Config{
		Binary: wrapper, Dir: dir, Size: 3,
		ExtraArgs: []string{"--heartbeat-interval", "100", "--log-level", "warn"},
		MemberArgs: func(i int) []string {
			if i == 1 {
				return []string{"--election-timeout", "30000"}
			}
			return []string{"--election-timeout", "1000"}
		},
		Env: func(i int) []string {
			if i == 1 {
				return []string{ListenEnv + "=" + addr}
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		if t.Failed() {
			for _, m := range c.Members {
				b, _ := os.ReadFile(m.LogPath)
				t.Logf("---- log of %s ----\n%s", m.Name, tail(string(b), 40))
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if _, err := c.WaitLeader(ctx); err != nil {
		b, _ := os.ReadFile(c.Members[1].LogPath)
		if !c.Members[1].Running() && PtraceDenied(string(b)) {
			t.Skipf("SKIP: delve cannot trace processes here (ptrace refused: no CAP_SYS_PTRACE, yama ptrace_scope or seccomp): %s", tail(string(b), 5))
		}
		t.Fatal(err)
	}
	return c, addr
}

// TestFollowerFsyncBreakpoint is the follower-fsync lab as a test: m2 stops
// at its WAL fsync for a put, the leader commits with m3's ack anyway (the
// put returns while m2 is stopped), m2's stopped Ready holds the put's
// index, and after continue m2 catches up.
func TestFollowerFsyncBreakpoint(t *testing.T) {
	c, addr := debugCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	leader, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if leader == 1 {
		t.Fatalf("m2 (election timeout 30s) became leader")
	}
	lead := c.Members[leader]
	cli, err := c.Client(lead.ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()

	s, err := Attach(ctx, "m2", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("attached to m2's delve at %s (pid %d); leader is %s", addr, s.Pid, lead.Name)
	if err := s.Break(Condition("wal.fsync", "m2", 0, 0)); err != nil {
		t.Fatal(err)
	}
	t.Logf("breakpoint set")
	before, err := cli.Status(ctx, lead.ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	s.Run()

	type putResult struct {
		resp *clientv3.PutResponse
		err  error
	}
	putDone := make(chan putResult, 1)
	go func() {
		r, err := cli.Put(ctx, "debug-key", "written-while-m2-is-stopped")
		putDone <- putResult{r, err}
	}()

	// The first m2 fsyncs may belong to other entries; wait for the Ready
	// that holds an entry at or after the put's expected index.
	want := before.RaftIndex + 1
	var stop *Stop
	for stop == nil {
		select {
		case r := <-s.Stops():
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			if r.Stop.Boundary != "wal.fsync" || r.Stop.Member != "m2" || r.Stop.Halted {
				t.Fatalf("unexpected stop: %+v", r.Stop)
			}
			if last := r.Stop.Entries; len(last) > 0 && last[len(last)-1].Index >= want {
				stop = r.Stop
				break
			}
			t.Logf("m2 stopped at wal.fsync for entries %v; waiting for index %d", r.Stop.Entries, want)
			s.Run()
		case <-ctx.Done():
			t.Fatal("m2 never stopped at wal.fsync")
		}
	}

	// m2 is stopped at its fsync; the put still returns (leader + m3).
	var put putResult
	select {
	case put = <-putDone:
	case <-ctx.Done():
		t.Fatal("the put did not return while m2 was stopped: the leader should commit with m3's ack")
	}
	if put.err != nil {
		t.Fatalf("put while m2 is stopped: %v", put.err)
	}
	if running, err := s.Running(); err != nil || running {
		t.Fatalf("m2 should still be stopped when the put returns (running=%v, err=%v)", running, err)
	}
	after, err := cli.Status(ctx, lead.ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	putIndex := after.RaftIndex
	if !stop.HasEntry(putIndex) {
		t.Fatalf("m2 stopped at fsync with entries %v; the put's index is %d", stop.Entries, putIndex)
	}
	if stop.Role != "follower" {
		t.Errorf("m2's role at the stop = %q, want follower", stop.Role)
	}
	var text strings.Builder
	if err := WriteStop(&text, stop); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"m2 stopped at wal.fsync", "readyLoop", "rd.Entries", "FOLLOWER", "instrument.Anchor"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("stop text lacks %q:\n%s", want, text.String())
		}
	}
	t.Logf("stop:\n%s", text.String())

	// Continue (breakpoint removed): m2 makes the entry durable, acks, learns
	// the commit and applies it.
	if err := s.Close(true); err != nil {
		t.Fatal(err)
	}
	m2 := c.Members[1]
	m2cli, err := c.Client(m2.ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	defer m2cli.Close()
	for {
		st, err := m2cli.Status(ctx, m2.ClientURL)
		if err == nil && st.RaftAppliedIndex >= putIndex {
			g, err := m2cli.Get(ctx, "debug-key", clientv3.WithSerializable())
			if err == nil && len(g.Kvs) == 1 && g.Kvs[0].ModRevision == put.resp.Header.Revision {
				break
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("m2 did not catch up to index %d after continue: %v", putIndex, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
