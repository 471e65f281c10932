package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"

	"github.com/kvtrace/kvtrace/internal/fsutil"
)

// Restore replaces the store's file with the bbolt database at path (a
// snapshot received from the leader) and rebuilds everything in memory from
// it. Pending, uncommitted writes are DISCARDED: the snapshot is newer than
// anything they describe. The rename is atomic, so after a crash the db
// path holds either the old file or the whole new one; the caller decides,
// from the snapshot marker it recorded BEFORE calling Restore, whether the
// old one is still good (etcd server/storage/backend.go,
// RecoverSnapshotBackend; server.go applySnapshot).
func (s *Store) Restore(path string) error {
	if err := s.waitCompactions(); err != nil {
		return err
	}
	return s.swap(func(dbPath string) error {
		if err := os.Rename(path, dbPath); err != nil {
			return err
		}
		return fsutil.SyncDir(filepath.Dir(dbPath))
	}, true)
}

// Defragment rewrites the file without its free pages and swaps it in,
// like etcd's backend.defrag: bbolt never shrinks a file on its own.
// Writes and reads wait while it runs.
func (s *Store) Defragment() error {
	if err := s.waitCompactions(); err != nil {
		return err
	}
	return s.swap(func(dbPath string) error {
		tmp := dbPath + ".defrag"
		os.Remove(tmp)
		dst, err := bolt.Open(tmp, 0o600, boltOptions())
		if err != nil {
			return err
		}
		src, err := bolt.Open(dbPath, 0o600, &bolt.Options{ReadOnly: true, Timeout: boltOptions().Timeout})
		if err != nil {
			dst.Close()
			return err
		}
		err = bolt.Compact(dst, src, 0)
		err = errors.Join(err, src.Close(), dst.Close())
		if err == nil {
			// The compacted copy MUST be complete (Compact commits, Close
			// syncs) BEFORE it replaces the original.
			err = os.Rename(tmp, dbPath)
		}
		if err == nil {
			err = fsutil.SyncDir(filepath.Dir(dbPath))
		}
		if err != nil {
			os.Remove(tmp)
		}
		return err
	}, false)
}

// waitCompactions waits for scheduled compactions, which would otherwise
// keep deleting from the swapped-in file.
func (s *Store) waitCompactions() error {
	s.b.mu.Lock()
	last, closed := s.lastCompaction, s.b.closed
	s.b.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if last != nil {
		select {
		case <-last:
		case <-s.stopc:
			return ErrClosed
		}
	}
	return nil
}

// swap closes the bbolt file, runs replace (which puts the new file at the
// db path), reopens it and, if reload, rebuilds the key index and revisions.
// It holds every lock of the store (backend.mu, Store.mu, bufMu, in that
// order), so no write, read or commit sees the switch half-done. Without
// reload (defragment) pending writes are committed first and kept.
func (s *Store) swap(replace func(dbPath string) error, reload bool) error {
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if b.failed != nil {
		return b.failed
	}
	if !reload {
		if err := b.commitLocked(false); err != nil {
			return err
		}
	}
	rev, err := s.swapLocked(replace, reload)
	if err == nil && reload && s.watch != nil {
		// AFTER Store.mu is released: the hub's lock comes before it.
		s.watch.restored(rev)
	}
	return err
}

// swapLocked does the work of swap; b.mu MUST be held.
func (s *Store) swapLocked(replace func(dbPath string) error, reload bool) (int64, error) {
	b := s.b
	s.mu.Lock()
	defer s.mu.Unlock()
	b.bufMu.Lock()
	defer b.bufMu.Unlock()

	dbPath := b.db.Path()
	if err := b.tx.Rollback(); err != nil {
		return 0, b.failLocked(fmt.Errorf("store: swap: rollback batch tx: %w", err))
	}
	b.tx = nil
	if err := b.db.Close(); err != nil {
		return 0, b.failLocked(fmt.Errorf("store: swap: close bbolt: %w", err))
	}
	rerr := replace(dbPath)
	// Reopen whatever is at dbPath now: the new file, or the old one if
	// replace failed before its rename.
	db, err := bolt.Open(dbPath, 0o600, boltOptions())
	if err != nil {
		return 0, b.failLocked(fmt.Errorf("store: swap: reopen %s: %w (replace: %v)", dbPath, err, rerr))
	}
	b.db = db
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketKey, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		b.tx, err = db.Begin(true)
	}
	if err == nil {
		b.noteSizeLocked(b.tx.Size())
		err = b.loadApplied()
	}
	if err != nil {
		return 0, b.failLocked(fmt.Errorf("store: swap: init %s: %w", dbPath, err))
	}
	b.buf, b.frozen = make(map[string][]byte), nil
	b.ops, b.bytes, b.firstIndex, b.lastIndex = 0, 0, 0, 0
	if rerr != nil {
		return 0, fmt.Errorf("store: swap: %w", rerr)
	}
	if !reload {
		return s.currentRev, nil
	}
	s.kvindex = newTreeIndex()
	s.currentRev, s.compactRev = 1, 0
	sched, err := s.restore()
	if err != nil {
		return 0, b.failLocked(err)
	}
	if sched > 0 {
		// The sender's compaction at sched was recorded but not finished;
		// reads below it must fail already. The deletes are redone by the
		// next Open; until then the old revisions only take space.
		s.compactRev = sched
	}
	s.lg.Info("store: restored from a snapshot database", "rev", s.currentRev, "compact_rev", s.compactRev,
		"consistent_index", b.applied.index, "keys", s.kvindex.len())
	return s.currentRev, nil
}

// restored moves every watcher to unsynced so the sync loop replays what
// the new file holds beyond each watcher's position, as etcd's
// watchableStore.Restore does. Called with backend.mu held and Store.mu
// NOT held (lock order: backend.mu BEFORE watchHub.mu BEFORE Store.mu).
func (h *watchHub) restored(rev int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.synced {
		h.setGroup(w, groupUnsynced)
	}
	h.notifiedRev = rev
	h.wake()
}
