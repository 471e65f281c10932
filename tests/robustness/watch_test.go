package robustness

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// event is one watch event as recorded.
type event struct {
	Rev     int64 // mod revision (for a delete: the revision of the delete)
	Key     int
	Delete  bool
	Value   string
	Version int64
}

// watchResp is one WatchResponse: the unit that must hold all of one
// revision's events (atomic delivery).
type watchResp struct {
	Time   int64 // nanoseconds since the run started
	Events []event
}

// watcher watches the whole keyspace from revision 1 on one member, through
// every restart of that member (clientv3 resumes from the next revision).
type watcher struct {
	member string

	mu    sync.Mutex // guards resps, errs, last
	resps []watchResp
	errs  []string
	last  int64 // highest revision seen
}

func (w *watcher) run(ctx context.Context, cli *clientv3.Client, h *history) {
	wch := cli.Watch(clientv3.WithRequireLeader(ctx), "key/", clientv3.WithPrefix(), clientv3.WithRev(1))
	for ctx.Err() == nil {
		for r := range wch {
			if err := r.Err(); err != nil {
				w.mu.Lock()
				w.errs = append(w.errs, err.Error())
				w.mu.Unlock()
				continue
			}
			if len(r.Events) == 0 {
				continue
			}
			wr := watchResp{Time: h.now()}
			for _, e := range r.Events {
				wr.Events = append(wr.Events, event{Rev: e.Kv.ModRevision, Key: keyIndex(string(e.Kv.Key)),
					Delete: e.Type == mvccpb.DELETE, Value: string(e.Kv.Value), Version: e.Kv.Version})
			}
			w.mu.Lock()
			w.resps = append(w.resps, wr)
			w.last = wr.Events[len(wr.Events)-1].Rev
			w.mu.Unlock()
		}
		// The channel closes when the watch is cancelled (e.g. "no leader"
		// with WithRequireLeader): watch again from the next revision.
		w.mu.Lock()
		from := w.last + 1
		w.mu.Unlock()
		if ctx.Err() == nil {
			wch = cli.Watch(clientv3.WithRequireLeader(ctx), "key/", clientv3.WithPrefix(), clientv3.WithRev(from))
		}
	}
}

func (w *watcher) lastRev() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

// revEvents is the events of one revision.
type revEvents struct {
	Time   int64 // when the first watcher received it
	Events []event
}

// checkWatches checks each watcher's stream: ordered (revisions strictly
// grow from one response to the next and never go back inside one), unique
// (no revision delivered twice), atomic (a revision's events in one
// response), reliable (every revision 2..finalRev delivered: every write
// that changes the keyspace bumps the revision, so there are no gaps); and
// that all watchers saw the same events at every revision. It returns the
// revision history the watchers agree on.
func checkWatches(ws []*watcher, finalRev int64) (map[int64]revEvents, []string) {
	var problems []string
	bad := func(f string, a ...interface{}) { problems = append(problems, fmt.Sprintf(f, a...)) }
	agreed := map[int64]revEvents{}
	for _, w := range ws {
		w.mu.Lock()
		resps := append([]watchResp(nil), w.resps...)
		w.mu.Unlock()
		seen := map[int64]bool{}
		var prev int64
		for i, r := range resps {
			first := r.Events[0].Rev
			if first <= prev {
				bad("%s: response %d starts at revision %d after revision %d (ordered/unique)", w.member, i, first, prev)
			}
			var cur int64
			var evs []event
			flush := func() {
				if cur == 0 {
					return
				}
				if seen[cur] {
					bad("%s: revision %d delivered twice (unique/atomic)", w.member, cur)
				}
				seen[cur] = true
				if a, ok := agreed[cur]; ok {
					if fmt.Sprint(a.Events) != fmt.Sprint(evs) {
						bad("%s: revision %d has events %v, another member's watch had %v", w.member, cur, evs, a.Events)
					}
					if r.Time < a.Time {
						agreed[cur] = revEvents{Time: r.Time, Events: a.Events}
					}
				} else {
					agreed[cur] = revEvents{Time: r.Time, Events: evs}
				}
			}
			for _, e := range r.Events {
				if e.Rev < cur {
					bad("%s: revision %d after %d inside one response (ordered)", w.member, e.Rev, cur)
				}
				if e.Rev != cur {
					flush()
					cur, evs = e.Rev, nil
				}
				evs = append(evs, e)
			}
			flush()
			prev = cur
		}
		for rev := int64(2); rev <= finalRev; rev++ {
			if !seen[rev] {
				bad("%s: revision %d never delivered (reliable); last delivered %d", w.member, rev, prev)
				break
			}
		}
		w.mu.Lock()
		for _, e := range w.errs {
			// "no leader" cancels a WithRequireLeader watch during a fault;
			// it is resumed from the next revision. Anything else is wrong.
			if !strings.Contains(e, "no leader") && len(problems) < 50 {
				bad("%s: watch error %s", w.member, e)
			}
		}
		w.mu.Unlock()
	}
	return agreed, problems
}
