package store

import (
	"bytes"
	"errors"
	"fmt"
)

// errStopped: a compaction was interrupted by Close. Open resumes it.
var errStopped = errors.New("store: compaction interrupted by close")

// Compact applies raft entry (index, term) asking to compact at rev. The
// entry counts as applied whatever the outcome. On success it records rev as
// scheduledCompactRev and commits that BEFORE deleting anything, so a crash
// half-way is finished by the next Open (etcd: store.updateCompactRev then
// scheduleCompaction, server/storage/mvcc/kvstore.go and
// kvstore_compaction.go). Reads below rev fail with ErrCompacted from now on.
// The returned channel is closed when the old revisions are gone from the
// index and from bbolt and finishedCompactRev is committed, or when Close
// interrupted the work. Compactions run one after another in call order.
func (s *Store) Compact(index, term uint64, rev int64) (<-chan struct{}, error) {
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	if b.failed != nil {
		return nil, b.failed
	}
	if index != 0 && index <= b.applied.index {
		panic(fmt.Sprintf("store: raft index %d applied after %d; entries MUST be applied once, in order",
			index, b.applied.index))
	}
	b.noteAppliedLocked(index, term)

	s.mu.Lock()
	switch {
	case rev <= s.compactRev:
		s.mu.Unlock()
		return nil, ErrCompacted
	case rev > s.currentRev:
		s.mu.Unlock()
		return nil, ErrFutureRev
	}
	s.compactRev = rev
	s.mu.Unlock()

	if err := b.putMetaLocked(metaScheduledCompact, uint64(rev)); err != nil {
		return nil, b.failLocked(err)
	}
	// The schedule MUST be durable BEFORE the first revision is deleted.
	if err := b.commitLocked(false); err != nil {
		return nil, err
	}

	done, prev := make(chan struct{}), s.lastCompaction
	s.lastCompaction = done
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(done)
		if prev != nil {
			select {
			case <-prev:
			case <-s.stopc:
				return
			}
		}
		if err := s.compactNow(rev); err != nil {
			if errors.Is(err, errStopped) {
				s.lg.Info("store: compaction interrupted; it resumes on next open", "rev", rev)
				return
			}
			s.lg.Error("store: compaction failed", "rev", rev, "err", err)
			panic(fmt.Sprintf("store: compaction at %d failed: %v", rev, err))
		}
	}()
	return done, nil
}

// compactNow removes every revision a read at >= rev cannot need: first from
// the index, then from bbolt in steps of compactionBatch entries so the apply
// loop gets the batch-tx lock between steps.
func (s *Store) compactNow(rev int64) error {
	s.mu.Lock()
	keep := s.kvindex.compact(rev)
	s.mu.Unlock()
	// From here on no reader can ask for a revision that is not in keep or
	// newer than rev (readers walk the compacted index), so deleting them
	// from bbolt and buf cannot break a read in progress.

	from := encodeRevKey(revision{}, false)
	deleted := 0
	for {
		select {
		case <-s.stopc:
			return errStopped
		default:
		}
		next, n, err := s.compactStep(from, rev, keep)
		deleted += n
		if err != nil {
			return err
		}
		if next == nil {
			s.lg.Info("store: compaction finished", "rev", rev, "deleted", deleted)
			return nil
		}
		from = next
	}
}

// compactStep deletes the unneeded revisions among the next compactionBatch
// entries at or after from. It returns where to continue, or nil when done
// (then finishedCompactRev is written and committed).
func (s *Store) compactStep(from []byte, rev int64, keep map[revision]struct{}) (next []byte, deleted int, err error) {
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failed != nil {
		return nil, 0, b.failed
	}
	var doomed [][]byte
	c := b.tx.Bucket(bucketKey).Cursor()
	k, _ := c.Seek(from)
	for examined := 0; k != nil && examined < compactionBatch; examined++ {
		r, _, err := decodeRevKey(k)
		if err != nil {
			return nil, 0, err
		}
		if r.main > rev {
			k = nil // everything after is newer than rev: done
			break
		}
		if _, ok := keep[r]; !ok {
			// bbolt's k is only valid until the tx changes; copy it.
			doomed = append(doomed, bytes.Clone(k))
		}
		k, _ = c.Next()
	}
	if k != nil {
		next = bytes.Clone(k)
	}
	// Delete AFTER the cursor walk: deleting under a live cursor can skip keys.
	for _, d := range doomed {
		if err := b.deleteKeyLocked(d); err != nil {
			return nil, 0, b.failLocked(err)
		}
	}
	if next == nil {
		if err := b.putMetaLocked(metaFinishedCompact, uint64(rev)); err != nil {
			return nil, len(doomed), b.failLocked(err)
		}
		return nil, len(doomed), b.commitLocked(false)
	}
	if b.shouldCommitLocked() {
		return next, len(doomed), b.commitLocked(false)
	}
	return next, len(doomed), nil
}
