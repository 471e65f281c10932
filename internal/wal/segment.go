package wal

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/kvtrace/kvtrace/internal/fsutil"
)

// SegmentSizeBytes is the size segments are preallocated to; the tail is
// cut once it reaches it. Tests lower it. Read without a lock: set it before
// any WAL is in use.
var SegmentSizeBytes int64 = 64 << 20

const (
	segmentSuffix = ".wal"
	tmpSuffix     = ".tmp"
	brokenSuffix  = ".broken"
	// 16 hex digits, '-', 16 hex digits, ".wal"
	segmentNameLen = 16 + 1 + 16 + len(segmentSuffix)
)

// segmentName formats the file name of segment seq whose first entry may be
// index.
func segmentName(seq, index uint64) string {
	return fmt.Sprintf("%016x-%016x%s", seq, index, segmentSuffix)
}

// parseSegmentName accepts exactly what segmentName produces.
func parseSegmentName(name string) (seq, index uint64, ok bool) {
	if len(name) != segmentNameLen || name[16] != '-' || !strings.HasSuffix(name, segmentSuffix) {
		return 0, 0, false
	}
	seq, err1 := strconv.ParseUint(name[:16], 16, 64)
	index, err2 := strconv.ParseUint(name[17:33], 16, 64)
	if err1 != nil || err2 != nil || segmentName(seq, index) != name {
		return 0, 0, false
	}
	return seq, index, true
}

// segmentInfo is a segment's name, parsed.
type segmentInfo struct {
	seq, index uint64
	path       string
}

// listSegments returns the segments in dir in log order.
func listSegments(dir string) ([]segmentInfo, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []segmentInfo
	for _, de := range des {
		if seq, index, ok := parseSegmentName(de.Name()); ok && de.Type().IsRegular() {
			segs = append(segs, segmentInfo{seq: seq, index: index, path: filepath.Join(dir, de.Name())})
		}
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].seq < segs[j].seq })
	return segs, nil
}

// checkContiguous refuses a hole in the sequence numbers: a missing segment
// would silently drop the entries it held.
func checkContiguous(segs []segmentInfo) error {
	for i := 1; i < len(segs); i++ {
		if segs[i].seq != segs[i-1].seq+1 {
			return fmt.Errorf("%w: %s follows %s", ErrSegmentGap, filepath.Base(segs[i].path), filepath.Base(segs[i-1].path))
		}
	}
	return nil
}

// selectSegments returns the suffix of segs a replay from index must read:
// from the last segment whose first index is <= index. Compare etcd wal.go
// selectWALFiles.
func selectSegments(segs []segmentInfo, index uint64) ([]segmentInfo, error) {
	i := sort.Search(len(segs), func(i int) bool { return segs[i].index > index }) - 1
	if i < 0 {
		return nil, fmt.Errorf("%w: the oldest segment %s starts after index %d (purged too far?)",
			ErrSnapshotNotFound, filepath.Base(segs[0].path), index)
	}
	return segs[i:], nil
}

// createSegmentFile creates path exclusively, locks it and preallocates it.
func createSegmentFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		return nil, errors.Join(err, f.Close())
	}
	if err := preallocate(f, SegmentSizeBytes); err != nil {
		return nil, errors.Join(fmt.Errorf("wal: preallocate %s: %w", path, err), f.Close())
	}
	return f, nil
}

// openSegmentFile opens and locks an existing segment.
func openSegmentFile(path string, write bool) (*os.File, error) {
	flag := os.O_RDONLY
	if write {
		flag = os.O_RDWR
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		return nil, errors.Join(err, f.Close())
	}
	return f, nil
}

// lockFile takes an exclusive flock without waiting. flock locks belong to
// the open file description, so a second Open in the same process conflicts
// too.
func lockFile(f *os.File) error {
	err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return fmt.Errorf("%w: %s is in use (is another kvd running on this data dir?)", ErrLocked, f.Name())
	}
	if err != nil {
		return fmt.Errorf("wal: lock %s: %w", f.Name(), err)
	}
	return nil
}

// preallocate makes f at least size bytes long, reserving blocks where the
// file system can (so later appends do not need block allocation, and the
// file length does not change and need no metadata sync) and extending with
// zeros where it cannot.
func preallocate(f *os.File, size int64) error {
	if size <= 0 {
		return nil
	}
	err := unix.Fallocate(int(f.Fd()), 0, 0, size)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EINVAL) {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() < size {
		return f.Truncate(size)
	}
	return nil
}

func fdatasync(f *os.File) error {
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return fmt.Errorf("wal: fdatasync %s: %w", f.Name(), err)
	}
	return nil
}

// fsyncDir makes renames and creations inside dir durable.
func fsyncDir(dir string) error {
	if err := fsutil.SyncDir(dir); err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	return nil
}

// scanResult is where a segment scan stopped.
type scanResult struct {
	end     int64  // end of the last good record: where appends continue
	crc     uint32 // running CRC there
	chained bool
	// torn is set (and the error nil) when the last segment ends in a torn
	// write, only when scanSegment was told the segment is the last.
	torn *CorruptError
}

// scanSegment decodes the segment in f (at path), calling fn for each good
// record, continuing the chain from crc/chained. It applies the repair rules
// of the package doc: last says f is the newest segment, where a torn write
// is reported in scanResult.torn instead of as an error.
func scanSegment(f io.ReaderAt, path string, size int64, crc uint32, chained, last bool, fn func(Record) error) (scanResult, error) {
	d := newDecoder(io.NewSectionReader(f, 0, size), path, size, crc, chained)
	for {
		rec, err := d.next()
		if err == nil {
			if err := fn(rec); err != nil {
				return scanResult{}, err
			}
			continue
		}
		res := scanResult{end: d.good, crc: d.crc, chained: d.chained}
		var ce *CorruptError
		switch {
		case errors.Is(err, io.EOF) && !d.ended:
			return res, nil
		case errors.Is(err, io.EOF):
			zero, at, zerr := d.restIsZero()
			if zerr != nil {
				return scanResult{}, zerr
			}
			if !zero {
				return scanResult{}, d.corrupt(d.good, ErrBadFrame, false,
					"end-of-log marker followed by data at offset %d", at)
			}
			return res, nil
		case errors.As(err, &ce):
			if !last || !ce.tearable {
				return scanResult{}, ce
			}
			zero, at, zerr := d.restIsZero()
			if zerr != nil {
				return scanResult{}, zerr
			}
			if !zero {
				ce.Reason += fmt.Sprintf(", followed by more data at offset %d", at)
				return scanResult{}, ce
			}
			ce.Torn = true
			res.torn = ce
			return res, nil
		default:
			return scanResult{}, err
		}
	}
}
