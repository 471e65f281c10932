package wal

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// setSegmentSize lowers SegmentSizeBytes for one test. Tests that use it
// MUST NOT call t.Parallel.
func setSegmentSize(t testing.TB, n int64) {
	t.Helper()
	old := SegmentSizeBytes
	SegmentSizeBytes = n
	t.Cleanup(func() { SegmentSizeBytes = old })
}

func ent(index, term uint64, data []byte) *raftpb.Entry {
	return &raftpb.Entry{
		Index: proto.Uint64(index),
		Term:  proto.Uint64(term),
		Type:  raftpb.EntryType_EntryNormal.Enum(),
		Data:  data,
	}
}

func ents(from, to, term uint64) []*raftpb.Entry {
	var out []*raftpb.Entry
	for i := from; i <= to; i++ {
		out = append(out, ent(i, term, []byte{byte(i), byte(i >> 8), 'x'}))
	}
	return out
}

func hardState(term, vote, commit uint64) *raftpb.HardState {
	return &raftpb.HardState{Term: proto.Uint64(term), Vote: proto.Uint64(vote), Commit: proto.Uint64(commit)}
}

// logBuf is a concurrency-safe buffer for a text slog handler.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newLogger() (*slog.Logger, *logBuf) {
	lb := &logBuf{}
	return slog.New(slog.NewTextHandler(lb, nil)), lb
}

func mustCreate(t testing.TB, dir string, meta []byte) *WAL {
	t.Helper()
	w, err := Create(dir, meta, nil)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return w
}

func mustSave(t testing.TB, w *WAL, hs *raftpb.HardState, es []*raftpb.Entry) {
	t.Helper()
	if err := w.Save(hs, es, true); err != nil {
		t.Fatalf("Save: %v", err)
	}
}

func mustClose(t testing.TB, w *WAL) {
	t.Helper()
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// mustReadAll opens dir at snapshot at, replays it and returns the open WAL.
func mustReadAll(t testing.TB, dir string, at Snapshot) (*WAL, []byte, *raftpb.HardState, []*raftpb.Entry) {
	t.Helper()
	w, err := Open(dir, at, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	meta, hs, es, err := w.ReadAll()
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	return w, meta, hs, es
}

func checkEntries(t testing.TB, got, want []*raftpb.Entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d", len(got), len(want))
	}
	for i := range got {
		if !proto.Equal(got[i], want[i]) {
			t.Fatalf("entry %d: got %v, want %v", i, got[i], want[i])
		}
	}
}

func checkHardState(t testing.TB, got, want *raftpb.HardState) {
	t.Helper()
	if !proto.Equal(got, want) {
		t.Fatalf("hardstate: got %v, want %v", got, want)
	}
}

// records lists every record in dir, failing on any error.
func records(t testing.TB, dir string) []Record {
	t.Helper()
	var out []Record
	if err := ReadDir(dir, func(r Record) error { out = append(out, r); return nil }); err != nil {
		t.Fatalf("ReadDir: %v", err)
	}
	return out
}

// frameLen is the on-disk size of r's frame.
func frameLen(r Record) int64 {
	n := recordHeaderBytes + len(r.Data)
	return int64(lengthWordBytes + n + padFor(n))
}

func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	des, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		in, err := os.Open(filepath.Join(src, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dst, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(out, in)
		if err = errors.Join(err, in.Close(), out.Close()); err != nil {
			t.Fatal(err)
		}
	}
}

func segmentPaths(t testing.TB, dir string) []string {
	t.Helper()
	segs, err := listSegments(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range segs {
		out = append(out, s.path)
	}
	return out
}

// patchFile applies fn to the contents of path and writes them back.
func patchFile(t testing.TB, path string, fn func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, fn(b), 0o600); err != nil {
		t.Fatal(err)
	}
}
