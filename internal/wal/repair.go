package wal

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
)

// repairTail cuts the torn end off the last segment, following the steps in
// the package doc (Repair). f is the segment open for writing; end is where
// the last good record ends. The idea is etcd's repair.go (Repair), which
// runs on ErrUnexpectedEOF; the rules for what counts as torn are ours.
func repairTail(lg *slog.Logger, f *os.File, path string, end int64, torn *CorruptError) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("wal: repair %s: %w", path, err)
	}
	// 1. Keep the damaged original BEFORE changing anything, so an operator
	// can see what was cut.
	broken, err := saveBroken(f, path)
	if err != nil {
		return fmt.Errorf("wal: repair %s: keep a copy: %w", path, err)
	}
	// 2. Cut at the end of the last good record and restore the zero tail
	// the decoder expects, then make both durable.
	if err := f.Truncate(end); err != nil {
		return fmt.Errorf("wal: repair %s: truncate to %d: %w", path, end, err)
	}
	if err := preallocate(f, SegmentSizeBytes); err != nil {
		return fmt.Errorf("wal: repair %s: preallocate: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("wal: repair %s: fsync: %w", path, err)
	}
	if err := fsyncDir(filepath.Dir(path)); err != nil {
		return err
	}
	// 3. One line, with everything needed to find the evidence.
	lg.Warn("wal: repaired torn tail",
		"file", path,
		"offset", end,
		"dropped_bytes", fi.Size()-end,
		"reason", torn.Reason,
		"broken_copy", broken)
	return nil
}

// saveBroken copies the whole segment to <path>.broken (or .broken.N when
// an earlier repair left one) and syncs the copy.
func saveBroken(f *os.File, path string) (string, error) {
	name := path + brokenSuffix
	var out *os.File
	for i := 1; ; i++ {
		var err error
		out, err = os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrExist) || i > 1000 {
			return "", err
		}
		name = fmt.Sprintf("%s%s.%d", path, brokenSuffix, i)
	}
	_, err := io.Copy(out, io.NewSectionReader(f, 0, 1<<62))
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", errors.Join(err, os.Remove(name))
	}
	return name, nil
}
