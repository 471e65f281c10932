package store

import (
	"encoding/binary"
	"fmt"
)

// revision is a position in the store's history. Main is the revision of the
// write transaction; Sub orders the changes made inside that transaction.
// Same idea as etcd's mvcc.Revision (server/storage/mvcc/revision.go).
type revision struct {
	main int64
	sub  int64
}

func (a revision) greaterThan(b revision) bool {
	if a.main != b.main {
		return a.main > b.main
	}
	return a.sub > b.sub
}

func (a revision) String() string { return fmt.Sprintf("%d.%d", a.main, a.sub) }

const (
	// revKeyLen is the length of a `key` bucket key for a live value:
	// 8-byte big-endian main, '_', 8-byte big-endian sub.
	revKeyLen = 8 + 1 + 8
	// tombKeyLen is revKeyLen plus the trailing tombstone marker.
	tombKeyLen = revKeyLen + 1
	// tombMarker ends the bucket key of a deletion.
	tombMarker byte = 't'
)

// encodeRevKey returns the `key` bucket key for rev. Big-endian encoding makes
// bbolt's byte order equal to revision order, so a cursor walks history in
// commit order (the restore path relies on this).
func encodeRevKey(rev revision, tombstone bool) []byte {
	n := revKeyLen
	if tombstone {
		n = tombKeyLen
	}
	b := make([]byte, n)
	binary.BigEndian.PutUint64(b[0:8], uint64(rev.main))
	b[8] = '_'
	binary.BigEndian.PutUint64(b[9:17], uint64(rev.sub))
	if tombstone {
		b[17] = tombMarker
	}
	return b
}

// decodeRevKey parses a `key` bucket key. It rejects anything that is not
// exactly one of the two layouts, so a corrupt file fails loudly on Open.
func decodeRevKey(b []byte) (rev revision, tombstone bool, err error) {
	switch {
	case len(b) == revKeyLen && b[8] == '_':
	case len(b) == tombKeyLen && b[8] == '_' && b[17] == tombMarker:
		tombstone = true
	default:
		return revision{}, false, fmt.Errorf("store: malformed revision key %x", b)
	}
	rev.main = int64(binary.BigEndian.Uint64(b[0:8]))
	rev.sub = int64(binary.BigEndian.Uint64(b[9:17]))
	return rev, tombstone, nil
}
