package main

import (
	"strings"
	"testing"
)

// TestDebugRefusesUnknownBoundary: a --boundary outside the table's anchors
// fails at once (before attaching), naming the anchors there are.
func TestDebugRefusesUnknownBoundary(t *testing.T) {
	for _, b := range []string{"wal.fsyncc", "raft.conf_change", "raftBeforeSave"} {
		_, errOut, code := tracer(t, "debug", "--attach", "m1=127.0.0.1:1", "--boundary", b, "--once")
		if code != 1 || !strings.Contains(errOut, "not a debugger anchor") || !strings.Contains(errOut, "wal.fsync") {
			t.Fatalf("--boundary %s: exit %d: %s", b, code, errOut)
		}
	}
	if err := checkAnchor("wal.fsync"); err != nil {
		t.Fatal(err)
	}
}
