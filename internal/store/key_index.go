package store

import (
	"bytes"
	"fmt"
)

// generation is one life of a key: from the put that creates it to the
// tombstone that deletes it. Same model as etcd's generation in
// server/storage/mvcc/key_index.go; the code below is written independently.
type generation struct {
	// created is the revision of the put that began this generation. It is
	// zero for a generation restored from a lone tombstone (its creation was
	// compacted away), which is never read.
	created revision
	// ver is the version of the key at revs[len(revs)-1].
	ver int64
	// revs holds the revisions of this generation in ascending order. If the
	// generation is not the key's last one, its last element is a tombstone.
	revs []revision
}

func (g *generation) empty() bool { return len(g.revs) == 0 }

// latestAtOrBefore returns the position of the greatest revision whose main
// revision is <= atRev, or -1 if every revision is newer.
func (g *generation) latestAtOrBefore(atRev int64) int {
	for i := len(g.revs) - 1; i >= 0; i-- {
		if g.revs[i].main <= atRev {
			return i
		}
	}
	return -1
}

// keyIndex is the in-memory history of one key: the revisions at which it was
// written, grouped into generations. The last generation is the current one;
// it is empty while the key is deleted.
type keyIndex struct {
	key  []byte
	gens []generation
}

func newKeyIndex(key []byte) *keyIndex {
	return &keyIndex{key: key, gens: []generation{{}}}
}

func (ki *keyIndex) last() *generation { return &ki.gens[len(ki.gens)-1] }

// modified returns the newest revision recorded for the key.
func (ki *keyIndex) modified() revision {
	for i := len(ki.gens) - 1; i >= 0; i-- {
		if g := ki.gens[i]; !g.empty() {
			return g.revs[len(g.revs)-1]
		}
	}
	return revision{}
}

// put records a modification at rev. Revisions MUST arrive in increasing
// order; anything else means the apply loop replayed or reordered entries.
func (ki *keyIndex) put(rev revision) {
	if m := ki.modified(); !rev.greaterThan(m) {
		panic(fmt.Sprintf("store: key %q put at %v not after last modification %v", ki.key, rev, m))
	}
	g := ki.last()
	if g.empty() {
		g.created = rev
	}
	g.revs = append(g.revs, rev)
	g.ver++
}

// tombstone records a deletion at rev and opens a new, empty generation.
// It returns false if the key is not live.
func (ki *keyIndex) tombstone(rev revision) bool {
	if ki.last().empty() {
		return false
	}
	ki.put(rev)
	ki.gens = append(ki.gens, generation{})
	return true
}

// restorePut replays a value read back from the `key` bucket. After a
// compaction the oldest surviving revision of a generation is not its first,
// so created and version come from the stored KeyValue rather than from
// counting.
func (ki *keyIndex) restorePut(rev revision, created, ver int64) {
	g := ki.last()
	if g.empty() {
		g.created = revision{main: created}
	}
	g.revs = append(g.revs, rev)
	g.ver = ver
}

// restoreTombstone replays a deletion read back from the `key` bucket. A
// compaction at exactly the tombstone's revision keeps the tombstone but not
// the values before it, so the key may have no live generation to close.
func (ki *keyIndex) restoreTombstone(rev revision) {
	g := ki.last()
	if g.empty() {
		g.revs = append(g.revs, rev)
		g.ver = 1
	} else {
		g.revs = append(g.revs, rev)
		g.ver++
	}
	ki.gens = append(ki.gens, generation{})
}

// get returns the revision visible at atRev, the generation's creation
// revision and the version the key had there. ok is false if the key did not
// exist at atRev (never created yet, or deleted at or before atRev).
func (ki *keyIndex) get(atRev int64) (mod, created revision, ver int64, ok bool) {
	for gi := len(ki.gens) - 1; gi >= 0; gi-- {
		g := &ki.gens[gi]
		if g.empty() {
			continue
		}
		if gi != len(ki.gens)-1 {
			// A closed generation: its tombstone at or before atRev means the
			// key was deleted as of atRev, and older generations are older still.
			if g.revs[len(g.revs)-1].main <= atRev {
				return revision{}, revision{}, 0, false
			}
		}
		if g.revs[0].main > atRev {
			continue // this generation started after atRev
		}
		i := g.latestAtOrBefore(atRev)
		return g.revs[i], g.created, g.ver - int64(len(g.revs)-1-i), true
	}
	return revision{}, revision{}, 0, false
}

// compact drops history that no read at a revision >= atRev can need, and
// adds to keep the revisions <= atRev that must stay in bbolt: per key, the
// newest revision at or before atRev of the generation that is live at atRev
// (a tombstone at exactly atRev is kept, as etcd's keyIndex.compact does).
// It reports whether the key has no history left and can leave the index.
func (ki *keyIndex) compact(atRev int64, keep map[revision]struct{}) (gone bool) {
	gi := 0
	// Skip generations whose tombstone is strictly before atRev: the key was
	// dead for every read the compaction still allows.
	for gi < len(ki.gens)-1 {
		g := ki.gens[gi]
		if g.revs[len(g.revs)-1].main >= atRev {
			break
		}
		gi++
	}
	g := &ki.gens[gi]
	if i := g.latestAtOrBefore(atRev); i >= 0 {
		keep[g.revs[i]] = struct{}{}
		g.revs = g.revs[i:]
	}
	ki.gens = ki.gens[gi:]
	return len(ki.gens) == 1 && ki.gens[0].empty()
}

func keyIndexLess(a, b *keyIndex) bool { return bytes.Compare(a.key, b.key) < 0 }
