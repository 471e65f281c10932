package store

import (
	"hash/crc32"
)

// Hash returns a CRC-32C over every `key` bucket entry (keys and values, in
// revision order) and the revision it describes. Writes wait while it runs.
// Two stores that applied the same entries and compactions have the same
// hash, once their compactions finished (a running compaction deletes in
// steps). Cheap enough for tests; HashKV-by-revision is not implemented.
func (s *Store) Hash() (uint32, int64, error) {
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, 0, ErrClosed
	}
	if b.failed != nil {
		return 0, 0, b.failed
	}
	s.mu.RLock()
	rev := s.currentRev
	s.mu.RUnlock()
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	h.Write(bucketKey)
	c := b.tx.Bucket(bucketKey).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		h.Write(k)
		h.Write(v)
	}
	return h.Sum32(), rev, nil
}
