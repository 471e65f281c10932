package wal

import (
	"errors"
	"os"
	"path/filepath"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Purge deletes the oldest segment files this WAL no longer holds, keeping
// at least max segment files in the directory (max <= 0 keeps all). Only
// segments older than the oldest locked one are candidates: ReleaseLockTo
// decides what a replay may still need, Purge only reclaims the space. The
// oldest go first, so the remaining sequence numbers stay contiguous.
// Compare etcd client/pkg/fileutil/purge.go (PurgeFile), which finds the
// same files by trying their flocks.
func (w *WAL) Purge(max int) (removed []string, err error) {
	if max <= 0 {
		return nil, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, ErrClosed
	}
	all, err := listSegments(w.dir)
	if err != nil {
		return nil, err
	}
	oldestLocked := w.segs[0].seq
	var errs []error
	for i := 0; i < len(all) && len(all)-len(removed) > max; i++ {
		if all[i].seq >= oldestLocked {
			break
		}
		if err := os.Remove(all[i].path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
			break // a hole in the sequence would make the directory unreadable
		}
		removed = append(removed, filepath.Base(all[i].path))
	}
	if len(removed) > 0 {
		errs = append(errs, fsyncDir(w.dir))
		w.lg.Info("wal: purged segments", "files", removed)
	}
	return removed, errors.Join(errs...)
}

// SnapshotMarkers returns the snapshot records of the WAL in dir whose
// index is covered by the highest commit any HardState in the log records:
// a marker beyond every commit would name state no quorum agreed on. It takes no locks and tolerates a
// torn tail (Open repairs it later). Compare etcd wal.go
// (ValidSnapshotEntries).
func SnapshotMarkers(dir string) ([]Snapshot, error) {
	var (
		snaps  []Snapshot
		commit uint64
	)
	err := ReadDir(dir, func(r Record) error {
		switch r.Type {
		case SnapshotType:
			if s, ok := decodeSnapshot(r.Data); ok {
				snaps = append(snaps, s)
			}
		case StateType:
			hs := &raftpb.HardState{}
			if err := proto.Unmarshal(r.Data, hs); err == nil {
				commit = max(commit, hs.GetCommit())
			}
		}
		return nil
	})
	var ce *CorruptError
	if err != nil && !(errors.As(err, &ce) && ce.Torn) {
		return nil, err
	}
	n := 0
	for _, s := range snaps {
		if s.Index <= commit {
			snaps[n] = s
			n++
		}
	}
	return snaps[:n], nil
}
