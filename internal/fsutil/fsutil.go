// Package fsutil holds the file-system steps the WAL, the snapshotter and
// the store share.
package fsutil

import (
	"fmt"
	"os"
)

// SyncDir fsyncs directory dir, which makes the creations, renames and
// removals inside it durable (a file's own fsync does not cover its
// directory entry).
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}
