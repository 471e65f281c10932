package store

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/kvtrace/kvtrace/instrument"
	"github.com/kvtrace/kvtrace/internal/metrics"
)

// ErrClosed is returned by operations on a closed Store.
var ErrClosed = errors.New("store: closed")

// appliedIndex is a raft position: the entry whose effects were last written.
type appliedIndex struct{ index, term uint64 }

// backend owns the bbolt file and the one long-lived read-write transaction
// ("batch tx") every write goes into. It is committed every BatchInterval by
// run, or as soon as BatchLimit operations are pending, like etcd's
// batchTxBuffered (server/storage/backend/batch_tx.go: batchTx.Unlock,
// backend.run, batchTxBuffered.unsafeCommit).
//
// Reads do not touch the batch tx (a bbolt Tx is not safe for concurrent
// use). Instead every value written to the `key` bucket is also put in buf,
// keyed by its bucket key, until the commit that makes it visible to new
// bbolt read transactions. A reader looks a revision up in buf, then in
// frozen, then in a short bbolt read tx of its own; see readValues for why
// that triple is always complete. etcd solves the same problem with
// txWriteBuffer/txReadBuffer (server/storage/backend/tx_buffer.go); this
// version buffers only the `key` bucket because revisions are written once
// and never updated in place, so a buffer hit can never be stale.
type backend struct {
	db       *bolt.DB
	lg       *slog.Logger
	hooks    Hooks
	interval time.Duration
	limit    int

	// mu is the batch-tx lock. It guards tx, ops, bytes, firstIndex,
	// lastIndex, applied, persisted, failed and closed. The apply goroutine
	// holds it for a whole write txn (Store.Write until End), the committer
	// for a whole commit, the compactor for one delete batch.
	// Lock order: backend.mu BEFORE Store.mu BEFORE backend.bufMu.
	mu         sync.Mutex
	tx         *bolt.Tx
	ops        int    // bbolt puts/deletes in tx
	bytes      int    // key+value bytes put in tx
	firstIndex uint64 // first raft index applied into tx (0: none yet)
	lastIndex  uint64
	applied    appliedIndex // written into meta by the next commit
	persisted  appliedIndex // what meta holds on disk
	failed     error        // a commit or begin failed; the store is unusable
	closed     bool
	started    bool // run was launched; set once in Open

	// bufMu guards buf and frozen. Writers hold it only for a map update;
	// readers hold it (shared) for all value look-ups of one Range, which is
	// what keeps their view of buf/frozen/bbolt consistent. It is always
	// taken last (see mu).
	bufMu sync.RWMutex
	// buf holds `key` bucket writes of the open batch tx.
	buf map[string][]byte
	// frozen holds the batch being committed: non-nil only while a commit is
	// running (from BEFORE tx.Commit until AFTER it returned).
	frozen map[string][]byte

	// ci mirrors applied for lock-free Store.ConsistentIndex.
	ci atomic.Pointer[appliedIndex]
	// size is the bbolt file's size as of the last commit (or open), set
	// whenever a batch tx begins, for the lock-free Store.CommittedSize.
	size atomic.Int64

	stopc chan struct{} // closed by close to stop run
	donec chan struct{} // closed when run returns
}

// boltOptions are the bbolt options used for every open. fsync stays ON:
// NoSync would let a commit return before its data is durable, breaking the
// consistent-index guarantee.
func boltOptions() *bolt.Options {
	return &bolt.Options{
		// Like etcd (server/storage/backend/backend.go newBackend): the
		// freelist is rebuilt on open instead of written on every commit.
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
		// Fail instead of hanging forever if another process has the file.
		Timeout: 10 * time.Second,
	}
}

func openBackend(path string, interval time.Duration, limit int, lg *slog.Logger, hooks Hooks) (*backend, error) {
	db, err := bolt.Open(path, 0o600, boltOptions())
	if err != nil {
		return nil, fmt.Errorf("store: open bbolt %s: %w", path, err)
	}
	b := &backend{
		db: db, lg: lg, hooks: hooks, interval: interval, limit: limit,
		buf:   make(map[string][]byte),
		stopc: make(chan struct{}),
		donec: make(chan struct{}),
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketKey, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %q: %w", name, err)
			}
		}
		return nil
	})
	if err == nil {
		b.tx, err = db.Begin(true)
	}
	if err == nil {
		b.noteSizeLocked(b.tx.Size())
		err = b.loadApplied()
	}
	if err != nil {
		if b.tx != nil {
			_ = b.tx.Rollback() // the close error below is the one to report
		}
		return nil, errors.Join(fmt.Errorf("store: init %s: %w", path, err), db.Close())
	}
	return b, nil
}

// loadApplied reads the persisted consistent index. Called before run starts.
func (b *backend) loadApplied() error {
	meta := b.tx.Bucket(bucketMeta)
	idx, _, err := readMetaU64(meta, metaConsistentIndex)
	if err != nil {
		return err
	}
	term, _, err := readMetaU64(meta, metaTerm)
	if err != nil {
		return err
	}
	b.applied = appliedIndex{idx, term}
	b.persisted = b.applied
	ai := b.applied
	b.ci.Store(&ai)
	return nil
}

// start launches the periodic committer.
func (b *backend) start() {
	b.started = true
	go b.run()
}

func (b *backend) run() {
	defer close(b.donec)
	t := time.NewTicker(b.interval)
	defer t.Stop()
	for {
		select {
		case <-b.stopc:
			return
		case <-t.C:
		}
		b.mu.Lock()
		err := b.commitLocked(false)
		b.mu.Unlock()
		if err != nil {
			// Nothing can return this error to a caller, and the in-memory
			// state is now ahead of the file: stop the process.
			b.lg.Error("store: periodic batch commit failed", "err", err)
			panic(fmt.Sprintf("store: periodic batch commit failed: %v", err))
		}
	}
}

// putKeyLocked writes one `key` bucket entry. b.mu MUST be held.
func (b *backend) putKeyLocked(revKey, val []byte) error {
	if err := b.tx.Bucket(bucketKey).Put(revKey, val); err != nil {
		return fmt.Errorf("store: put %x: %w", revKey, err)
	}
	// AFTER the bbolt put and BEFORE the write txn ends, so the value is
	// findable by the time its revision becomes visible to readers.
	b.bufMu.Lock()
	b.buf[string(revKey)] = val
	b.bufMu.Unlock()
	b.ops++
	b.bytes += len(revKey) + len(val)
	return nil
}

// deleteKeyLocked removes one `key` bucket entry (compaction). b.mu MUST be held.
func (b *backend) deleteKeyLocked(revKey []byte) error {
	if err := b.tx.Bucket(bucketKey).Delete(revKey); err != nil {
		return fmt.Errorf("store: delete %x: %w", revKey, err)
	}
	b.bufMu.Lock()
	delete(b.buf, string(revKey))
	b.bufMu.Unlock()
	b.ops++
	return nil
}

// putMetaLocked writes one meta key. b.mu MUST be held.
func (b *backend) putMetaLocked(name []byte, v uint64) error {
	if err := b.tx.Bucket(bucketMeta).Put(name, u64Bytes(v)); err != nil {
		return fmt.Errorf("store: put meta %q: %w", name, err)
	}
	b.ops++
	return nil
}

// getKeyLocked reads a `key` bucket value through the batch tx, which sees
// its own uncommitted writes. The result is only valid until the next
// commit. b.mu MUST be held.
func (b *backend) getKeyLocked(revKey []byte) []byte {
	return b.tx.Bucket(bucketKey).Get(revKey)
}

// noteAppliedLocked records that the raft entry (index, term) has been
// applied into the batch tx. Index 0 means "not a raft entry". The caller
// checked that index is newer than b.applied. b.mu MUST be held.
func (b *backend) noteAppliedLocked(index, term uint64) {
	if index == 0 {
		return
	}
	b.applied = appliedIndex{index, term}
	if b.firstIndex == 0 {
		b.firstIndex = index
	}
	b.lastIndex = index
	ai := b.applied
	b.ci.Store(&ai)
}

// shouldCommitLocked reports whether BatchLimit has been reached. b.mu MUST be held.
func (b *backend) shouldCommitLocked() bool { return b.ops >= b.limit }

// commitLocked commits the batch tx and, unless final, begins the next one.
// It is a no-op when nothing changed. b.mu MUST be held. A returned error
// leaves the backend failed: later writes panic.
//
// Steps:
//  1. Write the applied (index, term) into meta IN THE SAME bbolt tx as the
//     data it describes, so a crash can never leave data without its index
//     or an index without its data (etcd issue 13766; etcd does it in the
//     pre-commit hook, server/storage/backend/hooks.go).
//  2. Move buf to frozen, under bufMu, so readers still find this batch
//     while the fsync runs without holding bufMu.
//  3. tx.Commit (write + fsync).
//  4. Begin the next batch tx.
//  5. Drop frozen, under bufMu: only AFTER step 3 is the batch visible to
//     new bbolt read transactions.
//  6. Report the commit to Hooks.OnBatchCommit.
func (b *backend) commitLocked(final bool) error {
	if b.failed != nil {
		return b.failed
	}
	if b.ops == 0 && b.applied == b.persisted {
		if final {
			return b.endTxLocked()
		}
		return nil
	}
	start := time.Now()
	// Step 1.
	if b.applied != b.persisted {
		if err := b.putMetaLocked(metaConsistentIndex, b.applied.index); err != nil {
			return b.failLocked(err)
		}
		if err := b.putMetaLocked(metaTerm, b.applied.term); err != nil {
			return b.failLocked(err)
		}
	}
	// Step 2.
	b.bufMu.Lock()
	b.frozen, b.buf = b.buf, make(map[string][]byte, len(b.buf))
	b.bufMu.Unlock()
	// Step 3.
	instrument.Failpoint(instrument.BeforeCommit)
	instrument.Anchor(instrument.BackendCommit, "", b.applied.term, b.applied.index)
	err := b.tx.Commit()
	b.tx = nil
	if err != nil {
		return b.failLocked(fmt.Errorf("store: commit batch tx: %w", err))
	}
	info := CommitInfo{
		Start: start, Duration: time.Since(start), Ops: b.ops, Bytes: b.bytes,
		FirstIndex: b.firstIndex, LastIndex: b.lastIndex,
	}
	metrics.BackendCommitSeconds.Observe(info.Duration.Seconds())
	b.persisted = b.applied
	b.ops, b.bytes, b.firstIndex, b.lastIndex = 0, 0, 0, 0
	// Step 4.
	if !final {
		tx, err := b.db.Begin(true)
		if err != nil {
			return b.failLocked(fmt.Errorf("store: begin batch tx: %w", err))
		}
		b.tx = tx
		b.noteSizeLocked(tx.Size())
	}
	// Step 5.
	b.bufMu.Lock()
	b.frozen = nil
	b.bufMu.Unlock()
	instrument.Failpoint(instrument.AfterCommit)
	// Step 6. The hook runs with b.mu held: it MUST NOT call into the Store.
	if b.hooks.OnBatchCommit != nil {
		b.hooks.OnBatchCommit(info)
	}
	return nil
}

// endTxLocked rolls back an unchanged batch tx at close. b.mu MUST be held.
func (b *backend) endTxLocked() error {
	if b.tx == nil {
		return nil
	}
	err := b.tx.Rollback()
	b.tx = nil
	if err != nil && !errors.Is(err, bolterrors.ErrTxClosed) {
		return fmt.Errorf("store: rollback batch tx: %w", err)
	}
	return nil
}

func (b *backend) failLocked(err error) error {
	b.failed = err
	b.lg.Error("store: backend failed", "err", err)
	return err
}

// forceCommit commits the batch tx now.
func (b *backend) forceCommit() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	return b.commitLocked(false)
}

// readValues runs fn with a getter for `key` bucket values that sees every
// revision written so far, committed or not. Values returned by get are only
// valid inside fn.
//
// Why it is complete: a written value is in buf from its write until step 2
// of a commit, in frozen from step 2 until step 5, and in bbolt from step 3
// on. Holding bufMu shared for the whole of fn pins one of these states:
// before step 2 (buf + committed file), between 2 and 5 (frozen covers the
// batch whether or not the read tx below saw the commit), after 5.
// The bbolt read tx is opened lazily and per call, never held across a
// commit: a long-lived read tx would block bbolt's remap inside tx.Commit
// (db.mmaplock), which etcd works around the same way in unsafeCommit.
func (b *backend) readValues(fn func(get func(revKey []byte) ([]byte, error)) error) (err error) {
	b.bufMu.RLock()
	defer b.bufMu.RUnlock()
	var rtx *bolt.Tx
	defer func() {
		if rtx != nil {
			if rerr := rtx.Rollback(); rerr != nil && err == nil {
				err = fmt.Errorf("store: rollback read tx: %w", rerr)
			}
		}
	}()
	get := func(revKey []byte) ([]byte, error) {
		if v, ok := b.buf[string(revKey)]; ok {
			return v, nil
		}
		if v, ok := b.frozen[string(revKey)]; ok {
			return v, nil
		}
		if rtx == nil {
			t, err := b.db.Begin(false)
			if err != nil {
				return nil, fmt.Errorf("store: begin read tx: %w", err)
			}
			rtx = t
		}
		return rtx.Bucket(bucketKey).Get(revKey), nil
	}
	return fn(get)
}

// markClosed refuses new writes; it returns false if already closed.
func (b *backend) markClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.closed = true
	return true
}

// shutdown stops the committer, commits what is pending and closes the
// file. markClosed MUST have been called first.
func (b *backend) shutdown() error {
	if b.started {
		close(b.stopc)
		<-b.donec // AFTER run has returned, nothing else commits.
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	err := b.commitLocked(true)
	if rerr := b.endTxLocked(); rerr != nil {
		err = errors.Join(err, rerr)
	}
	if cerr := b.db.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("store: close bbolt: %w", cerr))
	}
	return err
}

// closeUnstarted closes a backend whose Open failed half-way.
func (b *backend) closeUnstarted() error {
	b.markClosed()
	return b.shutdown()
}
