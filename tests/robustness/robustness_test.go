package robustness

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/kvtrace/kvtrace/internal/localcluster"
)

const (
	snapshotCount = 100 // --snapshot-count: small, so snapshots happen during every run
	catchUp       = 20  // --snapshot-catchup-entries
)

// shortSchedule is the fault schedule of the short run, per cluster size:
// one of each family (crash, failpoint crash, pause, network, snapshot).
var shortSchedule = map[int][]string{
	3: {"kill-leader", "panic-raftAfterSave", "blackhole-follower", "pause", "snapshot", "panic-beforeCommit"},
	1: {"kill-leader", "panic-raftBeforeSave", "pause"},
}

func TestRobustness(t *testing.T) {
	for _, size := range []int{3, 1} {
		t.Run(fmt.Sprintf("%d-members", size), func(t *testing.T) { runScenario(t, size) })
	}
}

// schedule returns the fault names of the run: the short schedule, or n
// rounds cycling through every fault kind the cluster size allows, in an
// order shuffled per cycle.
func schedule(size, n int, rng *rand.Rand) []string {
	if n == 0 {
		return shortSchedule[size]
	}
	var kinds []string
	for _, f := range allFaults() {
		if f.members <= size {
			kinds = append(kinds, f.name)
		}
	}
	var out []string
	for len(out) < n {
		perm := rng.Perm(len(kinds))
		for _, p := range perm {
			if len(out) < n {
				out = append(out, kinds[p])
			}
		}
	}
	return out
}

func runScenario(t *testing.T, size int) {
	s := *seed
	if s == 0 {
		s = time.Now().UnixNano()
	}
	t.Logf("seed %d (rerun with -robustness.seed=%d)", s, s)
	rng := rand.New(rand.NewSource(s))
	dir := runDir(t)

	ports, err := localcluster.FreePorts(2 * size)
	if err != nil {
		t.Fatal(err)
	}
	fps, admins := make([]string, size), make([]string, size)
	for i := range fps {
		fps[i] = fmt.Sprintf("127.0.0.1:%d", ports[2*i])
		admins[i] = fmt.Sprintf("127.0.0.1:%d", ports[2*i+1])
	}
	c, err := localcluster.Start(localcluster.Config{
		Binary: kvdBin, Dir: dir, Size: size,
		ExtraArgs: []string{"--heartbeat-interval", "50", "--election-timeout", "500", "--log-level", "info",
			"--snapshot-count", fmt.Sprint(snapshotCount), "--snapshot-catchup-entries", fmt.Sprint(catchUp),
			"--trace", "--trace-sample-ratio", "0.05"},
		MemberArgs: func(i int) []string { return []string{"--failpoint-addr", fps[i], "--admin-addr", admins[i]} },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		if t.Failed() {
			for _, m := range c.Members {
				t.Logf("log of %s: %s", m.Name, m.LogPath)
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Hour)
	defer cancel()
	h := newHistory()
	e := &env{t: t, c: c, fps: fps, admins: admins, h: h, rng: rng, paused: make([]bool, size),
		snapshotCount: snapshotCount, catchUp: catchUp}
	if _, err := e.leader(ctx); err != nil {
		t.Fatal(err)
	}

	// One watcher per member, each through that member only.
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	var wg sync.WaitGroup
	var watchers []*watcher
	for _, m := range c.Members {
		cli, err := newClient(m.ClientURL)
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		w := &watcher{member: m.Name}
		watchers = append(watchers, w)
		wg.Add(1)
		go func() { defer wg.Done(); w.run(wctx, cli, h) }()
	}

	// The clients: the first ones each through one member, so that one
	// isolated or paused member does not stall all of them; the others
	// through every member (clientv3 picks and fails over).
	tctx, stopTraffic := context.WithCancel(ctx)
	defer stopTraffic()
	var twg sync.WaitGroup
	for id := 0; id < *clients; id++ {
		eps := c.Endpoints()
		if id < size {
			eps = eps[id : id+1]
		}
		cli, err := newClient(eps...)
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		tc := &trafficClient{id: id, cli: cli, h: h, rng: rand.New(rand.NewSource(s + int64(id) + 1)), seen: map[int]int64{}}
		for l := 0; l < 2; l++ {
			gctx, gcancel := context.WithTimeout(ctx, 10*time.Second)
			lr, err := cli.Grant(gctx, 3600) // outlives the run: no expiry changes the keyspace behind the model's back
			gcancel()
			if err != nil {
				t.Fatalf("lease grant: %v", err)
			}
			tc.leases = append(tc.leases, lr.ID)
		}
		twg.Add(1)
		go func() { defer twg.Done(); tc.run(tctx) }()
	}
	if !waitUntil(ctx, 30*time.Second, func() bool { return h.okWrites.Load() >= 20 }) {
		t.Fatal("the clients got fewer than 20 writes through before any fault")
	}

	// The fault schedule.
	names := schedule(size, *rounds, rng)
	done := map[string]int{}
	missed := map[string]int{}
	started := time.Now()
	for r, name := range names {
		f := faultNamed(name)
		t0 := time.Now()
		desc, happened, err := f.inject(ctx, e)
		if err != nil {
			t.Errorf("round %d (%s): %v", r+1, name, err)
		}
		if rerr := e.recover(ctx, true); rerr != nil {
			t.Fatalf("round %d (%s): the cluster did not recover: %v", r+1, name, rerr)
		}
		if happened {
			done[name]++
		} else {
			missed[name]++
		}
		t.Logf("round %d/%d %-26s %s (%.1fs; %d writes acked so far)", r+1, len(names), name, desc,
			time.Since(t0).Seconds(), h.okWrites.Load())
		if t.Failed() {
			break
		}
	}
	faultTime := time.Since(started)
	stopTraffic()
	twg.Wait()
	if err := e.recover(ctx, false); err != nil {
		t.Fatal(err)
	}

	// The final revision, read linearizably (a read changes nothing).
	final, err := finalRevision(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if !waitUntil(ctx, 60*time.Second, func() bool {
		for _, w := range watchers {
			if w.lastRev() < final {
				return false
			}
		}
		return true
	}) {
		for _, w := range watchers {
			t.Errorf("watch on %s reached revision %d of %d", w.member, w.lastRev(), final)
		}
	}
	stopWatch()
	wg.Wait()

	checkHashes(ctx, t, c, final)
	agreed, problems := checkWatches(watchers, final)
	for _, p := range problems {
		t.Errorf("watch: %s", p)
	}
	ops := h.snapshot()
	lost := checkAcked(t, ops, agreed)
	lin, res := checkLinearizable(t, ops, agreed, dir)

	total := map[string]int{}
	for _, n := range names {
		total[n]++
	}
	var kinds []string
	for k := range total {
		kinds = append(kinds, fmt.Sprintf("%s=%d/%d", k, done[k], total[k]))
	}
	sort.Strings(kinds)
	t.Logf("SUMMARY members=%d seed=%d rounds=%d (took effect %d) faults-time=%s ops=%d acked=%d failed=%d "+
		"final-revision=%d linearizable=%s resolved=%s lost-acked-writes=%d watch-problems=%d",
		size, s, len(names), sum(done), faultTime.Round(time.Second), len(ops), h.okOps.Load(), h.failed.Load(),
		final, lin, res, lost, len(problems))
	t.Logf("SUMMARY rounds by kind (took effect/scheduled): %s", strings.Join(kinds, " "))
	if len(missed) > 0 {
		t.Logf("faults that did not take effect: %v", missed)
	}
	if b, err := json.Marshal(ops); err == nil {
		os.WriteFile(filepath.Join(dir, "history.json"), b, 0o644)
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func newClient(eps ...string) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
}

// runDir is the run's directory: removed when the test passes, KEPT (and
// its path printed) when it fails or with -robustness.keep.
func runDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "kvtrace-"+strings.ReplaceAll(t.Name(), "/", "_")+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() || *keepAll {
			t.Logf("run directory KEPT: %s (data dirs, member logs, spans under <member>.kvd/trace, history.json, linearizability.html)", dir)
			return
		}
		os.RemoveAll(dir)
	})
	return dir
}

func finalRevision(ctx context.Context, c *localcluster.Cluster) (int64, error) {
	cli, err := newClient(c.Endpoints()...)
	if err != nil {
		return 0, err
	}
	defer cli.Close()
	var last error
	for i := 0; i < 20; i++ {
		gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		r, err := cli.Get(gctx, "key/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		cancel()
		if err == nil {
			return r.Header.Revision, nil
		}
		last = err
	}
	return 0, fmt.Errorf("final read: %w", last)
}

// checkHashes waits until every member is at revision final and compares
// their HashKV there.
func checkHashes(ctx context.Context, t *testing.T, c *localcluster.Cluster, final int64) {
	t.Helper()
	hashes := map[string]uint32{}
	for _, m := range c.Members {
		cli, err := newClient(m.ClientURL)
		if err != nil {
			t.Fatal(err)
		}
		var rev int64
		ok := waitUntil(ctx, 60*time.Second, func() bool {
			sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			st, err := cli.Status(sctx, m.ClientURL)
			if err == nil {
				rev = st.Header.Revision
			}
			return err == nil && rev >= final
		})
		if !ok || rev != final {
			t.Errorf("%s is at revision %d, the cluster at %d", m.Name, rev, final)
			cli.Close()
			continue
		}
		hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		hr, err := cli.HashKV(hctx, m.ClientURL, final)
		cancel()
		cli.Close()
		if err != nil {
			t.Errorf("HashKV on %s: %v", m.Name, err)
			continue
		}
		hashes[m.Name] = hr.Hash
	}
	var first uint32
	for i, m := range c.Members {
		h, ok := hashes[m.Name]
		if !ok {
			continue
		}
		if i == 0 {
			first = h
		} else if h != first {
			t.Errorf("HashKV at revision %d differs: %v", final, hashes)
			return
		}
	}
	t.Logf("HashKV at revision %d: %v", final, hashes)
}

// checkAcked finds every acknowledged write in the watch history at the
// revision it was acknowledged with, and returns how many are missing.
func checkAcked(t *testing.T, ops []record, agreed map[int64]revEvents) int {
	t.Helper()
	lost := 0
	has := func(rev int64, e event) bool {
		for _, g := range agreed[rev].Events {
			if g.Key == e.Key && g.Delete == e.Delete && g.Value == e.Value {
				return true
			}
		}
		return false
	}
	for _, r := range ops {
		if r.Return < 0 {
			continue
		}
		var want []event
		switch {
		case r.In.Kind == opPut:
			want = []event{{Key: r.In.Key, Value: r.In.Value}}
		case r.In.Kind == opDelete && r.Out.Deleted > 0:
			want = []event{{Key: r.In.Key, Delete: true}}
		case r.In.Kind == opTxn && r.Out.Succeeded:
			want = []event{{Key: r.In.Key, Value: r.In.Value}, {Key: r.In.Key2, Value: r.In.Value}}
		}
		for _, w := range want {
			if !has(r.Out.Rev, w) {
				lost++
				if lost <= 20 {
					t.Errorf("acknowledged %s is not in the watch history at revision %d (there: %v)",
						describe(r.In, r.Out), r.Out.Rev, agreed[r.Out.Rev].Events)
				}
			}
		}
	}
	return lost
}

// checkLinearizable resolves the writes whose outcome the client did not
// learn, from the watch history (a put's value is unique: if it is there,
// the write was applied at that revision, no later than the watcher saw it;
// if it is not, it was not applied), keeps the rest pending, and runs
// porcupine. On a violation it writes linearizability.html into dir.
func checkLinearizable(t *testing.T, ops []record, agreed map[int64]revEvents, dir string) (string, string) {
	t.Helper()
	written := map[string]int64{} // value -> revision
	for rev, re := range agreed {
		for _, e := range re.Events {
			if !e.Delete {
				written[e.Value] = rev
			}
		}
	}
	const infinity = int64(1) << 62
	var hist []porcupine.Operation
	var applied, notApplied, pending int
	for _, r := range ops {
		op := porcupine.Operation{ClientId: r.Client, Input: r.In, Call: r.Call, Output: r.Out, Return: r.Return}
		if r.Return < 0 {
			switch r.In.Kind {
			case opPut, opTxn:
				rev, ok := written[r.In.Value]
				if !ok {
					notApplied++
					continue
				}
				applied++
				op.Output = output{Rev: rev, Succeeded: r.In.Kind == opTxn}
				op.Return = agreed[rev].Time
				if op.Return < op.Call {
					t.Errorf("%s: the watch delivered revision %d before the request was sent", describe(r.In, r.Out), rev)
					op.Return = infinity
				}
			default:
				pending++
				op.Return = infinity
			}
		}
		hist = append(hist, op)
	}
	res := fmt.Sprintf("applied=%d,not-applied=%d,pending=%d", applied, notApplied, pending)
	t0 := time.Now()
	result, info := porcupine.CheckOperationsVerbose(kvModel, hist, *checkTime)
	t.Logf("porcupine: %s over %d operations in %v (unknown outcomes: %s)", result, len(hist), time.Since(t0).Round(time.Millisecond), res)
	switch result {
	case porcupine.Illegal:
		path := filepath.Join(dir, "linearizability.html")
		if err := porcupine.VisualizePath(kvModel, info, path); err != nil {
			t.Errorf("writing the visualization: %v", err)
		}
		t.Errorf("the history is NOT linearizable; visualization: %s", path)
	case porcupine.Unknown:
		t.Logf("porcupine gave up after %v: linearizability not decided (raise -robustness.check-timeout)", *checkTime)
	}
	return string(result), res
}
