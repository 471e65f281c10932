package e2e

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kvtrace/kvtrace/internal/localcluster"
)

// TestLinearizableReadSeesAcknowledgedWrites runs many concurrent
// linearizable gets on every member (so followers batch their reads into
// shared ReadIndex rounds) while one writer increments a key through the
// leader's log. A get that began after a put was acknowledged MUST return
// that put's value or a newer one, whichever member answers it; a follower
// that served a read from a round started before the read arrived, or
// before it applied the round's index, would return an older value. The
// second case slows every apply (failpoint beforeApply) so that followers
// lag the leader's acknowledgement and a missing wait for the applied index
// shows up as a stale read.
func TestLinearizableReadSeesAcknowledgedWrites(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
	}{
		{"plain", nil},
		{"slow-apply", []string{"GOFAIL_FAILPOINTS=beforeApply=sleep(2)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startConfigured(t, localcluster.Config{Dir: keptDir(t), Size: 3,
				ExtraArgs: baseArgs, Env: func(int) []string { return tc.env }})
			readAfterWrite(t, c)
		})
	}
}

func readAfterWrite(t *testing.T, c *localcluster.Cluster) {
	ctx := testCtx(t, 90*time.Second)
	writer, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	var readers []*clientv3.Client
	for _, ep := range c.Endpoints() {
		cli, err := c.Client(ep) // one member each: its reads go through its own ReadIndex rounds
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		readers = append(readers, cli)
	}
	const key, writes, readersPerMember = "lr-counter", 200, 8
	if _, err := writer.Put(ctx, key, "0"); err != nil {
		t.Fatal(err)
	}

	var acked atomic.Int64 // the newest value a Put returned for
	done := make(chan struct{})
	var reads atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	fail := func(err error) {
		select {
		case errc <- err:
		default:
		}
	}
	for m, cli := range readers {
		for range readersPerMember {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-done:
						return
					default:
					}
					before := acked.Load()
					resp, err := cli.Get(ctx, key) // linearizable by default
					if err != nil {
						fail(errors.New("member " + c.Members[m].Name + ": get: " + err.Error()))
						return
					}
					if len(resp.Kvs) != 1 {
						fail(errors.New("member " + c.Members[m].Name + ": key missing"))
						return
					}
					got, err := strconv.ParseInt(string(resp.Kvs[0].Value), 10, 64)
					if err != nil {
						fail(err)
						return
					}
					if got < before {
						fail(errors.New("member " + c.Members[m].Name + ": stale linearizable read: got " +
							strconv.FormatInt(got, 10) + " after put " + strconv.FormatInt(before, 10) + " was acknowledged"))
						return
					}
					reads.Add(1)
				}
			}()
		}
	}
	for i := int64(1); i <= writes; i++ {
		if _, err := writer.Put(ctx, key, strconv.FormatInt(i, 10)); err != nil {
			close(done)
			wg.Wait()
			t.Fatalf("put %d: %v", i, err)
		}
		acked.Store(i)
		select {
		case err := <-errc:
			close(done)
			wg.Wait()
			t.Fatal(err)
		default:
		}
	}
	close(done)
	wg.Wait()
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}
	if reads.Load() == 0 {
		t.Fatal("no linearizable read completed")
	}
	t.Logf("%d linearizable reads during %d writes", reads.Load(), writes)
}

// TestLinearizableReadNeedsQuorum stops two of three members: the survivor
// still answers serializable gets from its own store, but a linearizable get
// MUST NOT succeed, since no heartbeat quorum can confirm its read index.
func TestLinearizableReadNeedsQuorum(t *testing.T) {
	c := startCluster(t, 3)
	ctx := testCtx(t, 60*time.Second)
	cli, err := c.Client(c.Members[0].ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Put(ctx, "q", "v"); err != nil {
		t.Fatal(err)
	}
	// The survivor applied the put: a linearizable get on it sees it.
	if g, err := cli.Get(ctx, "q"); err != nil || len(g.Kvs) != 1 {
		t.Fatalf("get before the kill: %v %v", g, err)
	}
	for _, m := range c.Members[1:] {
		if err := m.Kill(); err != nil {
			t.Fatal(err)
		}
	}
	if g, err := cli.Get(ctx, "q", clientv3.WithSerializable()); err != nil || len(g.Kvs) != 1 {
		t.Fatalf("serializable get without quorum: %v %v, want the local value", g, err)
	}
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if g, err := cli.Get(rctx, "q"); err == nil {
		t.Fatalf("linearizable get without quorum returned %v, want an error", g)
	}
}
