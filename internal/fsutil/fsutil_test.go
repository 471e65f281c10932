package fsutil

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestSyncDir(t *testing.T) {
	if err := SyncDir(t.TempDir()); err != nil {
		t.Fatalf("syncing an existing directory: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "gone")
	err := SyncDir(missing)
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("syncing a missing directory: %v, want an error naming %s", err, missing)
	}
}
