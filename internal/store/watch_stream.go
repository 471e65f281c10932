package store

import (
	"bytes"
)

// contains reports whether key is in the span.
func (sp keySpan) contains(key []byte) bool {
	if sp.single {
		return bytes.Equal(key, sp.start)
	}
	if bytes.Compare(key, sp.start) < 0 {
		return false
	}
	return sp.end == nil || bytes.Compare(key, sp.end) < 0
}

// WatchStream multiplexes the watchers of one client stream onto one
// channel, like etcd's mvcc.WatchStream (server/storage/mvcc/watcher.go).
// Its methods may be called from any goroutine; Chan is read by one.
type WatchStream struct {
	h *watchHub
	// ch is written only under h.mu, with non-blocking sends, and closed
	// under h.mu by Close.
	ch chan WatchResponse
	// Guarded by h.mu.
	watchers map[WatchID]*watcher
	nextID   WatchID
	closed   bool
}

// NewWatchStream returns a stream with an empty set of watchers.
func (s *Store) NewWatchStream() *WatchStream {
	return &WatchStream{h: s.watch, ch: make(chan WatchResponse, watchChanLen), watchers: make(map[WatchID]*watcher)}
}

// Chan delivers the stream's responses; it is closed by Close.
func (ws *WatchStream) Chan() <-chan WatchResponse { return ws.ch }

// trySend delivers resp without blocking. h.mu MUST be held.
func (ws *WatchStream) trySend(resp WatchResponse) bool {
	if ws.closed {
		return true // dropped: nobody reads a closed stream
	}
	select {
	case ws.ch <- resp:
		return true
	default:
		return false
	}
}

// Watch adds a watcher on key (end empty), [key, end), or every key >= key
// (end "\x00"), for events at revisions >= startRev (0: from the next
// revision). id AutoWatchID lets the stream pick the id; a chosen id already
// in use fails with ErrDuplicateWatchID. filter may be nil.
func (ws *WatchStream) Watch(id WatchID, key, end []byte, startRev int64, filter EventFilter) (WatchID, error) {
	sp := spanOf(bytes.Clone(key), bytes.Clone(end))
	if !sp.single && sp.end != nil && bytes.Compare(sp.start, sp.end) >= 0 {
		return -1, ErrEmptyWatcherRange
	}
	h := ws.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if ws.closed {
		return -1, ErrClosed
	}
	if id == AutoWatchID {
		for ws.watchers[ws.nextID] != nil {
			ws.nextID++
		}
		id = ws.nextID
		ws.nextID++
	} else if ws.watchers[id] != nil {
		return -1, ErrDuplicateWatchID
	}
	w := &watcher{id: id, ws: ws, span: sp, filter: filter, minRev: startRev}
	ws.watchers[id] = w
	switch {
	case startRev == 0:
		w.minRev = h.notifiedRev + 1
		w.group = groupSynced
	case startRev > h.notifiedRev:
		w.group = groupSynced // a future revision: notify waits for it
	default:
		w.group = groupUnsynced // needs history (or is compacted)
		h.wake()
	}
	h.groupOf(w.group)[w] = struct{}{}
	return id, nil
}

// Cancel removes a watcher; nothing more is sent for it.
func (ws *WatchStream) Cancel(id WatchID) error {
	h := ws.h
	h.mu.Lock()
	defer h.mu.Unlock()
	w := ws.watchers[id]
	if w == nil {
		return ErrWatcherNotExist
	}
	ws.removeLocked(w)
	return nil
}

func (ws *WatchStream) removeLocked(w *watcher) {
	delete(ws.h.groupOf(w.group), w)
	delete(ws.watchers, w.id)
}

// Rev is the newest revision announced to watchers.
func (ws *WatchStream) Rev() int64 {
	ws.h.mu.Lock()
	defer ws.h.mu.Unlock()
	return ws.h.notifiedRev
}

// RequestProgress sends an empty response for watcher id at the current
// revision if it is synced (a behind watcher will send events soon anyway).
// It reports whether the response was queued.
func (ws *WatchStream) RequestProgress(id WatchID) bool {
	h := ws.h
	h.mu.Lock()
	defer h.mu.Unlock()
	w := ws.watchers[id]
	if w == nil || w.group != groupSynced || w.minRev > h.notifiedRev+1 {
		return false
	}
	return ws.trySend(WatchResponse{WatchID: id, Revision: h.notifiedRev})
}

// RequestProgressAll queues one response with WatchID ProgressAllID at the
// current revision if every watcher of the stream is synced: then every
// event up to that revision is already queued ahead of it, so the client
// may treat it as a watermark (etcd: watchableStore.progressIfSync). It
// reports false when the caller should retry after the stream's next
// response.
func (ws *WatchStream) RequestProgressAll() bool {
	h := ws.h
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, w := range ws.watchers {
		if w.group != groupSynced {
			return false
		}
	}
	return ws.trySend(WatchResponse{WatchID: ProgressAllID, Revision: h.notifiedRev})
}

// Close cancels every watcher and closes Chan.
func (ws *WatchStream) Close() {
	h := ws.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if ws.closed {
		return
	}
	for _, w := range ws.watchers {
		ws.removeLocked(w)
	}
	ws.closed = true
	close(ws.ch)
}
