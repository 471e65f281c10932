package store

import (
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
)

// victimRetry is how soon syncLoop retries while some watcher is behind or
// a victim (etcd retries victims every 10ms too: syncVictimsLoop).
const victimRetry = 10 * time.Millisecond

// syncLoop catches up victims and unsynced watchers until Close. It is the
// only goroutine that reads history for watchers.
func (h *watchHub) syncLoop() {
	defer h.s.wg.Done()
	for {
		h.mu.Lock()
		busy := len(h.unsynced)+len(h.victims) > 0
		h.mu.Unlock()
		var retry <-chan time.Time
		if busy {
			retry = time.After(victimRetry)
		}
		select {
		case <-h.s.stopc:
			return
		case <-h.kick:
		case <-retry:
		}
		if err := h.syncOnce(); err != nil {
			// A history read failed: the store is closing or its file is
			// unreadable. Watchers stay unsynced; Close ends the loop.
			h.s.lg.Error("store: watch history read failed", "err", err)
		}
	}
}

// syncOnce runs one round: deliver what victims hold, then replay history
// for up to maxWatchersPerSync unsynced watchers.
func (h *watchHub) syncOnce() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.victims {
		if !w.ws.trySend(*w.pending) {
			continue
		}
		w.pending = nil
		if w.minRev <= h.notifiedRev {
			h.setGroup(w, groupUnsynced)
		} else {
			h.setGroup(w, groupSynced)
		}
	}
	if len(h.unsynced) == 0 {
		return nil
	}

	// Choose watchers whose stream has room; a full stream is retried later
	// instead of re-reading history it cannot take.
	var chosen []*watcher
	minRev := int64(-1)
	for w := range h.unsynced {
		if len(w.ws.ch) == cap(w.ws.ch) {
			continue
		}
		chosen = append(chosen, w)
		if minRev < 0 || w.minRev < minRev {
			minRev = w.minRev
		}
		if len(chosen) == maxWatchersPerSync {
			break
		}
	}
	if len(chosen) == 0 {
		return nil
	}
	maxRev := min(h.notifiedRev, minRev+maxRevsPerSync-1)
	evs, compactRev, err := h.s.history(minRev, maxRev)
	if err != nil {
		return err
	}
	for _, w := range chosen {
		if w.minRev < compactRev {
			// etcd answers with the compact revision and drops the watcher
			// (watchableStore.syncWatchers -> chooseAll).
			if w.ws.trySend(WatchResponse{WatchID: w.id, CompactRevision: compactRev, Revision: h.notifiedRev}) {
				w.ws.removeLocked(w)
			}
			continue
		}
		if w.minRev > maxRev {
			continue // this step did not reach it; cannot happen with minRev chosen as the minimum
		}
		var sel []*mvccpb.Event
		for _, ev := range evs {
			if ev.Kv.ModRevision >= w.minRev {
				sel = append(sel, ev)
			}
		}
		sel = w.selectEvents(sel)
		if len(sel) > 0 {
			if !w.ws.trySend(WatchResponse{WatchID: w.id, Events: sel, Revision: maxRev}) {
				continue // stays unsynced at the same minRev
			}
		}
		w.minRev = maxRev + 1
		if maxRev == h.notifiedRev {
			h.setGroup(w, groupSynced)
		}
	}
	return nil
}

// history returns every event with revision in [minRev, maxRev], in
// revision order, read from the `key` bucket through the write buffer. It
// fails if minRev is compacted only in the sense that it returns the compact
// revision: callers MUST drop watchers with minRev below it. Revisions at or
// above the compact revision are complete in bbolt (compaction keeps every
// entry of its own revision), and no later compaction can start while the
// store's read lock is held.
func (s *Store) history(minRev, maxRev int64) (evs []*mvccpb.Event, compactRev int64, err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	compactRev = s.compactRev
	minRev = max(minRev, compactRev, 1)
	err = s.b.readValues(func(get func([]byte) ([]byte, error)) error {
		for rev := minRev; rev <= maxRev; rev++ {
			for sub := int64(0); ; sub++ {
				r := revision{main: rev, sub: sub}
				typ := mvccpb.Event_PUT
				v, err := get(encodeRevKey(r, false))
				if err != nil {
					return err
				}
				if v == nil {
					typ = mvccpb.Event_DELETE
					if v, err = get(encodeRevKey(r, true)); err != nil {
						return err
					}
				}
				if v == nil {
					break // the txn of this revision had sub revisions [0, sub)
				}
				kv := &mvccpb.KeyValue{}
				if err := proto.Unmarshal(v, kv); err != nil {
					return fmt.Errorf("store: decode value at %v: %w", r, err)
				}
				if typ == mvccpb.Event_DELETE {
					kv.ModRevision = rev // a tombstone stores only the key
				}
				evs = append(evs, &mvccpb.Event{Type: typ, Kv: kv})
			}
		}
		return nil
	})
	return evs, compactRev, err
}
