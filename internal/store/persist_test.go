package store

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestReopenKeepsEverything(t *testing.T) {
	cfg := testConfig(t)
	s := mustOpen(t, cfg)
	put(t, s, 1, "a", "1")
	put(t, s, 2, "b", "1")
	put(t, s, 3, "a", "2")
	del(t, s, 4, "b", "")
	put(t, s, 5, "b", "2")
	w := s.Write(6, 2) // changes nothing, still applied
	w.End()
	h1, rev1, err := s.Hash()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = mustOpen(t, cfg)
	defer s.Close()
	if idx, term := s.ConsistentIndex(); idx != 6 || term != 2 {
		t.Fatalf("consistent index after reopen %d/%d, want 6/2", idx, term)
	}
	h2, rev2, err := s.Hash()
	if err != nil {
		t.Fatal(err)
	}
	if h1 != h2 || rev1 != rev2 || rev2 != 6 {
		t.Fatalf("hash/rev %x/%d before, %x/%d after", h1, rev1, h2, rev2)
	}
	for key, want := range map[string]string{"a": "a=2 c2 m4 v2 l0", "b": "b=2 c6 m6 v1 l0"} {
		if got := kvString(get(t, s, key, 0)); got != want {
			t.Errorf("%s = %s, want %s", key, got, want)
		}
	}
	if got := kvString(get(t, s, "b", 3)); got != "b=1 c3 m3 v1 l0" {
		t.Errorf("history b@3 = %s", got)
	}
	// The index was rebuilt with generations: next put continues them.
	if rev := put(t, s, 7, "a", "3"); rev != 7 {
		t.Fatalf("put after reopen rev %d", rev)
	}
	if got := kvString(get(t, s, "a", 0)); got != "a=3 c2 m7 v3 l0" {
		t.Errorf("a = %s", got)
	}
}

func TestReopenAfterCompaction(t *testing.T) {
	cfg := testConfig(t)
	s := mustOpen(t, cfg)
	put(t, s, 1, "k", "1") // 2
	put(t, s, 2, "k", "2") // 3
	put(t, s, 3, "k", "3") // 4
	put(t, s, 4, "x", "1") // 5
	del(t, s, 5, "x", "")  // 6
	done, err := s.Compact(6, 1, 6)
	if err != nil {
		t.Fatal(err)
	}
	<-done
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, cfg)
	defer s.Close()
	if s.Rev() != 6 || s.CompactRev() != 6 {
		t.Fatalf("rev %d compact %d, want 6/6", s.Rev(), s.CompactRev())
	}
	if got := kvString(get(t, s, "k", 0)); got != "k=3 c2 m4 v3 l0" {
		t.Fatalf("k = %s", got)
	}
	if rev := put(t, s, 7, "k", "4"); rev != 7 {
		t.Fatal(rev)
	}
	if got := kvString(get(t, s, "k", 0)); got != "k=4 c2 m7 v4 l0" {
		t.Fatalf("k after = %s (version must continue across a compacted history)", got)
	}
	if got := kvString(get(t, s, "x", 0)); got != "<none>" {
		t.Fatalf("x = %s", got)
	}
}

func TestOpenFinishesInterruptedCompaction(t *testing.T) {
	cfg := testConfig(t)
	s := mustOpen(t, cfg)
	for i := 1; i <= 5; i++ {
		put(t, s, uint64(i), "k", strconv.Itoa(i)) // revs 2..6
	}
	// Simulate a crash right after the schedule was committed: record it the
	// way Compact does, but run none of the deletes.
	s.b.mu.Lock()
	if err := s.b.putMetaLocked(metaScheduledCompact, 5); err != nil {
		t.Fatal(err)
	}
	s.b.mu.Unlock()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, cfg)
	defer s.Close()
	if s.CompactRev() != 5 {
		t.Fatalf("compact rev %d, want 5", s.CompactRev())
	}
	s.b.mu.Lock()
	n := s.b.tx.Bucket(bucketKey).Stats().KeyN
	fin, _, _ := readMetaU64(s.b.tx.Bucket(bucketMeta), metaFinishedCompact)
	s.b.mu.Unlock()
	if n != 2 || fin != 5 {
		t.Fatalf("after resume: %d revisions left (want 2: 5 and 6), finished=%d", n, fin)
	}
}

// The crash tests run this test binary as a child that writes and dies
// without Close. Each txn i (raft index i) puts key %06d = i, so after a
// reopen the consistent index c must match the data exactly: keys 1..c,
// revision c+1.
const crashEnv = "KVTRACE_STORE_CRASH_CHILD"

func TestCrashChild(t *testing.T) {
	mode := os.Getenv(crashEnv)
	if mode == "" {
		t.Skip("helper process for the crash tests")
	}
	s, err := Open(Config{Path: os.Getenv("KVTRACE_STORE_DB"), BatchInterval: time.Hour, BatchLimit: 5, Logger: quietLogger(),
		Hooks: Hooks{OnBatchCommit: func(ci CommitInfo) { fmt.Printf("commit %d\n", ci.LastIndex) }}})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	for i := uint64(1); ; i++ {
		put(t, s, i, fmt.Sprintf("%06d", i), strconv.FormatUint(i, 10))
		if mode == "exit" && i == 23 {
			os.Exit(0) // no Close, no ForceCommit: 21..23 are only in the batch tx
		}
	}
}

func runCrashChild(t *testing.T, mode string, db string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	// atexit_sleep_ms: a -race child otherwise sleeps 1s before exiting.
	cmd.Env = append(os.Environ(), crashEnv+"="+mode, "KVTRACE_STORE_DB="+db, "GORACE=atexit_sleep_ms=0")
	cmd.Stderr = os.Stderr
	return cmd
}

func checkCrashConsistent(t *testing.T, db string, wantIndex uint64) {
	t.Helper()
	s := mustOpen(t, Config{Path: db, Logger: quietLogger()})
	defer s.Close()
	idx, _ := s.ConsistentIndex()
	if wantIndex != 0 && idx != wantIndex {
		t.Fatalf("consistent index %d, want %d", idx, wantIndex)
	}
	if idx == 0 {
		t.Fatalf("nothing was committed")
	}
	if s.Rev() != int64(idx)+1 {
		t.Fatalf("rev %d with consistent index %d: data and index disagree", s.Rev(), idx)
	}
	r := s.Read()
	defer r.End()
	res, err := r.Range([]byte("\x00"), []byte("\x00"), RangeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(res.KVs)) != idx {
		t.Fatalf("%d keys with consistent index %d", len(res.KVs), idx)
	}
	for i, kv := range res.KVs {
		if want := fmt.Sprintf("%06d", i+1); string(kv.Key) != want || string(kv.Value) != strconv.Itoa(i+1) {
			t.Fatalf("key %d: %s=%s", i, kv.Key, kv.Value)
		}
	}
	t.Logf("recovered consistent index %d, rev %d", idx, s.Rev())
}

func TestCrashExitWithoutClose(t *testing.T) {
	db := filepath.Join(t.TempDir(), "db")
	out, err := runCrashChild(t, "exit", db).Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	// BatchLimit 5 and one put per txn: commits after 5, 10, 15, 20.
	checkCrashConsistent(t, db, 20)
}

func TestCrashKillMidWrite(t *testing.T) {
	db := filepath.Join(t.TempDir(), "db")
	cmd := runCrashChild(t, "kill", db)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Let it commit a few batches, then kill it wherever it is (possibly
	// inside a commit's fsync).
	sc := bufio.NewScanner(stdout)
	commits := 0
	for sc.Scan() && commits < 20 {
		if strings.HasPrefix(sc.Text(), "commit ") {
			commits++
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait() // killed: the error is expected
	if commits < 20 {
		t.Fatalf("child stopped after %d commits", commits)
	}
	checkCrashConsistent(t, db, 0)
}
