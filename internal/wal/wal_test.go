package wal

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"golang.org/x/sys/unix"
)

func TestCreateWritesHeader(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	if Exist(dir) {
		t.Fatal("Exist before Create")
	}
	w := mustCreate(t, dir, []byte("member-1"))
	mustClose(t, w)
	if !Exist(dir) {
		t.Fatal("Exist after Create is false")
	}
	if _, err := os.Stat(dir + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary dir left behind: %v", err)
	}
	recs := records(t, dir)
	want := []RecordType{CRCType, MetadataType, SnapshotType}
	if len(recs) != len(want) {
		t.Fatalf("got %d records, want %d", len(recs), len(want))
	}
	for i, r := range recs {
		if r.Type != want[i] {
			t.Fatalf("record %d is %v, want %v", i, r.Type, want[i])
		}
		if filepath.Base(r.File) != "0000000000000000-0000000000000000.wal" {
			t.Fatalf("record %d in %s", i, r.File)
		}
	}
	if string(recs[1].Data) != "member-1" {
		t.Fatalf("metadata %q", recs[1].Data)
	}
	if _, err := Create(dir, nil, nil); !errors.Is(err, ErrExist) {
		t.Fatalf("second Create: %v, want ErrExist", err)
	}
}

func TestCreateIntoEmptyDir(t *testing.T) {
	dir := t.TempDir() // exists, empty
	mustClose(t, mustCreate(t, dir, nil))
	_, meta, hs, es := mustReadAll(t, dir, Snapshot{})
	if len(meta) != 0 || len(es) != 0 || hs.GetTerm() != 0 {
		t.Fatalf("fresh WAL replayed %q %v %v", meta, hs, es)
	}
}

func TestRoundTripAcrossSegments(t *testing.T) {
	setSegmentSize(t, 2048)
	dir := filepath.Join(t.TempDir(), "wal")
	w := mustCreate(t, dir, []byte("meta"))
	var want []*raftpb.Entry
	var hs *raftpb.HardState
	for i := uint64(1); i <= 300; i += 3 {
		es := ents(i, i+2, 1+i/100)
		hs = hardState(1+i/100, 1, i)
		mustSave(t, w, hs, es)
		want = append(want, es...)
	}
	mustClose(t, w)

	segs := segmentPaths(t, dir)
	if len(segs) < 4 {
		t.Fatalf("expected several segment cuts, got %d segments", len(segs))
	}
	w, meta, gotHS, got := mustReadAll(t, dir, Snapshot{})
	if string(meta) != "meta" {
		t.Fatalf("metadata %q", meta)
	}
	checkHardState(t, gotHS, hs)
	checkEntries(t, got, want)

	// Appending after a reopen continues the chain.
	more := ents(301, 310, 5)
	hs = hardState(5, 2, 305)
	mustSave(t, w, hs, more)
	mustClose(t, w)
	w, _, gotHS, got = mustReadAll(t, dir, Snapshot{})
	defer mustClose(t, w)
	checkHardState(t, gotHS, hs)
	checkEntries(t, got, append(want, more...))

	// Every non-last segment was trimmed at its cut and begins with a CRC
	// record; every segment name says where its entries start.
	for i, p := range segmentPaths(t, dir)[1:] {
		seq, index, _ := parseSegmentName(filepath.Base(p))
		if seq != uint64(i+1) {
			t.Fatalf("%s: sequence %d, want %d", p, seq, i+1)
		}
		var first *raftpb.Entry
		for _, e := range got {
			if e.GetIndex() >= index {
				first = e
				break
			}
		}
		if first != nil && first.GetIndex() != index {
			t.Fatalf("%s: first index %d but name says %d", p, first.GetIndex(), index)
		}
	}
	var lastPerFile = map[string]RecordType{}
	for _, r := range records(t, dir) {
		if _, seen := lastPerFile[r.File]; !seen && r.Type != CRCType {
			t.Fatalf("%s starts with %v, want a CRC record", r.File, r.Type)
		}
		lastPerFile[r.File] = r.Type
	}
}

func TestMustSyncFalseStillWrites(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	w := mustCreate(t, dir, nil)
	if err := w.Save(hardState(1, 1, 0), ents(1, 3, 1), false); err != nil {
		t.Fatal(err)
	}
	// Visible to a reader (page cache) before any sync or Close.
	if n := len(records(t, dir)); n != 3+3+1 {
		t.Fatalf("ReadDir saw %d records, want 7", n)
	}
	mustClose(t, w)
}

func TestOverwriteSuffix(t *testing.T) {
	setSegmentSize(t, 1024)
	dir := filepath.Join(t.TempDir(), "wal")
	w := mustCreate(t, dir, nil)
	mustSave(t, w, hardState(1, 1, 5), ents(1, 10, 1))
	// A new leader of term 2 overwrites the uncommitted 6..10 with 6..8.
	mustSave(t, w, hardState(2, 2, 5), ents(6, 8, 2))
	mustClose(t, w)

	want := append(ents(1, 5, 1), ents(6, 8, 2)...)
	w, _, hs, got := mustReadAll(t, dir, Snapshot{})
	checkEntries(t, got, want)
	checkHardState(t, hs, hardState(2, 2, 5))

	// The next cut is named after the overwritten tail (9), not the old 11.
	for n := len(w.segs); len(w.segs) == n; {
		mustSave(t, w, hardState(2, 2, 6), nil)
	}
	mustClose(t, w)
	segs := segmentPaths(t, dir)
	if _, index, _ := parseSegmentName(filepath.Base(segs[len(segs)-1])); index != 9 {
		t.Fatalf("new segment %s, want first index 9", segs[len(segs)-1])
	}
	w, _, _, got = mustReadAll(t, dir, Snapshot{})
	mustClose(t, w)
	checkEntries(t, got, want)
}

func TestEntryGapIsCorrupt(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	w := mustCreate(t, dir, nil)
	mustSave(t, w, nil, ents(1, 3, 1))
	mustSave(t, w, nil, ents(5, 5, 1))
	mustClose(t, w)
	w, err := Open(dir, Snapshot{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer mustClose(t, w)
	_, _, _, err = w.ReadAll()
	var ce *CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, ErrIndexGap) {
		t.Fatalf("ReadAll: %v, want a CorruptError wrapping ErrIndexGap", err)
	}
	if err := w.Save(nil, ents(6, 6, 1), true); err == nil {
		t.Fatal("Save after a failed ReadAll succeeded")
	}
}

func TestOpenAtSnapshot(t *testing.T) {
	setSegmentSize(t, 1024)
	dir := filepath.Join(t.TempDir(), "wal")
	w := mustCreate(t, dir, nil)
	mustSave(t, w, hardState(2, 1, 20), ents(1, 20, 2))
	for i := uint64(21); i <= 80; i++ {
		mustSave(t, w, hardState(2, 1, i), ents(i, i, 2))
	}
	if err := w.SaveSnapshot(Snapshot{Index: 60, Term: 2}); err != nil {
		t.Fatal(err)
	}
	mustSave(t, w, hardState(2, 1, 85), ents(81, 85, 2))
	mustClose(t, w)
	if n := len(segmentPaths(t, dir)); n < 3 {
		t.Fatalf("want several segments, got %d", n)
	}

	w, _, hs, got := mustReadAll(t, dir, Snapshot{Index: 60, Term: 2})
	mustClose(t, w)
	checkEntries(t, got, append(ents(61, 80, 2), ents(81, 85, 2)...))
	checkHardState(t, hs, hardState(2, 1, 85))

	for _, tc := range []struct {
		at   Snapshot
		want error
	}{
		{Snapshot{Index: 59, Term: 2}, ErrSnapshotNotFound},
		{Snapshot{Index: 60, Term: 3}, ErrSnapshotMismatch},
	} {
		w, err := Open(dir, tc.at, nil)
		if err != nil {
			t.Fatalf("Open(%+v): %v", tc.at, err)
		}
		_, _, _, err = w.ReadAll()
		mustClose(t, w)
		if !errors.Is(err, tc.want) {
			t.Fatalf("ReadAll at %+v: %v, want %v", tc.at, err, tc.want)
		}
	}
}

func TestSecondOpenIsLocked(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	w := mustCreate(t, dir, nil)
	if _, err := Open(dir, Snapshot{}, nil); !errors.Is(err, ErrLocked) {
		t.Fatalf("Open while Created WAL is open: %v, want ErrLocked", err)
	}
	mustClose(t, w)
	w, _, _, _ = mustReadAll(t, dir, Snapshot{})
	_, err := Open(dir, Snapshot{}, nil)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	t.Logf("second Open: %v", err)
	mustClose(t, w)
	w, _, _, _ = mustReadAll(t, dir, Snapshot{})
	mustClose(t, w)
}

func TestCallOrder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	mustClose(t, mustCreate(t, dir, nil))
	w, err := Open(dir, Snapshot{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Save(hardState(1, 1, 0), nil, true); !errors.Is(err, ErrReadAllFirst) {
		t.Fatalf("Save before ReadAll: %v", err)
	}
	if _, _, _, err := w.ReadAll(); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := w.ReadAll(); !errors.Is(err, ErrReadAllFirst) {
		t.Fatalf("second ReadAll: %v", err)
	}
	mustClose(t, w)
	if err := w.Save(hardState(1, 1, 0), nil, true); !errors.Is(err, ErrClosed) {
		t.Fatalf("Save after Close: %v", err)
	}
}

func TestSyncHooks(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	w := mustCreate(t, dir, nil)
	var before, after []int
	w.SetHooks(Hooks{
		BeforeSync: func(n int) { before = append(before, n) },
		AfterSync:  func(n int) { after = append(after, n) },
	})
	startOff := w.tailOff
	if err := w.Save(nil, ents(1, 1, 1), false); err != nil {
		t.Fatal(err)
	}
	if len(before) != 0 {
		t.Fatalf("mustSync=false synced: %v", before)
	}
	if err := w.Save(nil, ents(2, 2, 1), true); err != nil {
		t.Fatal(err)
	}
	// Both unsynced Saves are made durable by the one sync.
	written := int(w.tailOff - startOff)
	if len(before) != 1 || len(after) != 1 || before[0] != written || after[0] != written {
		t.Fatalf("hooks saw before=%v after=%v", before, after)
	}
	mustClose(t, w)
}

func TestReleaseLockTo(t *testing.T) {
	setSegmentSize(t, 512)
	dir := filepath.Join(t.TempDir(), "wal")
	w := mustCreate(t, dir, nil)
	for i := uint64(1); i <= 60; i++ {
		mustSave(t, w, nil, ents(i, i, 1))
	}
	segs, err := listSegments(dir)
	if err != nil || len(segs) < 4 {
		t.Fatalf("want several segments: %v %d", err, len(segs))
	}
	release := segs[2].index // segments 0 and 1 hold only entries < release
	if err := w.ReleaseLockTo(release); err != nil {
		t.Fatal(err)
	}
	for i, s := range segs {
		f, err := os.Open(s.path)
		if err != nil {
			t.Fatal(err)
		}
		lerr := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if free := lerr == nil; free != (i < 2) {
			t.Fatalf("segment %d (%s): lockable=%v after ReleaseLockTo(%d)", i, s.path, free, release)
		}
	}
	// Releasing everything still keeps the tail locked.
	if err := w.ReleaseLockTo(1 << 62); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Snapshot{}, nil); !errors.Is(err, ErrLocked) {
		t.Fatalf("Open after releasing all but the tail: %v, want ErrLocked", err)
	}
	mustClose(t, w)
}

func TestSegmentGapRefused(t *testing.T) {
	setSegmentSize(t, 512)
	dir := filepath.Join(t.TempDir(), "wal")
	w := mustCreate(t, dir, nil)
	for i := uint64(1); i <= 40; i++ {
		mustSave(t, w, nil, ents(i, i, 1))
	}
	mustClose(t, w)
	segs := segmentPaths(t, dir)
	if err := os.Remove(segs[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Snapshot{}, nil); !errors.Is(err, ErrSegmentGap) {
		t.Fatalf("Open: %v, want ErrSegmentGap", err)
	}
	if err := ReadDir(dir, func(Record) error { return nil }); !errors.Is(err, ErrSegmentGap) {
		t.Fatalf("ReadDir: %v, want ErrSegmentGap", err)
	}
}

func TestStaleCutTempRemoved(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wal")
	mustClose(t, mustCreate(t, dir, nil))
	stale := filepath.Join(dir, segmentName(1, 1)+tmpSuffix)
	if err := os.WriteFile(stale, []byte("half a header"), 0o600); err != nil {
		t.Fatal(err)
	}
	w, _, _, _ := mustReadAll(t, dir, Snapshot{})
	mustClose(t, w)
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale %s survived Open: %v", stale, err)
	}
}
