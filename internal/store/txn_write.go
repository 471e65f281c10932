package store

import (
	"bytes"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"

	"github.com/kvtrace/kvtrace/internal/metrics"
)

// TxnWrite is the single write transaction of the apply loop. All its
// changes get one main revision (the store's revision + 1) and sub
// revisions in call order. Its reads see its own changes.
type TxnWrite interface {
	TxnRead
	// Put writes key and returns the txn's revision.
	Put(key, value []byte, lease int64) (rev int64)
	// DeleteRange deletes the live keys in the range (same conventions as
	// Range) and returns how many it deleted and the txn's revision so far.
	DeleteRange(key, end []byte) (n, rev int64)
	// Changes returns the changes so far. The caller MUST NOT modify them.
	Changes() []*mvccpb.KeyValue
	// PutLease and DeleteLease persist leases in the same batch as the
	// txn's key changes (lease_bucket.go).
	PutLease(l LeaseRecord)
	DeleteLease(id int64)
}

type writeTxn struct {
	s           *Store
	index, term uint64
	beginRev    int64
	changes     []*mvccpb.KeyValue
	ended       bool
	// Operations and the change in live keys, for the metrics (End).
	ranges, puts, deletes, keysDelta int
}

// Write opens the write txn for raft entry (index, term). Only one may be
// open at a time; the apply loop is its only caller. End MUST be called:
// it records (index, term) as applied even if the txn changed nothing, and
// the commit that makes the txn durable writes that index IN THE SAME bbolt
// tx (etcd issue 13766). Index 0 means "not a raft entry" (tests).
func (s *Store) Write(index, term uint64) TxnWrite {
	s.b.mu.Lock() // lock order: backend.mu BEFORE Store.mu
	if s.b.closed || s.b.failed != nil || (index != 0 && index <= s.b.applied.index) {
		closed, failed, applied := s.b.closed, s.b.failed, s.b.applied.index
		s.b.mu.Unlock()
		switch {
		case closed:
			panic("store: Write after Close")
		case failed != nil:
			panic(fmt.Sprintf("store: Write after a failed commit: %v", failed))
		default:
			// Applying an entry twice would double its effects (etcd's
			// apply loop skips entries <= consistent index for this reason).
			panic(fmt.Sprintf("store: raft index %d applied after %d; entries MUST be applied once, in order",
				index, applied))
		}
	}
	s.mu.Lock()
	return &writeTxn{s: s, index: index, term: term, beginRev: s.currentRev}
}

// Rev is the revision the txn started from; its changes get Rev()+1.
func (t *writeTxn) Rev() int64 { return t.beginRev }

// viewRev is the revision the txn's own reads see.
func (t *writeTxn) viewRev() int64 {
	if len(t.changes) > 0 {
		return t.beginRev + 1
	}
	return t.beginRev
}

func (t *writeTxn) Range(key, end []byte, ro RangeOptions) (*RangeResult, error) {
	t.ranges++
	// Reads go through the batch tx, which holds this txn's own writes.
	return t.s.rangeLocked(key, end, t.viewRev(), ro, func(fn func(get func([]byte) ([]byte, error)) error) error {
		return fn(func(k []byte) ([]byte, error) { return t.s.b.getKeyLocked(k), nil })
	})
}

func (t *writeTxn) Put(key, value []byte, lease int64) int64 {
	rev := t.beginRev + 1
	created, ver := rev, int64(1)
	if _, c, v, ok := t.s.kvindex.get(key, rev); ok {
		created, ver = c.main, v+1
	} else {
		t.keysDelta++
	}
	t.puts++
	kv := &mvccpb.KeyValue{
		Key: bytes.Clone(key), Value: bytes.Clone(value),
		CreateRevision: created, ModRevision: rev, Version: ver, Lease: lease,
	}
	r := revision{main: rev, sub: int64(len(t.changes))}
	t.write(r, false, kv)
	t.s.kvindex.put(kv.Key, r)
	t.changes = append(t.changes, kv)
	// Leases: internal/apply attaches kv.Key to kv.Lease (and detaches it
	// from its old lease) from Changes() after each request (apply/lease.go);
	// etcd does it here (storeTxnWrite.put), but the store stays lease-blind.
	return rev
}

func (t *writeTxn) DeleteRange(key, end []byte) (int64, int64) {
	rev := t.beginRev + 1
	hits, _ := t.s.kvindex.rangeAt(spanOf(key, end), rev, 0)
	t.deletes, t.keysDelta = t.deletes+1, t.keysDelta-len(hits)
	for _, h := range hits {
		r := revision{main: rev, sub: int64(len(t.changes))}
		// On disk a tombstone holds only the key, as in etcd.
		t.write(r, true, &mvccpb.KeyValue{Key: h.key})
		if !t.s.kvindex.tombstone(h.key, r) {
			panic(fmt.Sprintf("store: tombstone of key %q that the index just listed as live", h.key))
		}
		t.changes = append(t.changes, &mvccpb.KeyValue{Key: bytes.Clone(h.key), ModRevision: rev})
		// Leases: apply/lease.go detaches the key, from Changes().
	}
	if len(t.changes) > 0 {
		return int64(len(hits)), rev
	}
	return 0, t.beginRev
}

// write puts one `key` bucket entry. A failure here would leave the txn
// half applied on this member only, so it is fatal, as in etcd's txn apply.
func (t *writeTxn) write(r revision, tomb bool, kv *mvccpb.KeyValue) {
	data, err := proto.Marshal(kv)
	if err != nil {
		panic(fmt.Sprintf("store: marshal KeyValue: %v", err))
	}
	if err := t.s.b.putKeyLocked(encodeRevKey(r, tomb), data); err != nil {
		t.s.lg.Error("store: write failed inside a txn", "err", err)
		panic(err.Error())
	}
}

func (t *writeTxn) Changes() []*mvccpb.KeyValue { return t.changes }

// End publishes the txn: the revision moves only now, so readers see all of
// the txn or none of it. It may commit the batch tx if BatchLimit is reached.
func (t *writeTxn) End() {
	if t.ended {
		panic("store: TxnWrite.End called twice")
	}
	t.ended = true
	if len(t.changes) > 0 {
		t.s.currentRev++ // AFTER every index and buffer write of the txn
	}
	rev := t.s.currentRev
	t.s.mu.Unlock()
	metrics.MVCCTxnEnd(t.ranges, t.puts, t.deletes, t.keysDelta)
	t.endBatch()
	// Watchers hear of the txn AFTER its revision is published, so a watcher
	// replaying history up to the last notified revision never misses it
	// (watch.go, notifiedRev). Only the apply goroutine gets here, so
	// revisions are announced in order.
	if len(t.changes) > 0 && t.s.watch != nil {
		t.s.watch.notify(rev, t.changes)
	}
}

func (t *writeTxn) endBatch() {
	b := t.s.b
	defer b.mu.Unlock()
	b.noteAppliedLocked(t.index, t.term)
	if b.shouldCommitLocked() {
		if err := b.commitLocked(false); err != nil {
			b.lg.Error("store: batch commit at BatchLimit failed", "err", err)
			panic(fmt.Sprintf("store: batch commit at BatchLimit failed: %v", err))
		}
	}
}
