package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kvtrace/kvtrace/internal/localcluster"
)

// newNetns gives the test n network namespaces joined by a bridge
// (localcluster.Netns), removed in t.Cleanup whether the test passes or
// fails. It skips the test where namespaces cannot be created.
func newNetns(t *testing.T, n int) *localcluster.Netns {
	t.Helper()
	nn, err := localcluster.NewNetns(n)
	if errors.Is(err, localcluster.ErrNetnsUnavailable) {
		t.Skipf("SKIPPED: real partitions need network namespaces (root or CAP_NET_ADMIN, iproute2): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nn.Close(); err != nil {
			t.Errorf("removing the namespaces: %v", err)
		}
	})
	t.Logf("namespaces %v, bridge %s %s.254/24, links %v", nn.Names, nn.Bridge, nn.Subnet, nn.Links)
	return nn
}

// startPartitionCluster starts 3 members with cfg (Binary, Dir and the
// timing flags filled in), prints their logs if the test fails, and waits
// for a leader.
func startPartitionCluster(t *testing.T, cfg localcluster.Config) *localcluster.Cluster {
	t.Helper()
	cfg.Dir, cfg.Size, cfg.ExtraArgs = keptDir(t), 3, baseArgs
	// startConfigured registers its cleanup AFTER newNetns's, so it runs
	// BEFORE it: the members MUST exit before their namespaces are removed.
	return startConfigured(t, cfg)
}

// partition is one way to cut member i off from the others and let it back.
type partition struct {
	c    *localcluster.Cluster
	cut  func(i int) error
	heal func(i int) error
	// in is the command prefix that runs etcdctl where member i's client
	// URL is reachable while it is cut off (inside its namespace for a real
	// partition; nothing for transport faults, which spare client traffic).
	in func(i int) []string
}

// partitionOutcome is what the test observed, compared across the two kinds.
type partitionOutcome struct {
	oldLeader, newLeader string
	oldTerm, newTerm     uint64
	exTerm               uint64        // the ex-leader's term once it stepped down
	elected              time.Duration // cut → both others agree on a new leader
	steppedDown          time.Duration // cut → the ex-leader reports it leads no more
	held                 time.Duration // cut → heal
	rejoined             time.Duration // heal → all three agree, ex-leader a follower
	caughtUp             time.Duration // heal → every acknowledged key readable from the ex-leader
	isolatedPut          string        // how the put sent to the cut-off leader failed
}

// TestNetnsLeaderPartition cuts the leader off from the two other members,
// once by taking its veth link down (members in their own network
// namespaces) and once with the transport's blackhole faults (members on
// loopback), and asserts the same outcome for both: the two others elect a
// new leader at a higher term and keep accepting writes, a put sent to the
// ex-leader fails and is never applied, the ex-leader steps down (CheckQuorum),
// and once let back it follows the new leader (no disruption: PreVote) and
// serves every acknowledged key.
func TestNetnsLeaderPartition(t *testing.T) {
	outcomes := map[string]partitionOutcome{}
	t.Run("link-down", func(t *testing.T) {
		nn := newNetns(t, 3)
		c := startPartitionCluster(t, localcluster.Config{Wrap: nn.Wrap, Host: nn.Host})
		outcomes["link-down"] = runPartition(t, partition{c: c, cut: nn.LinkDown, heal: nn.LinkUp, in: nn.Wrap})
	})
	t.Run("transport-blackhole", func(t *testing.T) {
		ports, err := localcluster.FreePorts(3)
		if err != nil {
			t.Fatal(err)
		}
		admin := func(i int) string { return fmt.Sprintf("http://127.0.0.1:%d/faults", ports[i]) }
		c := startPartitionCluster(t, localcluster.Config{MemberArgs: func(i int) []string {
			return []string{"--admin-addr", fmt.Sprintf("127.0.0.1:%d", ports[i])}
		}})
		cut := func(li int) error {
			for j := range c.Members {
				body := fmt.Sprintf(`{"to":%q,"type":"any","blackhole":true}`, c.Members[li].Name)
				if j == li {
					body = `{"type":"any","blackhole":true}`
				}
				httpDo(t, http.MethodPost, admin(j), body)
			}
			return nil
		}
		heal := func(int) error {
			for j := range c.Members {
				httpDo(t, http.MethodDelete, admin(j), "")
			}
			return nil
		}
		outcomes["transport-blackhole"] = runPartition(t, partition{c: c, cut: cut, heal: heal, in: func(int) []string { return nil }})
	})
	var b strings.Builder
	for _, k := range []string{"link-down", "transport-blackhole"} {
		o, ok := outcomes[k]
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "\n%-20s leader %s→%s term %d→%d (ex-leader's after stepping down: %d); elected %v, ex-leader stepped down %v, healed after %v, rejoined %v, caught up %v after heal; isolated put: %s",
			k, o.oldLeader, o.newLeader, o.oldTerm, o.newTerm, o.exTerm, o.elected.Round(time.Millisecond), o.steppedDown.Round(time.Millisecond), o.held.Round(time.Millisecond),
			o.rejoined.Round(time.Millisecond), o.caughtUp.Round(time.Millisecond), o.isolatedPut)
	}
	t.Logf("outcomes:%s", b.String())
}

func runPartition(t *testing.T, p partition) partitionOutcome {
	ctx := testCtx(t, 2*time.Minute)
	c := p.c
	li, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ex := c.Members[li]
	st, err := memberStatus(ctx, c, li)
	if err != nil {
		t.Fatal(err)
	}
	o := partitionOutcome{oldLeader: ex.Name, oldTerm: st.RaftTerm}
	oldID := st.Header.MemberId
	others := []int{(li + 1) % 3, (li + 2) % 3}

	all, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	var acked []string
	for i := range 5 {
		k := fmt.Sprintf("before/%d", i)
		if err := putWithin(all, 5*time.Second, k, k); err != nil {
			t.Fatalf("put %s before the partition: %v", k, err)
		}
		acked = append(acked, k)
	}

	cutAt := time.Now()
	if err := p.cut(li); err != nil {
		t.Fatal(err)
	}
	// Sent at once, so it likely reaches the ex-leader while it still
	// believes it leads: it may append the entry but MUST NOT commit it.
	isolatedPut := make(chan error, 1)
	go func() {
		_, err := ctlIn(ctx, p.in(li), ex.ClientURL, "put", "isolated", "never-acknowledged")
		isolatedPut <- err
	}()

	pollUntil(t, ctx, ex.Name+" (cut off) to step down", func() (bool, string) {
		lead, term, err := ctlStatus(ctx, p.in(li), ex.ClientURL)
		if err != nil {
			return false, err.Error()
		}
		if lead == oldID {
			return false, fmt.Sprintf("%s still leads at term %d", ex.Name, term)
		}
		o.exTerm = term
		return true, ""
	})
	o.steppedDown = time.Since(cutAt)
	var newID uint64
	pollUntil(t, ctx, "the two others agree on a new leader at a higher term", func() (bool, string) {
		var lead, term uint64
		for _, j := range others {
			s, err := memberStatus(ctx, c, j)
			if err != nil {
				return false, err.Error()
			}
			if s.Leader == 0 || s.Leader == oldID || (lead != 0 && s.Leader != lead) || s.RaftTerm <= o.oldTerm {
				return false, fmt.Sprintf("%s: leader %x term %d (old leader %x term %d)", c.Members[j].Name, s.Leader, s.RaftTerm, oldID, o.oldTerm)
			}
			lead, term = s.Leader, s.RaftTerm
		}
		newID, o.newTerm = lead, term
		return true, ""
	})
	o.elected = time.Since(cutAt)
	for _, j := range others {
		if s, err := memberStatus(ctx, c, j); err == nil && s.Header.MemberId == newID {
			o.newLeader = c.Members[j].Name
		}
	}

	maj, err := c.Client(c.Members[others[0]].ClientURL, c.Members[others[1]].ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	defer maj.Close()
	for i := range 5 {
		k := fmt.Sprintf("during/%d", i)
		wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		pollUntil(t, wctx, "the majority to acknowledge "+k, func() (bool, string) {
			if err := putWithin(maj, 3*time.Second, k, k); err != nil {
				return false, err.Error()
			}
			return true, ""
		})
		cancel()
		acked = append(acked, k)
	}

	if err := <-isolatedPut; err == nil {
		t.Fatalf("the cut-off ex-leader %s acknowledged a put", ex.Name)
	} else {
		o.isolatedPut = lastLine(err.Error())
	}

	healAt := time.Now()
	o.held = healAt.Sub(cutAt)
	if err := p.heal(li); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, ctx, ex.Name+" to rejoin as a follower of "+o.newLeader, func() (bool, string) {
		for j := range c.Members {
			s, err := memberStatus(ctx, c, j)
			if err != nil {
				return false, err.Error()
			}
			if s.Leader != newID {
				return false, fmt.Sprintf("%s: leader %x term %d, want %x", c.Members[j].Name, s.Leader, s.RaftTerm, newID)
			}
		}
		return true, ""
	})
	o.rejoined = time.Since(healAt)
	exCli, err := c.Client(ex.ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	defer exCli.Close()
	pollUntil(t, ctx, ex.Name+" to serve every acknowledged key", func() (bool, string) {
		gctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		r, err := exCli.Get(gctx, "", clientv3.WithPrefix(), clientv3.WithSerializable())
		if err != nil {
			return false, err.Error()
		}
		have := map[string]string{}
		for _, kv := range r.Kvs {
			have[string(kv.Key)] = string(kv.Value)
		}
		for _, k := range acked {
			if have[k] != k {
				return false, fmt.Sprintf("%s has %d keys, misses %s", ex.Name, len(r.Kvs), k)
			}
		}
		return true, ""
	})
	o.caughtUp = time.Since(healAt)

	// The entry the cut-off leader may have appended was replaced by the new
	// leader's: the write is applied nowhere, not even on the ex-leader.
	for j, m := range c.Members {
		cli, err := c.Client(m.ClientURL)
		if err != nil {
			t.Fatal(err)
		}
		opts := []clientv3.OpOption{clientv3.WithSerializable()}
		if j != li {
			opts = nil
		}
		r, err := cli.Get(ctx, "isolated", opts...)
		cli.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Kvs) != 0 {
			t.Fatalf("%s applied the put the cut-off ex-leader never acknowledged", m.Name)
		}
	}
	return o
}

// memberStatus is Maintenance.Status of member i, asked from this process.
func memberStatus(ctx context.Context, c *localcluster.Cluster, i int) (*clientv3.StatusResponse, error) {
	m := c.Members[i]
	cli, err := c.Client(m.ClientURL)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	sctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	s, err := cli.Status(sctx, m.ClientURL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.Name, err)
	}
	return s, nil
}

// ctlIn runs the pinned etcdctl under prefix (e.g. ip netns exec NS)
// against one endpoint, with a short timeout.
func ctlIn(ctx context.Context, prefix []string, ep string, args ...string) (string, error) {
	argv := append(append(append([]string(nil), prefix...), etcdctlBin, "--endpoints="+ep, "--dial-timeout=1s", "--command-timeout=3s"), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("etcdctl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// endpointStatusJSON is the part of `etcdctl endpoint status -w json` read here.
type endpointStatusJSON []struct {
	Status struct {
		Leader   uint64 `json:"leader"`
		RaftTerm uint64 `json:"raftTerm"`
	} `json:"Status"`
}

// ctlStatus is Maintenance.Status of the member at ep, asked by etcdctl under prefix.
func ctlStatus(ctx context.Context, prefix []string, ep string) (leader, term uint64, err error) {
	out, err := ctlIn(ctx, prefix, ep, "endpoint", "status", "-w", "json")
	if err != nil {
		return 0, 0, err
	}
	var st endpointStatusJSON
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st) != 1 {
		return 0, 0, fmt.Errorf("endpoint status -w json printed %q: %v", out, err)
	}
	return st[0].Status.Leader, st[0].Status.RaftTerm, nil
}

// pollUntil calls cond every 100ms until it holds; at ctx's end it fails
// the test with what cond last reported.
func pollUntil(t *testing.T, ctx context.Context, what string, cond func() (bool, string)) {
	t.Helper()
	for {
		ok, last := cond()
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s; last: %s", what, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndex(s, "\n")+1:]
}
