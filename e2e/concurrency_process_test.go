package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
)

// The tests in this file run clientv3/concurrency from separate client
// PROCESSES, as the "Done when" asks: each child is this test
// binary re-executed with -test.run=^TestHelperProcess$ and helperEnv set
// (the os/exec helper-process pattern), so it has its own clientv3 client,
// its own session lease and its own keep-alive loop, and can be killed with
// SIGKILL like a real client.

const (
	helperEnv      = "KVTRACE_HELPER"           // "mutex" or "campaign": what the child does
	helperEndpoint = "KVTRACE_HELPER_ENDPOINTS" // comma-separated client URLs
	helperArg      = "KVTRACE_HELPER_ARG"       // rounds (mutex) or candidate name (campaign)
	helperTTL      = "KVTRACE_HELPER_TTL"       // session TTL in seconds
)

// Lines a child prints on stdout for the parent to wait for.
const (
	lineDone      = "HELPER-DONE"     // mutex: every round finished
	lineCampaign  = "HELPER-CAMPAIGN" // campaign: session granted, Campaign called next
	lineElected   = "HELPER-ELECTED"  // campaign: Campaign returned, this child leads
	helperTimeout = 60 * time.Second  // a child gives up after this
)

// TestHelperProcess is not a test: it is the body of a child process and
// does nothing unless helperEnv is set.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("helper process body; run by the concurrency process tests")
	}
	if err := runHelper(mode); err != nil {
		fmt.Fprintf(os.Stderr, "helper %s: %v\n", mode, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runHelper(mode string) error {
	ctx, cancel := context.WithTimeout(context.Background(), helperTimeout)
	defer cancel()
	ttl, err := strconv.Atoi(os.Getenv(helperTTL))
	if err != nil {
		return fmt.Errorf("%s: %v", helperTTL, err)
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: strings.Split(os.Getenv(helperEndpoint), ","), DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
	})
	if err != nil {
		return err
	}
	defer cli.Close()
	sess, err := concurrency.NewSession(cli, concurrency.WithTTL(ttl), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("session: %w", err)
	}
	defer sess.Close()
	arg := os.Getenv(helperArg)
	switch mode {
	case "mutex":
		rounds, err := strconv.Atoi(arg)
		if err != nil {
			return fmt.Errorf("%s: %v", helperArg, err)
		}
		mu := concurrency.NewMutex(sess, "/lock/counter")
		for r := 0; r < rounds; r++ {
			if err := incrementLocked(ctx, cli, mu); err != nil {
				return fmt.Errorf("round %d: %w", r, err)
			}
		}
		fmt.Println(lineDone, rounds)
		return nil
	case "campaign":
		e := concurrency.NewElection(sess, "/election")
		fmt.Println(lineCampaign, arg)
		if err := e.Campaign(ctx, arg); err != nil {
			return fmt.Errorf("campaign: %w", err)
		}
		fmt.Println(lineElected, arg)
		// Lead until killed (or the session is lost).
		select {
		case <-sess.Done():
			return errors.New("session lost while leading")
		case <-ctx.Done():
			return ctx.Err()
		}
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
}

// incrementLocked does one read-then-write of "counter" under mu. Without
// mutual exclusion two processes read the same value and one increment
// is lost.
func incrementLocked(ctx context.Context, cli *clientv3.Client, mu *concurrency.Mutex) error {
	if err := mu.Lock(ctx); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	g, err := cli.Get(ctx, "counter")
	if err != nil {
		return err
	}
	n := 0
	if len(g.Kvs) == 1 {
		if n, err = strconv.Atoi(string(g.Kvs[0].Value)); err != nil {
			return err
		}
	}
	if _, err := cli.Put(ctx, "counter", strconv.Itoa(n+1)); err != nil {
		return err
	}
	if err := mu.Unlock(ctx); err != nil {
		return fmt.Errorf("unlock: %w", err)
	}
	return nil
}

// helper is a running child process.
type helper struct {
	name   string
	cmd    *exec.Cmd
	lines  chan string   // stdout, line by line; closed at EOF
	stderr *lockedBuffer // for failure messages
	exited chan struct{} // closed when Wait returned
	err    error         // Wait's result, valid after exited
}

type lockedBuffer struct {
	mu sync.Mutex // guards b
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startHelper re-executes the test binary as a client process. It is
// killed (SIGKILL) at the end of the test if still running.
func startHelper(t *testing.T, name, mode, arg string, ttl int, endpoints ...string) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		helperEnv+"="+mode, helperEndpoint+"="+strings.Join(endpoints, ","),
		helperArg+"="+arg, helperTTL+"="+strconv.Itoa(ttl))
	h := &helper{name: name, cmd: cmd, lines: make(chan string, 16), stderr: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = h.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
		close(h.lines)
		h.err = cmd.Wait() // AFTER stdout is drained (exec.Cmd.StdoutPipe's rule)
		close(h.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-h.exited
		if t.Failed() {
			t.Logf("---- stderr of helper %s (pid %d) ----\n%s", name, cmd.Process.Pid, tail(h.stderr.String(), 30))
		}
	})
	return h
}

// waitLine waits for a stdout line starting with prefix.
func (h *helper) waitLine(t *testing.T, ctx context.Context, prefix string) string {
	t.Helper()
	for {
		select {
		case l, ok := <-h.lines:
			if !ok {
				<-h.exited
				t.Fatalf("helper %s exited (%v) before printing %q; stderr:\n%s", h.name, h.err, prefix, h.stderr.String())
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-ctx.Done():
			t.Fatalf("helper %s did not print %q before the deadline", h.name, prefix)
		}
	}
}

// TestConcurrencyMutexProcesses: client processes, each connected to one
// member, increment a counter under concurrency.Mutex with a plain
// read-then-write. The final value MUST be exact: a lost update means two
// processes held the lock at once.
func TestConcurrencyMutexProcesses(t *testing.T) {
	c := startCluster(t, 3)
	ctx := testCtx(t, 90*time.Second)
	const procs, rounds = 5, 10
	var hs []*helper
	for i := 0; i < procs; i++ {
		hs = append(hs, startHelper(t, fmt.Sprint("mutex", i), "mutex", strconv.Itoa(rounds), 5, c.Members[i%3].ClientURL))
	}
	for _, h := range hs {
		h.waitLine(t, ctx, lineDone)
		select {
		case <-h.exited:
		case <-ctx.Done():
			t.Fatalf("helper %s did not exit", h.name)
		}
		if h.err != nil {
			t.Fatalf("helper %s: %v; stderr:\n%s", h.name, h.err, h.stderr.String())
		}
	}
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	g, err := cli.Get(ctx, "counter")
	if err != nil || len(g.Kvs) != 1 || string(g.Kvs[0].Value) != strconv.Itoa(procs*rounds) {
		t.Fatalf("counter = %v (err %v), want %d", g.Kvs, err, procs*rounds)
	}
}

// TestConcurrencyElectionKillProcess: process A campaigns and wins; process
// B campaigns and waits behind it. A is killed with SIGKILL, so nothing
// revokes its session: its lease MUST expire (TTL 2s) on the leader's
// lessor, which deletes A's election key through raft, and B MUST then
// win. A third client watches it happen through Observe and Leader.
func TestConcurrencyElectionKillProcess(t *testing.T) {
	c := startCluster(t, 3)
	ctx := testCtx(t, 45*time.Second)
	const ttl = 2

	obs, err := c.Client(c.Members[2].ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	defer obs.Close()
	osess, err := concurrency.NewSession(obs, concurrency.WithTTL(10))
	if err != nil {
		t.Fatal(err)
	}
	defer osess.Close()
	oe := concurrency.NewElection(osess, "/election")
	octx, ocancel := context.WithCancel(ctx)
	defer ocancel()
	observed := oe.Observe(octx)
	nextLeader := func(want string) {
		t.Helper()
		select {
		case r, ok := <-observed:
			if !ok || len(r.Kvs) == 0 {
				t.Fatalf("Observe ended (ok %v) while waiting for leader %s", ok, want)
			}
			if got := string(r.Kvs[0].Value); got != want {
				t.Fatalf("Observe: leader %s, want %s", got, want)
			}
		case <-ctx.Done():
			t.Fatalf("Observe did not report leader %s before the deadline", want)
		}
		l, err := oe.Leader(ctx)
		if err != nil || string(l.Kvs[0].Value) != want {
			t.Fatalf("Leader() = %v (err %v), want %s", l, err, want)
		}
	}

	a := startHelper(t, "A", "campaign", "A", ttl, c.Members[0].ClientURL)
	a.waitLine(t, ctx, lineElected)
	nextLeader("A")

	b := startHelper(t, "B", "campaign", "B", ttl, c.Members[1].ClientURL)
	b.waitLine(t, ctx, lineCampaign)
	// B's candidate key exists once Campaign has written it; B MUST wait.
	for {
		g, err := obs.Get(ctx, "/election/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err == nil && g.Count == 2 {
			break
		}
		select {
		case l := <-b.lines:
			t.Fatalf("B printed %q while A leads", l)
		case <-ctx.Done():
			t.Fatalf("B's candidate key never appeared (last %v, %v)", g, err)
		case <-time.After(20 * time.Millisecond):
		}
	}

	killed := time.Now()
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.exited
	b.waitLine(t, ctx, lineElected)
	t.Logf("B elected %v after SIGKILL of A (session TTL %ds)", time.Since(killed).Round(time.Millisecond), ttl)
	nextLeader("B")
	g, err := obs.Get(ctx, "/election/", clientv3.WithPrefix())
	if err != nil || len(g.Kvs) != 1 || string(g.Kvs[0].Value) != "B" {
		t.Fatalf("candidate keys after A's lease expired: %v (err %v), want only B's", g.Kvs, err)
	}
}
