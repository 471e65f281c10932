package store

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testConfig(t testing.TB) Config {
	return Config{Path: filepath.Join(t.TempDir(), "db"), Logger: quietLogger()}
}

func mustOpen(t testing.TB, cfg Config) *Store {
	t.Helper()
	s, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// openTemp opens a fresh store that is closed when the test ends.
func openTemp(t testing.TB) *Store {
	t.Helper()
	s := mustOpen(t, testConfig(t))
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// put applies one Put as its own txn at raft index idx (0: none).
func put(t testing.TB, s *Store, idx uint64, key, val string) int64 {
	t.Helper()
	w := s.Write(idx, 1)
	defer w.End()
	return w.Put([]byte(key), []byte(val), 0)
}

func del(t testing.TB, s *Store, idx uint64, key, end string) (int64, int64) {
	t.Helper()
	w := s.Write(idx, 1)
	defer w.End()
	var e []byte
	if end != "" {
		e = []byte(end)
	}
	return w.DeleteRange([]byte(key), e)
}

// get reads one key at rev (0: current); nil if absent.
func get(t testing.TB, s *Store, key string, rev int64) *mvccpb.KeyValue {
	t.Helper()
	r := s.Read()
	defer r.End()
	res, err := r.Range([]byte(key), nil, RangeOptions{Rev: rev})
	if err != nil {
		t.Fatalf("Range(%q@%d): %v", key, rev, err)
	}
	if len(res.KVs) == 0 {
		return nil
	}
	return res.KVs[0]
}

// kvString renders the interesting fields of a kv for comparisons.
func kvString(kv *mvccpb.KeyValue) string {
	if kv == nil {
		return "<none>"
	}
	return fmt.Sprintf("%s=%s c%d m%d v%d l%d", kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision, kv.Version, kv.Lease)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(time.Millisecond) // polling interval, not a synchronisation sleep
	}
}
