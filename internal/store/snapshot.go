package store

import (
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"
)

// DBSnapshot is a consistent copy of the bbolt file being streamed: Size
// bytes, describing the store as of raft entry (Index, Term), the
// consistent index inside the copy itself.
type DBSnapshot struct {
	io.ReadCloser
	Size        int64
	Index, Term uint64
}

// Snapshot commits the batch tx and streams the committed file through a
// pipe from one bbolt read transaction, so the copy is consistent and never
// held whole in memory (etcd server/storage/backend/backend.go, Snapshot,
// which also commits first). The read tx lives until the reader is drained
// or closed: Close it, or a long-lived tx stalls bbolt's remap.
func (s *Store) Snapshot() (*DBSnapshot, error) {
	if err := s.ForceCommit(); err != nil {
		return nil, err
	}
	s.b.bufMu.RLock() // the db handle is swapped only under bufMu (restore.go)
	tx, err := s.b.db.Begin(false)
	s.b.bufMu.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("store: snapshot read tx: %w", err)
	}
	meta := tx.Bucket(bucketMeta)
	idx, _, err1 := readMetaU64(meta, metaConsistentIndex)
	term, _, err2 := readMetaU64(meta, metaTerm)
	if err1 != nil || err2 != nil {
		tx.Rollback()
		return nil, fmt.Errorf("store: snapshot meta: %v %v", err1, err2)
	}
	pr, pw := io.Pipe()
	snap := &DBSnapshot{ReadCloser: pr, Size: tx.Size(), Index: idx, Term: term}
	go func(tx *bolt.Tx) {
		_, err := tx.WriteTo(pw)
		tx.Rollback()
		pw.CloseWithError(err)
	}(tx)
	return snap, nil
}

// CommittedSize returns the size of the bbolt file as of the last batch
// commit, without a lock or a read tx: the quota check runs it on every
// write request (etcd's quota reads backend.Size, an atomic, the same way).
// Writes still in the batch tx are not counted.
func (s *Store) CommittedSize() int64 { return s.b.size.Load() }

// DBSize returns the size of the bbolt file and the bytes in use (the file
// less its free pages), as etcd's Status reports them. It opens a bbolt read
// tx; use CommittedSize on hot paths.
func (s *Store) DBSize() (size, inUse int64) {
	s.b.bufMu.RLock()
	defer s.b.bufMu.RUnlock()
	tx, err := s.b.db.Begin(false)
	if err != nil {
		return 0, 0
	}
	defer tx.Rollback()
	size = tx.Size()
	st := s.b.db.Stats()
	inUse = size - int64(st.FreePageN+st.PendingPageN)*int64(s.b.db.Info().PageSize)
	return size, inUse
}
