package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// evString is an event as the tests compare it.
func evString(ev *clientv3.Event) string {
	return fmt.Sprintf("%s %s=%s@%d", ev.Type, ev.Kv.Key, ev.Kv.Value, ev.Kv.ModRevision)
}

// collect reads events from wch until n arrived, the channel closes or ctx ends.
func collect(t *testing.T, ctx context.Context, wch clientv3.WatchChan, n int) ([]*clientv3.Event, []clientv3.WatchResponse) {
	t.Helper()
	var (
		evs   []*clientv3.Event
		resps []clientv3.WatchResponse
	)
	for len(evs) < n {
		select {
		case wr, ok := <-wch:
			if !ok {
				t.Fatalf("watch channel closed after %d of %d events", len(evs), n)
			}
			if err := wr.Err(); err != nil {
				t.Fatalf("watch error after %d events: %v", len(evs), err)
			}
			resps = append(resps, wr)
			evs = append(evs, wr.Events...)
		case <-ctx.Done():
			t.Fatalf("got %d of %d events before the deadline", len(evs), n)
		}
	}
	return evs, resps
}

// TestWatch covers history from an old revision then live events, prev_kv,
// filters, one txn's events in one response, and a watch from a compacted
// revision.
func TestWatch(t *testing.T) {
	c := startCluster(t, 3)
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := testCtx(t, time.Minute)

	first, err := cli.Put(ctx, "w/a", "1")
	if err != nil {
		t.Fatal(err)
	}
	cli.Put(ctx, "w/b", "2")
	cli.Put(ctx, "x", "not watched")
	cli.Delete(ctx, "w/a")

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wch := cli.Watch(wctx, "w/", clientv3.WithPrefix(), clientv3.WithRev(first.Header.Revision), clientv3.WithPrevKV())
	evs, _ := collect(t, ctx, wch, 3)
	// Live: a txn of three puts arrives as ONE response.
	if _, err := cli.Txn(ctx).Then(
		clientv3.OpPut("w/t1", "x"), clientv3.OpPut("w/t2", "x"), clientv3.OpPut("w/t3", "x"),
	).Commit(); err != nil {
		t.Fatal(err)
	}
	more, resps := collect(t, ctx, wch, 3)
	if len(resps) != 1 {
		t.Fatalf("txn events came in %d responses, want 1", len(resps))
	}
	evs = append(evs, more...)
	var got []string
	for _, ev := range evs {
		got = append(got, evString(ev))
	}
	r := first.Header.Revision
	want := []string{
		fmt.Sprintf("PUT w/a=1@%d", r), fmt.Sprintf("PUT w/b=2@%d", r+1), fmt.Sprintf("DELETE w/a=@%d", r+3),
		fmt.Sprintf("PUT w/t1=x@%d", r+4), fmt.Sprintf("PUT w/t2=x@%d", r+4), fmt.Sprintf("PUT w/t3=x@%d", r+4),
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events\n got %v\nwant %v", got, want)
	}
	if evs[2].PrevKv == nil || string(evs[2].PrevKv.Value) != "1" {
		t.Fatalf("delete event prev_kv = %v, want w/a=1", evs[2].PrevKv)
	}

	// NOPUT filter: only the delete arrives.
	fctx, fcancel := context.WithCancel(ctx)
	defer fcancel()
	fch := cli.Watch(fctx, "w/b", clientv3.WithFilterPut())
	// Progress request: answered once the watcher is registered and synced.
	if err := cli.RequestProgress(ctx); err != nil {
		t.Fatal(err)
	}
	cli.Put(ctx, "w/b", "3")
	cli.Delete(ctx, "w/b")
	fev, _ := collect(t, ctx, fch, 1)
	if fev[0].Type != mvccpb.DELETE {
		t.Fatalf("NOPUT watch got %s", evString(fev[0]))
	}

	// Compacted start revision: the watch ends with the compact revision.
	cur, err := cli.Get(ctx, "w/b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, cur.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	cch := cli.Watch(ctx, "w/", clientv3.WithPrefix(), clientv3.WithRev(first.Header.Revision))
	select {
	case wr := <-cch:
		if wr.CompactRevision != cur.Header.Revision || wr.Err() != rpctypes.ErrCompacted {
			t.Fatalf("compacted watch: compact_revision %d err %v, want %d and ErrCompacted", wr.CompactRevision, wr.Err(), cur.Header.Revision)
		}
	case <-ctx.Done():
		t.Fatal("no response to a watch from a compacted revision")
	}
}

// TestWatchResumeAfterMemberKill kills the member a watch is connected to
// while writes go on; the client reconnects to another member and resumes
// from the next revision. The events it sees MUST equal, one for one, a
// fresh watch over the same revisions: nothing lost, nothing twice.
func TestWatchResumeAfterMemberKill(t *testing.T) {
	c := startCluster(t, 3)
	ctx := testCtx(t, 90*time.Second)
	lead, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	victim := c.Members[(lead+1)%3] // a follower: writes go on without an election
	var others []string
	for _, m := range c.Members {
		if m != victim {
			others = append(others, m.ClientURL)
		}
	}
	wcli, err := c.Client(victim.ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	defer wcli.Close()
	pcli, err := c.Client(others...)
	if err != nil {
		t.Fatal(err)
	}
	defer pcli.Close()

	start, err := pcli.Put(ctx, "r/start", "")
	if err != nil {
		t.Fatal(err)
	}
	wch := wcli.Watch(ctx, "r/", clientv3.WithPrefix(), clientv3.WithRev(start.Header.Revision))
	const total = 300
	done := make(chan error, 1)
	go func() {
		for i := 0; i < total; i++ {
			if _, err := pcli.Put(ctx, fmt.Sprintf("r/%03d", i), fmt.Sprint(i)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	got, _ := collect(t, ctx, wch, 50)
	if err := victim.Kill(); err != nil {
		t.Fatal(err)
	}
	wcli.SetEndpoints(others...) // the client's next connection goes to a live member
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	last, err := pcli.Get(ctx, "r/299")
	if err != nil {
		t.Fatal(err)
	}
	for len(got) == 0 || got[len(got)-1].Kv.ModRevision < last.Kvs[0].ModRevision {
		more, _ := collect(t, ctx, wch, 1)
		got = append(got, more...)
	}

	fresh := pcli.Watch(ctx, "r/", clientv3.WithPrefix(), clientv3.WithRev(start.Header.Revision))
	want, _ := collect(t, ctx, fresh, total+1)
	if len(got) != len(want) {
		t.Fatalf("resumed watch saw %d events, a fresh watch %d", len(got), len(want))
	}
	for i := range want {
		if evString(got[i]) != evString(want[i]) {
			t.Fatalf("event %d: resumed %s, fresh %s", i, evString(got[i]), evString(want[i]))
		}
	}
}
