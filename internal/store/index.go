package store

import (
	"bytes"

	"github.com/google/btree"
)

// treeIndex maps keys to their keyIndex, ordered by key, like etcd's
// treeIndex (server/storage/mvcc/index.go). It has no lock of its own:
// Store.mu guards it (see doc.go).
type treeIndex struct {
	tree *btree.BTreeG[*keyIndex]
}

func newTreeIndex() *treeIndex {
	return &treeIndex{tree: btree.NewG(32, keyIndexLess)}
}

// keySpan is a normalised range request: a single key, [start, end), or
// [start, +inf) when end is nil and single is false.
type keySpan struct {
	start, end []byte
	single     bool
}

// spanOf applies etcd's range conventions: an empty end selects one key, an
// end of "\x00" selects every key >= key, anything else is half open.
func spanOf(key, end []byte) keySpan {
	switch {
	case len(end) == 0:
		return keySpan{start: key, single: true}
	case len(end) == 1 && end[0] == 0:
		return keySpan{start: key}
	default:
		return keySpan{start: key, end: end}
	}
}

func (ti *treeIndex) lookup(key []byte) *keyIndex {
	ki, ok := ti.tree.Get(&keyIndex{key: key})
	if !ok {
		return nil
	}
	return ki
}

// visit calls fn for each keyIndex in span in key order until fn returns false.
func (ti *treeIndex) visit(sp keySpan, fn func(*keyIndex) bool) {
	if sp.single {
		if ki := ti.lookup(sp.start); ki != nil {
			fn(ki)
		}
		return
	}
	pivot := &keyIndex{key: sp.start}
	if sp.end == nil {
		ti.tree.AscendGreaterOrEqual(pivot, fn)
		return
	}
	ti.tree.AscendRange(pivot, &keyIndex{key: sp.end}, fn)
}

// hit is one key visible at a revision.
type hit struct {
	key     []byte
	mod     revision
	created int64
	ver     int64
}

// rangeAt returns the keys in span that exist at atRev, in key order, at most
// limit of them when limit > 0, together with the total number that exist.
func (ti *treeIndex) rangeAt(sp keySpan, atRev int64, limit int64) (hits []hit, total int) {
	ti.visit(sp, func(ki *keyIndex) bool {
		mod, created, ver, ok := ki.get(atRev)
		if !ok {
			return true
		}
		total++
		if limit <= 0 || int64(len(hits)) < limit {
			hits = append(hits, hit{key: ki.key, mod: mod, created: created.main, ver: ver})
		}
		return true
	})
	return hits, total
}

// countAt returns how many keys in span exist at atRev.
func (ti *treeIndex) countAt(sp keySpan, atRev int64) int {
	n := 0
	ti.visit(sp, func(ki *keyIndex) bool {
		if _, _, _, ok := ki.get(atRev); ok {
			n++
		}
		return true
	})
	return n
}

// get returns the state of one key at atRev.
func (ti *treeIndex) get(key []byte, atRev int64) (mod, created revision, ver int64, ok bool) {
	ki := ti.lookup(key)
	if ki == nil {
		return revision{}, revision{}, 0, false
	}
	return ki.get(atRev)
}

// put records a write of key at rev, creating the keyIndex if needed.
// The index keeps its own copy of key.
func (ti *treeIndex) put(key []byte, rev revision) {
	ki := ti.lookup(key)
	if ki == nil {
		ki = newKeyIndex(bytes.Clone(key))
		ti.tree.ReplaceOrInsert(ki)
	}
	ki.put(rev)
}

// tombstone records a deletion of a live key at rev.
func (ti *treeIndex) tombstone(key []byte, rev revision) bool {
	ki := ti.lookup(key)
	if ki == nil {
		return false
	}
	return ki.tombstone(rev)
}

// restoreEntry feeds one `key` bucket entry, in revision order, into the index.
func (ti *treeIndex) restoreEntry(key []byte, rev revision, tombstone bool, created, ver int64) {
	ki := ti.lookup(key)
	if ki == nil {
		ki = newKeyIndex(key)
		ti.tree.ReplaceOrInsert(ki)
	}
	if tombstone {
		ki.restoreTombstone(rev)
		return
	}
	ki.restorePut(rev, created, ver)
}

// compact compacts every keyIndex at atRev, removes keys left without history
// and returns the revisions <= atRev that bbolt must keep.
func (ti *treeIndex) compact(atRev int64) map[revision]struct{} {
	keep := make(map[revision]struct{})
	var gone []*keyIndex
	ti.tree.Ascend(func(ki *keyIndex) bool {
		if ki.compact(atRev, keep) {
			gone = append(gone, ki)
		}
		return true
	})
	for _, ki := range gone {
		ti.tree.Delete(ki)
	}
	return keep
}

func (ti *treeIndex) len() int { return ti.tree.Len() }
