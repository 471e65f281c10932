package e2e

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestWatchProgressNotifyInterval: with --watch-progress-notify-interval
// 500ms, an idle watch created with progress_notify hears from the server
// within the interval (etcd's ticker runs per stream, so the first notify
// comes at most one interval after the stream opened), again one interval
// later, and each notify carries the current revision.
func TestWatchProgressNotifyInterval(t *testing.T) {
	const interval = 500 * time.Millisecond
	c := startCluster(t, 3, "--watch-progress-notify-interval", interval.String())
	cli, err := c.Client(c.Members[0].ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := testCtx(t, 30*time.Second)
	put, err := cli.Put(ctx, "other", "x") // a revision > 1 for the notify to report
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wch := cli.Watch(wctx, "idle", clientv3.WithProgressNotify(), clientv3.WithCreatedNotify())
	created := time.Now()
	// Slack for scheduling on a loaded machine; a missing flag (10m default)
	// would still fail by a wide margin.
	const slack = 400 * time.Millisecond
	var notifies []time.Duration
	for len(notifies) < 2 {
		select {
		case wr, ok := <-wch:
			if !ok || wr.Err() != nil {
				t.Fatalf("watch ended: ok %v err %v", ok, wr.Err())
			}
			if wr.Created {
				created = time.Now()
				continue
			}
			if !wr.IsProgressNotify() {
				t.Fatalf("unexpected watch response %+v", wr)
			}
			if wr.Header.Revision != put.Header.Revision {
				t.Fatalf("progress notify at revision %d, want %d", wr.Header.Revision, put.Header.Revision)
			}
			notifies = append(notifies, time.Since(created))
		case <-ctx.Done():
			t.Fatalf("%d progress notifies before the deadline", len(notifies))
		}
	}
	t.Logf("progress notifies at %v after the watch was created", notifies)
	if notifies[0] > interval+slack {
		t.Fatalf("first progress notify after %v, want within %v", notifies[0], interval)
	}
	if gap := notifies[1] - notifies[0]; gap > interval+slack {
		t.Fatalf("second progress notify %v after the first, want within %v", gap, interval)
	}
}

// TestWatchProgressRequestWhileCatchingUp: a progress request that arrives
// while a watcher is still replaying history is answered once the watcher
// has caught up, EVEN IF the replay found no event for it. The watcher
// below starts at revision 1 of a history of more than maxRevsPerSync
// revisions (so its replay takes several sync steps) on a key nothing
// wrote; the client MUST still get its progress notify (clientv3
// RequestProgress callers wait for it, e.g. Kubernetes' consistent reads
// from cache).
func TestWatchProgressRequestWhileCatchingUp(t *testing.T) {
	c := startCluster(t, 1)
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := testCtx(t, 60*time.Second)
	const revs, writers = 5000, 50
	errc := make(chan error, writers)
	for w := 0; w < writers; w++ {
		go func() {
			for i := 0; i < revs/writers; i++ {
				if _, err := cli.Put(ctx, "history", "x"); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	for w := 0; w < writers; w++ {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	cur, err := cli.Get(ctx, "history")
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wch := cli.Watch(wctx, "never-written", clientv3.WithRev(1))
	if err := cli.RequestProgress(wctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	select {
	case wr, ok := <-wch:
		if !ok || !wr.IsProgressNotify() {
			t.Fatalf("got %+v (ok %v), want a progress notify", wr, ok)
		}
		if wr.Header.Revision < cur.Header.Revision {
			t.Fatalf("progress notify at revision %d, want >= %d", wr.Header.Revision, cur.Header.Revision)
		}
	case <-deadline.C:
		t.Fatal("no progress notify within 5s of RequestProgress: the deferred request was never answered")
	}
}
