package store

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"

	"github.com/kvtrace/kvtrace/internal/metrics"
)

var (
	// ErrCompacted: the requested revision is older than the compact revision.
	ErrCompacted = errors.New("store: required revision has been compacted")
	// ErrFutureRev: the requested revision is newer than the current revision.
	ErrFutureRev = errors.New("store: required revision is a future revision")
)

const (
	defaultBatchInterval = 100 * time.Millisecond
	defaultBatchLimit    = 10000
	// compactionBatch is how many `key` bucket entries one compaction step
	// examines while holding the batch-tx lock (etcd: CompactionBatchLimit).
	compactionBatch = 1000
)

// Config configures Open.
type Config struct {
	// Path of the bbolt file; created if missing.
	Path string
	// BatchInterval is how often the batch tx is committed (default 100ms).
	BatchInterval time.Duration
	// BatchLimit commits the batch tx as soon as this many bbolt operations
	// are pending (default 10000).
	BatchLimit int
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	Hooks  Hooks
}

// Hooks are observation points. They run on the goroutine that commits,
// with the batch-tx lock held: they MUST be quick and MUST NOT call the Store.
type Hooks struct {
	// OnBatchCommit is called AFTER each bbolt commit of the batch tx returned.
	OnBatchCommit func(CommitInfo)
}

// CommitInfo describes one bbolt commit of the batch tx.
type CommitInfo struct {
	Start    time.Time
	Duration time.Duration // tx.Commit including fsync
	Ops      int           // bbolt puts and deletes in the batch
	// FirstIndex and LastIndex bound the raft entries applied into this
	// batch; this commit made their writes durable. Both are 0 if the batch
	// only held compaction work.
	FirstIndex, LastIndex uint64
	Bytes                 int // key+value bytes put
}

// Store is an MVCC key-value store on bbolt. See doc.go for the contract.
type Store struct {
	lg *slog.Logger
	b  *backend

	// mu guards kvindex, currentRev and compactRev. Write txns and Compact
	// hold it exclusively from start to end (so a txn is atomic to readers);
	// Range holds it shared for the index walk and the value look-ups; the
	// compactor holds it exclusively while compacting the index.
	// Lock order: backend.mu BEFORE Store.mu BEFORE backend.bufMu.
	mu         sync.RWMutex
	kvindex    *treeIndex
	currentRev int64 // revision of the last write txn that changed something
	compactRev int64 // reads below this revision fail with ErrCompacted; 0 = never compacted

	// lastCompaction is closed when the newest scheduled compaction is done;
	// compactions run one after another in this order. Guarded by backend.mu.
	lastCompaction chan struct{}
	stopc          chan struct{}  // closed by Close to interrupt compaction
	wg             sync.WaitGroup // compaction goroutines and the watch sync loop

	// watch holds the watchers (watch.go); notified by writeTxn.End.
	watch *watchHub
}

// Open opens or creates the store at cfg.Path, rebuilds the key index from
// the `key` bucket, restores the current and compact revisions and finishes
// a compaction that a crash interrupted, before returning.
func Open(cfg Config) (*Store, error) {
	if cfg.BatchInterval <= 0 {
		cfg.BatchInterval = defaultBatchInterval
	}
	if cfg.BatchLimit <= 0 {
		cfg.BatchLimit = defaultBatchLimit
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.Default()
	}
	b, err := openBackend(cfg.Path, cfg.BatchInterval, cfg.BatchLimit, lg, cfg.Hooks)
	if err != nil {
		return nil, err
	}
	s := &Store{
		lg: lg, b: b,
		kvindex:    newTreeIndex(),
		currentRev: 1, // as etcd: an empty store is at revision 1, the first write makes 2
		stopc:      make(chan struct{}),
	}
	scheduled, err := s.restore()
	if err != nil {
		return nil, errors.Join(err, b.closeUnstarted())
	}
	if scheduled > 0 {
		// A compaction was recorded but its finished mark never reached
		// disk: redo it now (etcd: store.restore -> compactLockfree).
		lg.Info("store: resuming interrupted compaction", "rev", scheduled)
		s.mu.Lock()
		s.compactRev = scheduled
		s.mu.Unlock()
		if err := s.compactNow(scheduled); err != nil {
			return nil, errors.Join(err, b.closeUnstarted())
		}
	}
	s.watch = newWatchHub(s) // AFTER restore: it starts at the restored revision
	s.wg.Add(1)
	go s.watch.syncLoop()
	b.start()
	lg.Info("store: opened", "path", cfg.Path, "rev", s.currentRev, "compact_rev", s.compactRev,
		"consistent_index", b.applied.index, "keys", s.kvindex.len())
	return s, nil
}

// restore rebuilds the index by walking the `key` bucket in revision order.
// It returns the scheduled compact revision if that compaction did not finish.
// Runs before anything else can touch the store.
func (s *Store) restore() (unfinishedCompact int64, err error) {
	tx := s.b.tx
	meta := tx.Bucket(bucketMeta)
	sched, _, err := readMetaU64(meta, metaScheduledCompact)
	if err != nil {
		return 0, err
	}
	fin, _, err := readMetaU64(meta, metaFinishedCompact)
	if err != nil {
		return 0, err
	}
	s.compactRev = int64(fin)

	c := tx.Bucket(bucketKey).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		rev, tomb, err := decodeRevKey(k)
		if err != nil {
			return 0, err
		}
		var kv mvccpb.KeyValue
		if err := proto.Unmarshal(v, &kv); err != nil {
			return 0, fmt.Errorf("store: decode value at %v: %w", rev, err)
		}
		// kv.Key aliases nothing: proto.Unmarshal copies bytes fields.
		s.kvindex.restoreEntry(kv.Key, rev, tomb, kv.CreateRevision, kv.Version)
		s.currentRev = max(s.currentRev, rev.main)
	}
	// Compaction can delete the newest revisions if they were tombstones; the
	// revision must not go backwards (etcd issue 17780).
	s.currentRev = max(s.currentRev, s.compactRev, int64(sched))
	metrics.MVCCKeys.Set(float64(s.kvindex.countAt(keySpan{start: []byte{}}, s.currentRev)))
	if int64(sched) > s.compactRev {
		return int64(sched), nil
	}
	return 0, nil
}

// Close stops compaction, commits the pending batch and closes the file.
func (s *Store) Close() error {
	// Refuse new writes and compactions BEFORE waiting for running ones.
	if !s.b.markClosed() {
		return ErrClosed
	}
	close(s.stopc)
	s.wg.Wait() // AFTER compaction goroutines stopped: they use the batch tx.
	return s.b.shutdown()
}

// ConsistentIndex returns the raft entry whose effects were applied last.
// The value on disk equals it after the next commit; both always describe
// the same data (see backend.commitLocked).
func (s *Store) ConsistentIndex() (index, term uint64) {
	ai := s.b.ci.Load()
	return ai.index, ai.term
}

// Rev returns the current revision.
func (s *Store) Rev() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.currentRev
}

// CompactRev returns the compact revision (0 if never compacted).
func (s *Store) CompactRev() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.compactRev
}

// ForceCommit commits the batch tx now.
func (s *Store) ForceCommit() error { return s.b.forceCommit() }
