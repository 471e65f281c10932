package snap

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/kvtrace/kvtrace/internal/fsutil"
)

// ErrNoSnapshot: the directory holds no usable snapshot.
var ErrNoSnapshot = errors.New("snap: no available snapshot")

// ErrChecksum: a received database did not match the sender's sha256.
var ErrChecksum = errors.New("snap: database checksum mismatch")

const (
	snapSuffix = ".snap"
	dbSuffix   = ".snap.db"
	tmpSuffix  = ".tmp"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Marker is a snapshot position, as the WAL records it.
type Marker struct{ Index, Term uint64 }

// Snapshotter reads and writes the files of one snap directory.
type Snapshotter struct {
	dir string
	lg  *slog.Logger
}

// New returns a Snapshotter for dir, creating it if needed and removing
// leftovers of interrupted writes.
func New(dir string, lg *slog.Logger) (*Snapshotter, error) {
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("snap: create %s: %w", dir, err)
	}
	tmps, _ := filepath.Glob(filepath.Join(dir, "*"+tmpSuffix))
	for _, p := range tmps {
		if err := os.Remove(p); err != nil {
			return nil, err
		}
	}
	return &Snapshotter{dir: dir, lg: lg}, nil
}

// Dir is the snap directory.
func (s *Snapshotter) Dir() string { return s.dir }

func snapName(term, index uint64) string {
	return fmt.Sprintf("%016x-%016x%s", term, index, snapSuffix)
}

// DBPath is where the database received for snapshot index lives.
func (s *Snapshotter) DBPath(index uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%016x%s", index, dbSuffix))
}

// SaveSnap writes snap durably (tmp, fsync, rename, fsync dir). The caller
// MUST write the WAL marker only AFTER it returns (package doc, 1).
func (s *Snapshotter) SaveSnap(snap *raftpb.Snapshot) error {
	md := snap.GetMetadata()
	b, err := proto.Marshal(snap)
	if err != nil {
		return fmt.Errorf("snap: encode: %w", err)
	}
	out := make([]byte, 4, 4+len(b))
	binary.LittleEndian.PutUint32(out, crc32.Checksum(b, crcTable))
	out = append(out, b...)
	return writeFileDurably(filepath.Join(s.dir, snapName(md.GetTerm(), md.GetIndex())), func(f *os.File) error {
		_, err := f.Write(out)
		return err
	})
}

// writeFileDurably writes path through "<path>.tmp": fill, fsync, rename,
// fsync the directory. The name appears only once the bytes are durable.
func writeFileDurably(path string, fill func(*os.File) error) error {
	tmp := path + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	err = fill(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = fsutil.SyncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("snap: write %s: %w", path, err)
	}
	return nil
}

// Read decodes one .snap file, checking its CRC.
func Read(path string) (*raftpb.Snapshot, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 4 {
		return nil, fmt.Errorf("snap: %s is %d bytes: too short", path, len(b))
	}
	if crc := crc32.Checksum(b[4:], crcTable); crc != binary.LittleEndian.Uint32(b) {
		return nil, fmt.Errorf("snap: %s: CRC mismatch", path)
	}
	snap := &raftpb.Snapshot{}
	if err := proto.Unmarshal(b[4:], snap); err != nil {
		return nil, fmt.Errorf("snap: %s: %w", path, err)
	}
	return snap, nil
}

// snapFiles lists the .snap files, newest (highest term, then index) first.
func (s *Snapshotter) snapFiles() ([]string, error) {
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, de := range des {
		if n := de.Name(); strings.HasSuffix(n, snapSuffix) && len(n) == 33+len(snapSuffix) {
			names = append(names, n)
		}
	}
	// Fixed-width hex: lexical order is (term, index) order.
	sort.Sort(sort.Reverse(sort.StringSlice(names)))
	return names, nil
}

// LoadNewestAvailable returns the newest snapshot whose (index, term) is
// one of markers (the WAL's snapshot records). Damaged files are skipped
// with a warning, as etcd does (snapshotter.go, loadMatching).
func (s *Snapshotter) LoadNewestAvailable(markers []Marker) (*raftpb.Snapshot, error) {
	want := map[Marker]bool{}
	for _, m := range markers {
		want[m] = true
	}
	names, err := s.snapFiles()
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		term, err1 := strconv.ParseUint(n[:16], 16, 64)
		index, err2 := strconv.ParseUint(n[17:33], 16, 64)
		if err1 != nil || err2 != nil || !want[Marker{index, term}] {
			continue
		}
		snap, err := Read(filepath.Join(s.dir, n))
		if err != nil {
			s.lg.Warn("skipping an unreadable snapshot file", "file", n, "error", err)
			continue
		}
		return snap, nil
	}
	return nil, ErrNoSnapshot
}

// SaveDBFrom writes the database for snapshot index from r, which carries
// exactly size bytes followed by their 32-byte sha256, and returns the
// final path. The file gets its name only if the checksum matched; the
// data never sits whole in memory.
func (s *Snapshotter) SaveDBFrom(r io.Reader, size int64, index uint64) (string, error) {
	path := s.DBPath(index)
	h := sha256.New()
	err := writeFileDurably(path, func(f *os.File) error {
		n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, size))
		if err != nil {
			return err
		}
		if n != size {
			return fmt.Errorf("snap: database stream ended after %d of %d bytes", n, size)
		}
		var sum [sha256.Size]byte
		if _, err := io.ReadFull(r, sum[:]); err != nil {
			return fmt.Errorf("snap: reading the database checksum: %w", err)
		}
		if string(sum[:]) != string(h.Sum(nil)) {
			return ErrChecksum
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	s.lg.Info("saved a received database", "path", path, "bytes", size)
	return path, nil
}

// Purge removes all but the newest max .snap files (max <= 0 keeps all).
func (s *Snapshotter) Purge(max int) error {
	if max <= 0 {
		return nil
	}
	names, err := s.snapFiles()
	if err != nil {
		return err
	}
	var errs []error
	for i := max; i < len(names); i++ {
		if err := os.Remove(filepath.Join(s.dir, names[i])); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		} else {
			s.lg.Info("purged snapshot file", "file", names[i])
		}
	}
	return errors.Join(errs...)
}

// ReleaseDBs removes received databases for indexes below index: an
// applied snapshot at index made them useless (etcd snapshotter.go,
// ReleaseSnapDBs).
func (s *Snapshotter) ReleaseDBs(index uint64) error {
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, de := range des {
		n := de.Name()
		if !strings.HasSuffix(n, dbSuffix) || len(n) != 16+len(dbSuffix) {
			continue
		}
		i, err := strconv.ParseUint(n[:16], 16, 64)
		if err != nil || i >= index {
			continue
		}
		if err := os.Remove(filepath.Join(s.dir, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
