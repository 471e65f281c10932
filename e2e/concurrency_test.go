package e2e

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// TestConcurrencyMutex: clients, each with its own connection (to a
// different member) and session, increment a counter with a plain
// read-then-write under concurrency.Mutex. Without mutual exclusion
// increments would be lost; the final value MUST be exact.
func TestConcurrencyMutex(t *testing.T) {
	c := startCluster(t, 3)
	ctx := testCtx(t, 90*time.Second)
	const clients, rounds = 5, 8
	var wg sync.WaitGroup
	errc := make(chan error, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errc <- func() error {
				cli, err := c.Client(c.Members[i%3].ClientURL)
				if err != nil {
					return err
				}
				defer cli.Close()
				sess, err := concurrency.NewSession(cli, concurrency.WithTTL(5))
				if err != nil {
					return err
				}
				defer sess.Close()
				mu := concurrency.NewMutex(sess, "/lock/counter")
				for r := 0; r < rounds; r++ {
					if err := mu.Lock(ctx); err != nil {
						return fmt.Errorf("lock: %w", err)
					}
					g, err := cli.Get(ctx, "counter")
					if err != nil {
						return err
					}
					n := 0
					if len(g.Kvs) == 1 {
						n, _ = strconv.Atoi(string(g.Kvs[0].Value))
					}
					if _, err := cli.Put(ctx, "counter", strconv.Itoa(n+1)); err != nil {
						return err
					}
					if err := mu.Unlock(ctx); err != nil {
						return fmt.Errorf("unlock: %w", err)
					}
				}
				return nil
			}()
		}(i)
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatal(err)
		}
	}
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	g, err := cli.Get(ctx, "counter")
	if err != nil || len(g.Kvs) != 1 || string(g.Kvs[0].Value) != strconv.Itoa(clients*rounds) {
		t.Fatalf("counter = %v (err %v), want %d", g.Kvs, err, clients*rounds)
	}
}

// TestConcurrencyElection: three candidates campaign; exactly one leads.
// Closing the leader's session (its lease is revoked) elects another.
func TestConcurrencyElection(t *testing.T) {
	c := startCluster(t, 3)
	ctx := testCtx(t, 90*time.Second)
	type cand struct {
		name string
		cli  *clientv3.Client
		sess *concurrency.Session
		e    *concurrency.Election
	}
	won := make(chan *cand, 3)
	var cands []*cand
	for i, m := range c.Members {
		cli, err := c.Client(m.ClientURL)
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		sess, err := concurrency.NewSession(cli, concurrency.WithTTL(5))
		if err != nil {
			t.Fatal(err)
		}
		cd := &cand{name: fmt.Sprint("cand", i), cli: cli, sess: sess, e: concurrency.NewElection(sess, "/election")}
		cands = append(cands, cd)
		go func() {
			if err := cd.e.Campaign(ctx, cd.name); err == nil {
				won <- cd
			}
		}()
	}
	obs, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer obs.Close()
	// The leader is the candidate key with the lowest create revision
	// (what Election.Leader reads), seen from a client of its own.
	leaderIs := func(name string) {
		t.Helper()
		for {
			g, err := obs.Get(ctx, "/election/", clientv3.WithFirstCreate()...)
			if err == nil && len(g.Kvs) == 1 && string(g.Kvs[0].Value) == name {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("election leader is not %s (last: %v %v)", name, g, err)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	first := <-won
	leaderIs(first.name)
	select {
	case other := <-won:
		t.Fatalf("%s and %s both won", first.name, other.name)
	case <-time.After(time.Second):
	}
	if err := first.sess.Close(); err != nil { // revokes its lease: its key goes
		t.Fatal(err)
	}
	var second *cand
	select {
	case second = <-won:
	case <-ctx.Done():
		t.Fatal("no new leader after the leader's session closed")
	}
	if second == first {
		t.Fatal("the closed candidate won again")
	}
	leaderIs(second.name)
}
