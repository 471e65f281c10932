package store

import (
	"bytes"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"

	"github.com/kvtrace/kvtrace/internal/metrics"
)

// RangeOptions select what Range returns.
type RangeOptions struct {
	// Limit caps len(KVs) when > 0; Count still reports the total.
	Limit int64
	// Rev reads at this revision; 0 reads at the view's revision.
	Rev int64
	// Count returns only Count, no KVs.
	Count bool
	// KeysOnly fills KVs from the in-memory index without reading values:
	// Value and Lease are left empty (etcd's FastKeysOnly does the same).
	KeysOnly bool
}

// RangeResult is what Range returns. KVs are fresh copies owned by the caller.
type RangeResult struct {
	KVs   []*mvccpb.KeyValue // sorted by key
	Rev   int64              // the revision of the view the range ran in
	Count int                // number of keys in the range at the read revision
}

// TxnRead is a read view fixed at the revision current when it was opened.
type TxnRead interface {
	// Range reads keys: end empty selects key alone, end "\x00" every key
	// >= key, otherwise [key, end).
	Range(key, end []byte, ro RangeOptions) (*RangeResult, error)
	// Rev is the revision of the view.
	Rev() int64
	// End releases the view.
	End()
}

// readTxn is a TxnRead. It holds no lock between calls: revisions <= rev
// never change, except by compaction, which Range detects through compactRev.
type readTxn struct {
	s   *Store
	rev int64
}

// Read opens a read view at the current revision. It may be used
// concurrently with the write txn.
func (s *Store) Read() TxnRead {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return &readTxn{s: s, rev: s.currentRev}
}

func (t *readTxn) Rev() int64 { return t.rev }
func (t *readTxn) End()       {}

func (t *readTxn) Range(key, end []byte, ro RangeOptions) (*RangeResult, error) {
	// Held for the index walk AND the value look-ups: the compactor's index
	// pass (exclusive) cannot drop a revision between the two.
	metrics.MVCCRanges.Inc()
	t.s.mu.RLock()
	defer t.s.mu.RUnlock()
	return t.s.rangeLocked(key, end, t.rev, ro, t.s.b.readValues)
}

// valueFetcher runs fn with a getter for `key` bucket values.
type valueFetcher func(fn func(get func(revKey []byte) ([]byte, error)) error) error

// rangeLocked implements Range for a view at viewRev, like etcd's
// storeTxnCommon.rangeKeys (server/storage/mvcc/kvstore_txn.go): the index
// picks the revisions, the backend supplies their values. s.mu MUST be held.
func (s *Store) rangeLocked(key, end []byte, viewRev int64, ro RangeOptions, fetch valueFetcher) (*RangeResult, error) {
	rev := ro.Rev
	if rev > viewRev {
		return nil, ErrFutureRev
	}
	if rev <= 0 {
		rev = viewRev
	}
	if rev < s.compactRev {
		return nil, ErrCompacted
	}
	sp := spanOf(key, end)
	if ro.Count {
		return &RangeResult{Rev: viewRev, Count: s.kvindex.countAt(sp, rev)}, nil
	}
	hits, total := s.kvindex.rangeAt(sp, rev, ro.Limit)
	res := &RangeResult{Rev: viewRev, Count: total, KVs: make([]*mvccpb.KeyValue, 0, len(hits))}
	if ro.KeysOnly {
		for _, h := range hits {
			res.KVs = append(res.KVs, &mvccpb.KeyValue{
				Key: bytes.Clone(h.key), CreateRevision: h.created, ModRevision: h.mod.main, Version: h.ver,
			})
		}
		return res, nil
	}
	err := fetch(func(get func([]byte) ([]byte, error)) error {
		for _, h := range hits {
			v, err := get(encodeRevKey(h.mod, false))
			if err != nil {
				return err
			}
			if v == nil {
				// The index and bbolt disagree: the file or the index is corrupt.
				return fmt.Errorf("store: key %q: revision %v is in the index but not in bbolt", h.key, h.mod)
			}
			kv := &mvccpb.KeyValue{}
			if err := proto.Unmarshal(v, kv); err != nil {
				return fmt.Errorf("store: decode value at %v: %w", h.mod, err)
			}
			res.KVs = append(res.KVs, kv)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}
