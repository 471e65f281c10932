package wal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
)

// tornFixture is a closed WAL whose last record is a lone entry 6 with a
// payload long enough (and unaligned) to give many offsets to tear at.
type tornFixture struct {
	dir        string
	seg        string // base name of the last segment
	start, end int64  // the last record's frame
	padFrom    int64  // where its zero padding starts
}

func newTornFixture(t *testing.T) tornFixture {
	t.Helper()
	setSegmentSize(t, 4096)
	dir := filepath.Join(t.TempDir(), "pristine")
	w := mustCreate(t, dir, []byte("meta"))
	mustSave(t, w, hardState(1, 1, 5), ents(1, 5, 1))
	mustSave(t, w, nil, []*raftpb.Entry{ent(6, 1, []byte("the final record: 37 bytes of payload"))})
	mustClose(t, w)
	recs := records(t, dir)
	last := recs[len(recs)-1]
	if last.Type != EntryType || (recordHeaderBytes+len(last.Data))%8 == 0 {
		t.Fatalf("fixture: last record is %v with %d bytes", last.Type, len(last.Data))
	}
	return tornFixture{
		dir:     dir,
		seg:     filepath.Base(last.File),
		start:   last.Offset,
		end:     last.Offset + frameLen(last),
		padFrom: last.Offset + lengthWordBytes + recordHeaderBytes + int64(len(last.Data)),
	}
}

// damaged copies the fixture, applies damage to the last segment and
// returns the copy's directory and segment path.
func (fx tornFixture) damaged(t *testing.T, damage func([]byte) []byte) (string, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "wal")
	copyDir(t, fx.dir, dir)
	seg := filepath.Join(dir, fx.seg)
	patchFile(t, seg, damage)
	return dir, seg
}

// checkRepaired opens a damaged copy and checks that everything but the
// last record survives, that the evidence is kept when there was damage to
// see, and that the repaired log takes appends.
func (fx tornFixture) checkRepaired(t *testing.T, damage func([]byte) []byte, wantBroken bool) {
	t.Helper()
	dir, seg := fx.damaged(t, damage)
	damagedBytes, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	lg, logs := newLogger()
	w, err := Open(dir, Snapshot{}, lg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	_, hs, got, err := w.ReadAll()
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	checkEntries(t, got, ents(1, 5, 1))
	checkHardState(t, hs, hardState(1, 1, 5))

	broken, statErr := os.ReadFile(seg + brokenSuffix)
	if wantBroken != (statErr == nil) {
		t.Fatalf("want .broken=%v, stat: %v", wantBroken, statErr)
	}
	if n := strings.Count(logs.String(), "repaired torn tail"); wantBroken && n != 1 || !wantBroken && n != 0 {
		t.Fatalf("repair logged %d times:\n%s", n, logs.String())
	}
	if wantBroken && !bytes.Equal(broken, damagedBytes) {
		t.Fatal(".broken is not a copy of the damaged segment")
	}

	redo := ent(6, 2, []byte("rewritten"))
	mustSave(t, w, hardState(2, 1, 6), []*raftpb.Entry{redo})
	mustClose(t, w)
	w, _, hs, got = mustReadAll(t, dir, Snapshot{})
	mustClose(t, w)
	checkEntries(t, got, append(ents(1, 5, 1), redo))
	checkHardState(t, hs, hardState(2, 1, 6))
	records(t, dir) // and the whole chain verifies
}

// checkIntact opens a copy changed in a way that is not damage.
func (fx tornFixture) checkIntact(t *testing.T, change func([]byte) []byte) {
	t.Helper()
	dir, seg := fx.damaged(t, change)
	w, _, _, got := mustReadAll(t, dir, Snapshot{})
	mustClose(t, w)
	if len(got) != 6 {
		t.Fatalf("got %d entries, want all 6", len(got))
	}
	if _, err := os.Stat(seg + brokenSuffix); err == nil {
		t.Fatal("an intact log was repaired")
	}
}

func TestTornTailRepairedAtEveryOffset(t *testing.T) {
	fx := newTornFixture(t)
	for k := fx.start; k < fx.end; k++ {
		// At k == start the log simply ends one record earlier: nothing is
		// damaged, so nothing is repaired.
		torn := k > fx.start
		t.Run(fmt.Sprintf("truncate@%d", k), func(t *testing.T) {
			fx.checkRepaired(t, func(b []byte) []byte { return b[:k] }, torn)
		})
		t.Run(fmt.Sprintf("zero@%d", k), func(t *testing.T) {
			zero := func(b []byte) []byte { clear(b[k:]); return b }
			if k >= fx.padFrom {
				fx.checkIntact(t, zero) // zeroing the padding changes nothing
				return
			}
			fx.checkRepaired(t, zero, torn)
		})
	}
}

func TestFinalRecordBitFlipRepaired(t *testing.T) {
	// Any flip after the length word of the final record breaks its header,
	// CRC or padding; with only zeros after it, that is a torn write.
	fx := newTornFixture(t)
	for k := fx.start + lengthWordBytes; k < fx.end; k++ {
		t.Run(fmt.Sprintf("flip@%d", k), func(t *testing.T) {
			fx.checkRepaired(t, func(b []byte) []byte { b[k] ^= 0x10; return b }, true)
		})
	}
}

func TestRepeatedRepairKeepsEveryCopy(t *testing.T) {
	fx := newTornFixture(t)
	dir, seg := fx.damaged(t, func(b []byte) []byte { return b[:fx.end-3] })
	w, _, _, _ := mustReadAll(t, dir, Snapshot{})
	mustSave(t, w, nil, []*raftpb.Entry{ent(6, 1, []byte("again, long enough to tear"))})
	mustClose(t, w)
	patchFile(t, seg, func(b []byte) []byte { return b[:fx.start+12] })
	w, _, _, _ = mustReadAll(t, dir, Snapshot{})
	mustClose(t, w)
	for _, p := range []string{seg + brokenSuffix, seg + brokenSuffix + ".1"} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("missing %s: %v", p, err)
		}
	}
}

func TestReadDirReportsTornTailWithoutRepair(t *testing.T) {
	fx := newTornFixture(t)
	dir, seg := fx.damaged(t, func(b []byte) []byte { return b[:fx.start+20] })
	n := 0
	err := ReadDir(dir, func(Record) error { n++; return nil })
	var ce *CorruptError
	if !errors.As(err, &ce) || !ce.Torn || ce.Offset != fx.start || ce.File != seg {
		t.Fatalf("ReadDir: %v, want a torn CorruptError at %s:%d", err, seg, fx.start)
	}
	if !errors.Is(err, ErrUnexpectedEOF) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ReadDir: %v does not match ErrUnexpectedEOF and ErrCorrupt", err)
	}
	if n != 3+5+1 {
		t.Fatalf("ReadDir reported %d good records before the tear, want 9", n)
	}
	if fi, _ := os.Stat(seg); fi.Size() != fx.start+20 {
		t.Fatal("ReadDir changed the segment")
	}
	if _, err := os.Stat(seg + brokenSuffix); err == nil {
		t.Fatal("ReadDir wrote a .broken file")
	}
}

// multiSegment writes entries 1..40 across several 1 KiB segments.
func multiSegment(t *testing.T) (string, []Record) {
	t.Helper()
	setSegmentSize(t, 1024)
	dir := filepath.Join(t.TempDir(), "pristine")
	w := mustCreate(t, dir, nil)
	for i := uint64(1); i <= 40; i++ {
		mustSave(t, w, hardState(1, 1, i), ents(i, i, 1))
	}
	mustClose(t, w)
	if n := len(segmentPaths(t, dir)); n < 3 {
		t.Fatalf("want at least 3 segments, got %d", n)
	}
	return dir, records(t, dir)
}

// checkRefused damages a copy of src at one byte of rec and checks that
// Open and ReadDir both refuse, naming rec's file and offset, and that no
// file is changed.
func checkRefused(t *testing.T, src string, rec Record, at int64, cause error) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "wal")
	copyDir(t, src, dir)
	seg := filepath.Join(dir, filepath.Base(rec.File))
	patchFile(t, seg, func(b []byte) []byte { b[at] ^= 0x01; return b })
	before, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}

	_, err = Open(dir, Snapshot{}, nil)
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Torn || ce.File != seg || ce.Offset != rec.Offset || !errors.Is(err, cause) {
		t.Fatalf("Open: %v\nwant a CorruptError (%v) at %s:%d", err, cause, seg, rec.Offset)
	}
	msg := err.Error()
	if !strings.Contains(msg, fmt.Sprintf("%s at offset %d", seg, rec.Offset)) || !strings.Contains(msg, "restore this member") {
		t.Fatalf("message does not name the place or the remedy: %s", msg)
	}
	if err := ReadDir(dir, func(Record) error { return nil }); !errors.As(err, &ce) || ce.Offset != rec.Offset {
		t.Fatalf("ReadDir: %v", err)
	}
	after, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatal("a refused Open changed the segment")
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*"+brokenSuffix+"*")); len(m) != 0 {
		t.Fatalf("a refused Open wrote %v", m)
	}
	// And the lock was released on the way out.
	if _, err := Open(dir, Snapshot{}, nil); errors.Is(err, ErrLocked) {
		t.Fatal("refused Open leaked its lock")
	}
}

func TestMidLogCorruptionRefused(t *testing.T) {
	dir, recs := multiSegment(t)
	segs := segmentPaths(t, dir)
	lastSeg := segs[len(segs)-1]
	var inLast []Record
	var endOfFirst Record
	for _, r := range recs {
		if r.File == lastSeg {
			inLast = append(inLast, r)
		}
		if r.File == segs[0] {
			endOfFirst = r
		}
	}
	if len(inLast) < 5 {
		t.Fatalf("last segment has only %d records", len(inLast))
	}
	payload := func(r Record) int64 { return r.Offset + lengthWordBytes + recordHeaderBytes }

	t.Run("payload-bit-mid-last-segment", func(t *testing.T) {
		r := inLast[len(inLast)-3] // followed by two good records
		checkRefused(t, dir, r, payload(r), ErrCRCMismatch)
	})
	t.Run("crc-field-mid-last-segment", func(t *testing.T) {
		r := inLast[len(inLast)-2]
		checkRefused(t, dir, r, r.Offset+lengthWordBytes+4, ErrCRCMismatch)
	})
	t.Run("last-record-of-earlier-segment", func(t *testing.T) {
		checkRefused(t, dir, endOfFirst, payload(endOfFirst), ErrCRCMismatch)
	})
	t.Run("crc-record-heading-last-segment", func(t *testing.T) {
		checkRefused(t, dir, inLast[0], inLast[0].Offset+lengthWordBytes+4, ErrCRCMismatch)
	})
	t.Run("length-word-marker-bit", func(t *testing.T) {
		r := inLast[len(inLast)-3]
		dir2 := filepath.Join(t.TempDir(), "wal")
		copyDir(t, dir, dir2)
		seg := filepath.Join(dir2, filepath.Base(r.File))
		patchFile(t, seg, func(b []byte) []byte { b[r.Offset+7] ^= frameMarker; return b })
		_, err := Open(dir2, Snapshot{}, nil)
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.Offset != r.Offset || !errors.Is(err, ErrBadFrame) {
			t.Fatalf("Open: %v", err)
		}
	})
}

func TestZeroedRecordMidLogRefused(t *testing.T) {
	// A zero length word ends the log; data after it means the zeros are
	// damage, not the preallocated tail.
	dir, recs := multiSegment(t)
	r := recs[len(recs)-3]
	dir2 := filepath.Join(t.TempDir(), "wal")
	copyDir(t, dir, dir2)
	seg := filepath.Join(dir2, filepath.Base(r.File))
	patchFile(t, seg, func(b []byte) []byte { clear(b[r.Offset : r.Offset+frameLen(r)]); return b })
	_, err := Open(dir2, Snapshot{}, nil)
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Torn || ce.Offset != r.Offset || !strings.Contains(ce.Reason, "end-of-log marker followed by data") {
		t.Fatalf("Open: %v", err)
	}
}

func TestUnknownTypeRefusedEvenAtTail(t *testing.T) {
	fx := newTornFixture(t)
	recs := records(t, fx.dir)
	last := recs[len(recs)-1]
	frame, _ := appendRecord(nil, RecordType(9), last.CRC, []byte("from the future"))
	dir, seg := fx.damaged(t, func(b []byte) []byte { copy(b[fx.end:], frame); return b })
	_, err := Open(dir, Snapshot{}, nil)
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Torn || ce.Offset != fx.end || ce.File != seg || !errors.Is(err, ErrUnknownType) {
		t.Fatalf("Open: %v, want ErrUnknownType at %d", err, fx.end)
	}
}
