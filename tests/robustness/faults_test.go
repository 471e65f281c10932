package robustness

import (
	"context"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kvtrace/kvtrace/internal/localcluster"
)

// env is what a fault acts on.
type env struct {
	t      *testing.T
	c      *localcluster.Cluster
	fps    []string // member i's --failpoint-addr
	admins []string // member i's --admin-addr
	h      *history
	rng    *rand.Rand
	paused []bool // member i got SIGSTOP and no SIGCONT yet

	snapshotCount, catchUp int64
}

// fault is one kind of fault round. inject injects it, holds it while the
// clients go on, and undoes what it can (restarting a crashed member is
// left to env.recover, which runs after every round). It returns what it
// did, for the log, and whether the fault really happened (a failpoint on
// a path the member did not take, say, did not).
type fault struct {
	name    string
	members int // 0: any cluster size; 3: needs peers
	inject  func(ctx context.Context, e *env) (desc string, happened bool, err error)
}

// failpoints crashed by a panic term, with the member that crosses them.
var (
	anyMemberFailpoints = []string{"raftBeforeSave", "raftAfterSave", "walBeforeSync", "walAfterSync",
		"beforeCommit", "afterCommit", "beforeApply", "afterApply", "raftBeforeSaveSnap", "raftAfterSaveSnap"}
	leaderFailpoints   = []string{"raftBeforeLeaderSend"}
	followerFailpoints = []string{"raftBeforeFollowerSend"}
	snapshotFailpoints = []string{"raftBeforeApplySnap", "raftAfterApplySnap"}
)

// allFaults is every fault kind; the long run cycles through them.
func allFaults() []fault {
	fs := []fault{
		{name: "kill-leader", inject: killLeader},
		{name: "kill-random", inject: killRandom},
		{name: "kill-all", inject: killAll},
		{name: "pause", inject: pause},
		{name: "blackhole-leader", members: 3, inject: func(ctx context.Context, e *env) (string, bool, error) { return blackhole(ctx, e, true) }},
		{name: "blackhole-follower", members: 3, inject: func(ctx context.Context, e *env) (string, bool, error) { return blackhole(ctx, e, false) }},
		{name: "delay", members: 3, inject: delay},
		{name: "drop", members: 3, inject: drop},
		{name: "snapshot", members: 3, inject: func(ctx context.Context, e *env) (string, bool, error) { return forceSnapshot(ctx, e, "") }},
	}
	for _, fp := range anyMemberFailpoints {
		fs = append(fs, fault{name: "panic-" + fp, inject: failpointCrash(fp, "any")})
	}
	for _, fp := range leaderFailpoints {
		fs = append(fs, fault{name: "panic-" + fp, members: 3, inject: failpointCrash(fp, "leader")})
	}
	for _, fp := range followerFailpoints {
		fs = append(fs, fault{name: "panic-" + fp, members: 3, inject: failpointCrash(fp, "follower")})
	}
	for _, fp := range snapshotFailpoints {
		fp := fp
		fs = append(fs, fault{name: "panic-" + fp, members: 3, inject: func(ctx context.Context, e *env) (string, bool, error) {
			return forceSnapshot(ctx, e, fp)
		}})
	}
	return fs
}

func faultNamed(name string) fault {
	for _, f := range allFaults() {
		if f.name == name {
			return f
		}
	}
	panic("no fault " + name)
}

// holdMin is the least a fault lasts: three election timeouts, so that a
// blackholed or paused leader is voted out.
const holdMin = 1500 * time.Millisecond

// hold keeps a fault for at least holdMin and until the clients got n more
// writes acknowledged, or max passed: a fault lasts a measure of progress as
// well as time, so a slow machine still sees requests during every fault.
func (e *env) hold(ctx context.Context, n int64, max time.Duration) {
	start := e.h.okWrites.Load()
	t0 := time.Now()
	for (time.Since(t0) < holdMin || e.h.okWrites.Load() < start+n) && time.Since(t0) < max && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitUntil polls cond every 20ms until it holds or d passes.
func waitUntil(ctx context.Context, d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	return true
}

func (e *env) leader(ctx context.Context) (int, error) {
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return e.c.WaitLeader(lctx)
}

func (e *env) follower(ctx context.Context) (int, error) {
	li, err := e.leader(ctx)
	if err != nil {
		return -1, err
	}
	return (li + 1 + e.rng.Intn(len(e.c.Members)-1)) % len(e.c.Members), nil
}

// recover undoes whatever a round left: SIGCONT to paused members, a
// restart of exited ones, no message faults; then waits for a leader that
// every member agrees on and, with traffic, for the clients to get a write
// through.
func (e *env) recover(ctx context.Context, traffic bool) error {
	for i, m := range e.c.Members {
		if e.paused[i] && m.Running() {
			syscall.Kill(m.Pid(), syscall.SIGCONT)
		}
		e.paused[i] = false
	}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		// A member that crossed a failpoint a moment ago may still be
		// exiting when it is first looked at: restart what exited, again.
		for _, m := range e.c.Members {
			if !m.Running() {
				if err := m.Start(); err != nil {
					return err
				}
			}
		}
		for i := range e.c.Members {
			// A freshly started member may not serve yet; its rules are empty anyway.
			adminDo(http.MethodDelete, "http://"+e.admins[i]+"/faults", "")
		}
		if _, err = e.leader(ctx); err == nil {
			break
		}
	}
	if err != nil {
		return err
	}
	if !traffic {
		return nil
	}
	start := e.h.okWrites.Load()
	if !waitUntil(ctx, 60*time.Second, func() bool { return e.h.okWrites.Load() > start }) {
		return fmt.Errorf("no write acknowledged within 60s after the round")
	}
	return nil
}

func adminDo(method, url, body string) error {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	cl := &http.Client{Timeout: 3 * time.Second}
	resp, err := cl.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, b)
	}
	return nil
}

func killLeader(ctx context.Context, e *env) (string, bool, error) {
	li, err := e.leader(ctx)
	if err != nil {
		return "", false, err
	}
	return killMember(ctx, e, li)
}

func killRandom(ctx context.Context, e *env) (string, bool, error) {
	return killMember(ctx, e, e.rng.Intn(len(e.c.Members)))
}

func killMember(ctx context.Context, e *env, i int) (string, bool, error) {
	m := e.c.Members[i]
	pid := m.Pid()
	if err := m.Kill(); err != nil {
		return "", false, err
	}
	e.hold(ctx, 30, 3*time.Second)
	return fmt.Sprintf("kill -9 %s (pid %d)", m.Name, pid), true, nil
}

func killAll(ctx context.Context, e *env) (string, bool, error) {
	for _, m := range e.c.Members {
		if err := m.Kill(); err != nil {
			return "", false, err
		}
	}
	return "kill -9 every member", true, nil
}

func pause(ctx context.Context, e *env) (string, bool, error) {
	i := e.rng.Intn(len(e.c.Members))
	m := e.c.Members[i]
	pid := m.Pid()
	if pid == 0 {
		return "", false, fmt.Errorf("%s is not running", m.Name)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return "", false, err
	}
	e.paused[i] = true
	e.hold(ctx, 30, 3*time.Second)
	err := syscall.Kill(pid, syscall.SIGCONT)
	e.paused[i] = false
	return fmt.Sprintf("SIGSTOP/SIGCONT %s", m.Name), true, err
}

// isolate blackholes everything member i sends and everything sent to it.
func (e *env) isolate(i int) error {
	name := e.c.Members[i].Name
	for j := range e.c.Members {
		body := fmt.Sprintf(`{"to":%q,"blackhole":true}`, name)
		if j == i {
			body = `{"blackhole":true}`
		}
		if err := adminDo(http.MethodPost, "http://"+e.admins[j]+"/faults", body); err != nil {
			return err
		}
	}
	return nil
}

func (e *env) clearFaults() error {
	var first error
	for j := range e.c.Members {
		if err := adminDo(http.MethodDelete, "http://"+e.admins[j]+"/faults", ""); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func blackhole(ctx context.Context, e *env, leader bool) (string, bool, error) {
	var i int
	var err error
	if leader {
		i, err = e.leader(ctx)
	} else {
		i, err = e.follower(ctx)
	}
	if err != nil {
		return "", false, err
	}
	if err := e.isolate(i); err != nil {
		return "", false, err
	}
	e.hold(ctx, 50, 4*time.Second)
	return fmt.Sprintf("blackhole %s (leader=%v)", e.c.Members[i].Name, leader), true, e.clearFaults()
}

func delay(ctx context.Context, e *env) (string, bool, error) {
	d := 20 + e.rng.Intn(130)
	for j := range e.c.Members {
		if err := adminDo(http.MethodPost, "http://"+e.admins[j]+"/faults", fmt.Sprintf(`{"delay":"%dms"}`, d)); err != nil {
			return "", false, err
		}
	}
	e.hold(ctx, 50, 4*time.Second)
	return fmt.Sprintf("delay every message %dms", d), true, e.clearFaults()
}

func drop(ctx context.Context, e *env) (string, bool, error) {
	p := 0.1 + 0.4*e.rng.Float64()
	for j := range e.c.Members {
		if err := adminDo(http.MethodPost, "http://"+e.admins[j]+"/faults", fmt.Sprintf(`{"drop":%.2f}`, p)); err != nil {
			return "", false, err
		}
	}
	e.hold(ctx, 50, 4*time.Second)
	return fmt.Sprintf("drop %.0f%% of every member's messages", 100*p), true, e.clearFaults()
}

// failpointCrash sets a panic term on one member's failpoint and waits for
// the member to cross it and exit.
func failpointCrash(fp, who string) func(ctx context.Context, e *env) (string, bool, error) {
	return func(ctx context.Context, e *env) (string, bool, error) {
		var i int
		var err error
		switch who {
		case "leader":
			i, err = e.leader(ctx)
		case "follower":
			i, err = e.follower(ctx)
		default:
			i = e.rng.Intn(len(e.c.Members))
		}
		if err != nil {
			return "", false, err
		}
		return crashAt(ctx, e, i, fp, 15*time.Second)
	}
}

func crashAt(ctx context.Context, e *env, i int, fp string, within time.Duration) (string, bool, error) {
	m := e.c.Members[i]
	if err := adminDo(http.MethodPut, "http://"+e.fps[i]+"/"+fp, "panic"); err != nil {
		// A busy member crosses the failpoint at once and may die before
		// it answers the PUT (EOF): that is the crash asked for.
		if !waitUntil(ctx, 5*time.Second, func() bool { return !m.Running() }) {
			return "", false, err
		}
	}
	if !waitUntil(ctx, within, func() bool { return !m.Running() }) {
		adminDo(http.MethodDelete, "http://"+e.fps[i]+"/"+fp, "")
		return fmt.Sprintf("panic at %s on %s: not reached within %v", fp, m.Name, within), false, nil
	}
	return fmt.Sprintf("panic at %s on %s", fp, m.Name), true, nil
}

// forceSnapshot isolates a follower until the leader has compacted its raft
// log past the follower's position (more than --snapshot-count plus
// --snapshot-catchup-entries acknowledged writes), then lets it back: it can
// only catch up from a database snapshot. With fp set, the follower panics
// at that failpoint (raftBeforeApplySnap, raftAfterApplySnap) while
// installing it, and installs one after its restart.
func forceSnapshot(ctx context.Context, e *env, fp string) (string, bool, error) {
	i, err := e.follower(ctx)
	if err != nil {
		return "", false, err
	}
	m := e.c.Members[i]
	installed := func() int {
		b, _ := os.ReadFile(m.LogPath)
		// A panic at raftBeforeApplySnap leaves the received database on
		// disk; the restart finishes that install instead of asking again.
		return strings.Count(string(b), "installed a snapshot from the leader") +
			strings.Count(string(b), "finishing an interrupted snapshot install")
	}
	before := installed()
	if err := e.isolate(i); err != nil {
		return "", false, err
	}
	need := 2*e.snapshotCount + e.catchUp
	start := e.h.okWrites.Load()
	if !waitUntil(ctx, 90*time.Second, func() bool { return e.h.okWrites.Load() >= start+need }) {
		e.clearFaults()
		return "", false, fmt.Errorf("fewer than %d writes acknowledged in 90s with %s isolated", need, m.Name)
	}
	if fp != "" {
		if err := adminDo(http.MethodPut, "http://"+e.fps[i]+"/"+fp, "panic"); err != nil {
			return "", false, err
		}
	}
	if err := e.clearFaults(); err != nil {
		return "", false, err
	}
	desc := fmt.Sprintf("isolate %s for %d writes", m.Name, e.h.okWrites.Load()-start)
	if fp != "" {
		if !waitUntil(ctx, 30*time.Second, func() bool { return !m.Running() }) {
			adminDo(http.MethodDelete, "http://"+e.fps[i]+"/"+fp, "")
			return desc + ", panic at " + fp + ": not reached", false, nil
		}
		desc += ", panic at " + fp
		if err := m.Start(); err != nil {
			return "", false, err
		}
		// Reaching the failpoint proves the snapshot arrived. After a panic
		// at raftAfterApplySnap the restart loads the installed snapshot and
		// logs no install line, so a missing line is no failure here.
		if waitUntil(ctx, 10*time.Second, func() bool { return installed() > before }) {
			return desc + ", snapshot installed", true, nil
		}
		return desc + ", restarted on the installed snapshot", true, nil
	}
	if !waitUntil(ctx, 60*time.Second, func() bool { return installed() > before }) {
		return desc + ", but no snapshot was installed", false, nil
	}
	return desc + ", snapshot installed", true, nil
}
