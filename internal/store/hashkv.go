package store

import (
	"encoding/binary"
	"hash/crc32"
)

// HashByRev returns a CRC-32C over the `key` bucket entries whose main
// revision is <= rev (0: the current revision), the revision hashed and the
// compact revision. Members that applied the same entries and finished the
// same compactions agree on it, which is what `etcdctl endpoint hashkv`
// compares (etcd mvcc/hash.go; etcd additionally skips the revisions a
// compaction would remove, so its hash is stable while compaction runs).
func (s *Store) HashByRev(rev int64) (hash uint32, hashRev, compactRev int64, err error) {
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, 0, 0, ErrClosed
	}
	if b.failed != nil {
		return 0, 0, 0, b.failed
	}
	s.mu.RLock()
	cur, compact := s.currentRev, s.compactRev
	s.mu.RUnlock()
	switch {
	case rev == 0:
		rev = cur
	case rev > cur:
		return 0, 0, 0, ErrFutureRev
	case rev < compact:
		return 0, 0, 0, ErrCompacted
	}
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	h.Write(bucketKey)
	c := b.tx.Bucket(bucketKey).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) >= 8 && int64(binary.BigEndian.Uint64(k)) > rev {
			break
		}
		h.Write(k)
		h.Write(v)
	}
	return h.Sum32(), rev, compact, nil
}
