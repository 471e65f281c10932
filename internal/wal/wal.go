package wal

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"go.etcd.io/raft/v3/raftpb"
)

// Hooks observe every fdatasync of a segment, for the tracing layer. They
// run with the WAL's mutex held and MUST NOT call back into the WAL. bytes
// is what the sync makes durable: bytes written since the previous sync.
type Hooks struct {
	BeforeSync func(bytes int)
	AfterSync  func(bytes int)
}

// segment is an open, flock'd segment file.
type segment struct {
	segmentInfo
	f *os.File
}

// WAL is an open write-ahead log. Its methods are safe for concurrent use
// but raft drives it from one goroutine.
type WAL struct {
	lg  *slog.Logger
	dir string

	// mu guards every field below. It is the only lock in the package and is
	// held across file I/O, including fsyncs.
	mu sync.Mutex

	at       Snapshot // the marker Open was given; ReadAll replays from it
	recs     []Record // records Open decoded, consumed by ReadAll
	needRead bool     // Open done, ReadAll not yet: Save is refused

	metadata  []byte
	state     *raftpb.HardState // latest non-empty HardState saved; heads each new segment
	lastIndex uint64            // index of the last entry written; next segment starts after it

	segs     []*segment // locked segments, oldest first; the LAST is the tail
	tailOff  int64      // next write offset in the tail
	crc      uint32     // running CRC after the last record written
	unsynced int        // bytes written to the tail since its last fdatasync
	buf      []byte     // reused encode buffer

	hooks  Hooks
	failed error // first write or sync error; sticky
	closed bool
}

// Exist reports whether dir holds at least one segment.
func Exist(dir string) bool {
	segs, err := listSegments(dir)
	return err == nil && len(segs) > 0
}

// Create makes a new WAL in dir whose first segment holds metadata and the
// empty snapshot marker. dir must not exist or be empty. Compare etcd
// wal.go (Create, renameWAL).
func Create(dir string, metadata []byte, lg *slog.Logger) (*WAL, error) {
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	if des, err := os.ReadDir(dir); err == nil && len(des) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrExist, dir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	dir = filepath.Clean(dir)
	parent := filepath.Dir(dir)
	tmp := dir + tmpSuffix
	// A leftover from a Create that crashed before its rename holds nothing
	// anyone relies on.
	if err := os.RemoveAll(tmp); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, err
	}
	name := segmentName(0, 0)
	f, err := createSegmentFile(filepath.Join(tmp, name))
	if err != nil {
		return nil, err
	}
	w := &WAL{
		lg:       lg,
		dir:      dir,
		metadata: append([]byte(nil), metadata...),
		segs:     []*segment{{segmentInfo: segmentInfo{path: filepath.Join(tmp, name)}, f: f}},
	}
	fail := func(err error) (*WAL, error) {
		return nil, errors.Join(err, f.Close(), os.RemoveAll(tmp))
	}
	buf, crc := appendRecord(nil, CRCType, 0, nil)
	buf, crc = appendRecord(buf, MetadataType, crc, w.metadata)
	buf, crc = appendRecord(buf, SnapshotType, crc, encodeSnapshot(Snapshot{}))
	w.crc = crc
	if err := w.write(buf); err != nil {
		return fail(err)
	}
	if err := w.sync(); err != nil {
		return fail(err)
	}
	// The segment's directory entry MUST be durable BEFORE the directory
	// gets its real name, or a crash could publish an empty WAL dir.
	if err := fsyncDir(tmp); err != nil {
		return fail(err)
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fail(err) // raced with someone filling dir
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fail(err)
	}
	if err := fsyncDir(parent); err != nil {
		return nil, errors.Join(err, f.Close())
	}
	w.segs[0].path = filepath.Join(dir, name) // the open fd follows the rename
	return w, nil
}

// Open locks and checks the segments a replay from at needs, repairing a
// torn tail (package doc, Repair). The caller MUST call ReadAll next.
// Compare etcd wal.go (Open, openAtIndex, openWALFiles).
func Open(dir string, at Snapshot, lg *slog.Logger) (*WAL, error) {
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	all, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("%w in %s", ErrNoSegments, dir)
	}
	sel, err := selectSegments(all, at.Index)
	if err != nil {
		return nil, err
	}
	if err := checkContiguous(sel); err != nil {
		return nil, err
	}
	w := &WAL{lg: lg, dir: dir, at: at, needRead: true}
	for i, info := range sel {
		f, err := openSegmentFile(info.path, i == len(sel)-1)
		if err != nil {
			return nil, errors.Join(err, w.closeFiles())
		}
		w.segs = append(w.segs, &segment{segmentInfo: info, f: f})
	}
	if err := w.load(); err != nil {
		return nil, errors.Join(err, w.closeFiles())
	}
	// Leftovers of a cut that crashed before its rename; the old tail is
	// still complete, so they hold nothing. Removed only now that we hold
	// the lock.
	if tmps, err := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix+tmpSuffix)); err == nil {
		for _, p := range tmps {
			if err := os.Remove(p); err != nil {
				return nil, errors.Join(err, w.closeFiles())
			}
		}
	}
	return w, nil
}

// load decodes every locked segment into w.recs and repairs the tail.
func (w *WAL) load() error {
	var res scanResult
	for i, s := range w.segs {
		fi, err := s.f.Stat()
		if err != nil {
			return err
		}
		last := i == len(w.segs)-1
		res, err = scanSegment(s.f, s.path, fi.Size(), res.crc, res.chained, last, func(r Record) error {
			w.recs = append(w.recs, r)
			return nil
		})
		if err != nil {
			return err
		}
		if res.torn != nil {
			if err := repairTail(w.lg, s.f, s.path, res.end, res.torn); err != nil {
				return err
			}
		}
	}
	w.tailOff, w.crc = res.end, res.crc
	return nil
}

// tail is the segment being appended to.
func (w *WAL) tail() *segment { return w.segs[len(w.segs)-1] }

// writable reports why Save may not run, if it may not.
func (w *WAL) writable() error {
	switch {
	case w.closed:
		return ErrClosed
	case w.failed != nil:
		return w.failed
	case w.needRead:
		return ErrReadAllFirst
	}
	return nil
}

// SetHooks installs fsync observers (see Hooks).
func (w *WAL) SetHooks(h Hooks) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.hooks = h
}

// Close syncs what is unsynced and releases every segment lock.
func (w *WAL) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	var err error
	if w.failed == nil && w.unsynced > 0 {
		err = w.sync()
	}
	w.closed = true
	return errors.Join(err, w.closeFiles())
}

func (w *WAL) closeFiles() error {
	var errs []error
	for _, s := range w.segs {
		errs = append(errs, s.f.Close()) // closing drops the flock
	}
	w.segs = nil
	return errors.Join(errs...)
}

// ReleaseLockTo unlocks (closes) every segment, except the tail, whose
// entries all have indexes below index: those whose successor starts at or
// below index. A purge may then delete them. Compare etcd wal.go
// (ReleaseLockTo), which keeps one segment more.
func (w *WAL) ReleaseLockTo(index uint64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	n := 0
	for n < len(w.segs)-1 && w.segs[n+1].index <= index {
		n++
	}
	var errs []error
	for _, s := range w.segs[:n] {
		errs = append(errs, s.f.Close())
	}
	w.segs = append([]*segment(nil), w.segs[n:]...)
	return errors.Join(errs...)
}
