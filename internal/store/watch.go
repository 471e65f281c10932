package store

import (
	"errors"
	"sync"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// Watch: every write txn that changed something is announced to the
// watchers whose key range it touched, AFTER its revision is published
// (writeTxn.End). Modelled on etcd's watchableStore
// (server/storage/mvcc/watchable_store.go): watchers live in one of three
// groups and move between them; the apply loop never waits for a watcher.
//
//   - synced: caught up with the newest announced revision; notify hands each
//     one its events directly, with a non-blocking send.
//   - unsynced: behind (created with an old start revision, or their stream's
//     buffer was full); syncLoop replays their history from the `key` bucket
//     (through the write buffer, so uncommitted batches count) in steps of at
//     most maxRevsPerSync revisions, then moves them to synced.
//   - victims: a notify could not be delivered because the stream's buffer
//     was full; the undelivered response is kept on the watcher and syncLoop
//     retries it, then the watcher goes to unsynced or synced (etcd:
//     watchableStore.moveVictims).
//
// Guarantees, as etcd documents them: a watcher sees every event with
// revision >= its start revision exactly once, in revision order, and all
// events of one revision (one txn) in one WatchResponse.

// WatchID identifies a watcher inside its WatchStream.
type WatchID int64

// AutoWatchID asks Watch to choose the id (etcd: mvcc.AutoWatchID).
const AutoWatchID WatchID = 0

// ProgressAllID is the WatchID of a stream-wide progress response
// (clientv3.InvalidWatchID).
const ProgressAllID WatchID = -1

const (
	// watchChanLen is the per-stream buffer between the store and the
	// stream's sender (etcd: chanBufLen).
	watchChanLen = 128
	// maxRevsPerSync bounds the history one sync step reads while holding
	// the watch lock and the store's read lock, so a watcher far behind
	// cannot stall the apply loop (etcd bounds the same work by
	// maxWatchersPerSync and watchBatchMaxRevs).
	maxRevsPerSync = 1000
	// maxWatchersPerSync bounds the unsynced watchers one step serves.
	maxWatchersPerSync = 512
)

var (
	// ErrWatcherNotExist: Cancel or RequestProgress named an unknown id.
	ErrWatcherNotExist = errors.New("mvcc: watcher does not exist")
	// ErrDuplicateWatchID: the client chose an id already in use on its stream.
	ErrDuplicateWatchID = errors.New("mvcc: duplicate watch ID provided on the WatchStream")
	// ErrEmptyWatcherRange: key >= end.
	ErrEmptyWatcherRange = errors.New("mvcc: watcher range is empty")
)

// WatchResponse is what a WatchStream delivers. Events MUST NOT be modified:
// they are shared by every watcher that matched them.
type WatchResponse struct {
	WatchID WatchID
	// Events of one or more whole revisions, in revision order. Empty for a
	// progress response or a compaction notice.
	Events []*mvccpb.Event
	// Revision is the store revision the response is current at: every event
	// up to it has been delivered to this watcher.
	Revision int64
	// CompactRevision is set when the watcher's start revision was
	// compacted; the watcher is gone when this is delivered.
	CompactRevision int64
}

// EventFilter returns true for events the watcher does NOT want.
type EventFilter func(*mvccpb.Event) bool

type watchGroup int

const (
	groupSynced watchGroup = iota
	groupUnsynced
	groupVictim
)

type watcher struct {
	id     WatchID
	ws     *WatchStream
	span   keySpan
	filter EventFilter
	// minRev is the next revision this watcher needs.
	minRev int64
	group  watchGroup
	// pending is the undelivered response of a victim.
	pending *WatchResponse
}

// watchHub holds every watcher of a Store.
type watchHub struct {
	s *Store
	// mu guards the groups, every watcher's fields, notifiedRev and every
	// send into a stream's channel (so a channel is closed under it too).
	// Lock order: backend.mu BEFORE watchHub.mu BEFORE Store.mu BEFORE
	// backend.bufMu. notify is called AFTER Store.mu is released.
	mu       sync.Mutex
	synced   map[*watcher]struct{}
	unsynced map[*watcher]struct{}
	victims  map[*watcher]struct{}
	// notifiedRev is the newest revision announced to watchers. It is the
	// revision progress responses report and the upper bound of history
	// replay: every revision <= notifiedRev is published in the store, and
	// every later one will reach synced watchers through notify.
	notifiedRev int64
	kick        chan struct{}
}

func newWatchHub(s *Store) *watchHub {
	return &watchHub{
		s:           s,
		synced:      make(map[*watcher]struct{}),
		unsynced:    make(map[*watcher]struct{}),
		victims:     make(map[*watcher]struct{}),
		notifiedRev: s.currentRev,
		kick:        make(chan struct{}, 1),
	}
}

func (h *watchHub) wake() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// setGroup moves w to group g. h.mu MUST be held.
func (h *watchHub) setGroup(w *watcher, g watchGroup) {
	delete(h.groupOf(w.group), w)
	w.group = g
	h.groupOf(g)[w] = struct{}{}
	if g != groupSynced {
		h.wake()
	}
}

func (h *watchHub) groupOf(g watchGroup) map[*watcher]struct{} {
	switch g {
	case groupSynced:
		return h.synced
	case groupUnsynced:
		return h.unsynced
	default:
		return h.victims
	}
}

// notify announces the changes of the write txn that made revision rev.
// Called by writeTxn.End on the apply goroutine AFTER the revision is
// visible to readers, once per revision, in order. It never blocks on a
// watcher: a full stream buffer turns the watcher into a victim.
func (h *watchHub) notify(rev int64, changes []*mvccpb.KeyValue) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.notifiedRev = rev
	if len(h.synced) == 0 {
		return
	}
	evs := changesToEvents(changes)
	for w := range h.synced {
		if rev < w.minRev {
			continue // started at a future revision
		}
		w.minRev = rev + 1
		sel := w.selectEvents(evs)
		if len(sel) == 0 {
			continue
		}
		resp := WatchResponse{WatchID: w.id, Events: sel, Revision: rev}
		if !w.ws.trySend(resp) {
			w.pending = &resp
			h.setGroup(w, groupVictim)
		}
	}
}

// changesToEvents turns a txn's changes into events. A change with version
// 0 is a deletion (the store keeps only key and mod revision for it).
func changesToEvents(changes []*mvccpb.KeyValue) []*mvccpb.Event {
	evs := make([]*mvccpb.Event, len(changes))
	for i, kv := range changes {
		typ := mvccpb.Event_PUT
		if kv.Version == 0 {
			typ = mvccpb.Event_DELETE
		}
		evs[i] = &mvccpb.Event{Type: typ, Kv: kv}
	}
	return evs
}

// selectEvents returns the events in w's range and past its filter.
func (w *watcher) selectEvents(evs []*mvccpb.Event) []*mvccpb.Event {
	var sel []*mvccpb.Event
	for _, ev := range evs {
		if !w.span.contains(ev.Kv.Key) {
			continue
		}
		if w.filter != nil && w.filter(ev) {
			continue
		}
		sel = append(sel, ev)
	}
	return sel
}
