package store

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Bucket and meta key names. They follow etcd's schema package
// (server/storage/schema/bucket.go, cindex.go, and mvcc's
// SetScheduledCompact/UnsafeSetFinishedCompact) so a db written here is laid out like
// an etcd db for the buckets this store uses.
var (
	bucketKey  = []byte("key")
	bucketMeta = []byte("meta")

	metaConsistentIndex  = []byte("consistent_index")
	metaTerm             = []byte("term")
	metaScheduledCompact = []byte("scheduledCompactRev")
	metaFinishedCompact  = []byte("finishedCompactRev")
)

func u64Bytes(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

// readMetaU64 returns the big-endian value stored under name, and whether it
// was there at all.
func readMetaU64(meta *bolt.Bucket, name []byte) (uint64, bool, error) {
	v := meta.Get(name)
	if v == nil {
		return 0, false, nil
	}
	if len(v) != 8 {
		return 0, false, fmt.Errorf("store: meta key %q has %d bytes, want 8", name, len(v))
	}
	return binary.BigEndian.Uint64(v), true, nil
}
