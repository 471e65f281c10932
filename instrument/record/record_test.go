package record

import (
	"bytes"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/kvtrace/kvtrace/instrument/names"
)

// sample returns the i-th record of a synthetic run: three writes' worth of
// boundaries, so contexts repeat within a block.
func sample(r *Recorder, i int) Rec {
	bs := []names.ID{names.MustID(names.Send), names.MustID(names.WALSave), names.MustID(names.Apply), names.MustID(names.CommitAdvance)}
	rec := Rec{
		Boundary: bs[i%len(bs)], Kind: uint8(i % 7), Flags: RoleLeader | FlagMustSync,
		SpanID: r.NewSpanID(), Start: int64(1000 * i), End: int64(1000*i + 500),
		Term: 2, First: uint64(i), Last: uint64(i + 2), Index: uint64(i), LogTerm: 2, Commit: uint64(i - 1),
		Peer: 0x91bc3c398fb3c146, Count: 3, Bytes: uint32(64 * i),
	}
	if i%5 != 4 { // every fifth record belongs to no trace
		rec.TraceID[0], rec.TraceID[15] = byte(i/3+1), 0xaa
		rec.Parent[7] = byte(i/3 + 1)
	}
	return rec
}

func openTest(t *testing.T, o Options) *Recorder {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.Member == "" {
		o.Member, o.MemberID = "m1", 0x8e9e05c52164694d
	}
	r, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func readAll(t *testing.T, dir string) (Header, []Rec, []*TornTail) {
	t.Helper()
	files, err := Files(dir)
	if err != nil || len(files) == 0 {
		t.Fatalf("files %v, %v", files, err)
	}
	var hdr Header
	var recs []Rec
	var torn []*TornTail
	for _, f := range files {
		tt, err := ReadFile(f, func(h *Header, b *Block) error {
			hdr = *h
			recs = append(recs, b.Records...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if tt != nil {
			torn = append(torn, tt)
		}
	}
	return hdr, recs, torn
}

// waitWritten polls until the writer has written n records.
func waitWritten(t *testing.T, r *Recorder, n uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for r.Stats().Written < n {
		if time.Now().After(deadline) {
			t.Fatalf("writer wrote %d of %d records in 10s", r.Stats().Written, n)
		}
		time.Sleep(time.Millisecond) // polling a background goroutine with a deadline
	}
}

func TestRoundTrip(t *testing.T) {
	r := openTest(t, Options{FlushInterval: time.Millisecond})
	dir := r.opts.Dir
	var want []Rec
	for i := range 10000 { // more than one block
		rec := sample(r, i)
		want = append(want, rec)
		r.Record(rec)
		if i == 5000 {
			waitWritten(t, r, 5001)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	st := r.Stats()
	if st.Recorded+st.Dropped != 10000 || st.Written != st.Recorded || st.Lost != 0 || st.Blocks < 3 {
		t.Fatalf("stats %+v", st)
	}
	hdr, got, torn := readAll(t, dir)
	if hdr.Member != "m1" || hdr.MemberID != 0x8e9e05c52164694d || torn != nil {
		t.Fatalf("header %+v, torn %v", hdr, torn)
	}
	if st.Dropped == 0 && len(got) != len(want) {
		t.Fatalf("read %d records, want %d", len(got), len(want))
	}
	// Records come back in order, field for field (dropped ones missing).
	j := 0
	for _, g := range got {
		for j < len(want) && want[j].SpanID != g.SpanID {
			j++
		}
		if j == len(want) || want[j] != g {
			t.Fatalf("record %+v not read back as written", g)
		}
	}
}

func TestRotationKeepsTimeOrder(t *testing.T) {
	r := openTest(t, Options{FlushInterval: time.Millisecond, MaxFileBytes: 2000})
	dir := r.opts.Dir
	for i := range 200 {
		r.Record(sample(r, i))
		waitWritten(t, r, uint64(i+1))
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := Files(dir)
	if len(files) < 5 || r.Stats().Files != uint64(len(files)) {
		t.Fatalf("%d files, stats %+v", len(files), r.Stats())
	}
	_, got, _ := readAll(t, dir)
	if len(got) != 200 {
		t.Fatalf("read %d records, want 200", len(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i].Start <= got[i-1].Start {
			t.Fatalf("record %d out of order across files", i)
		}
	}
}

func TestRingFullDropsNeverBlocks(t *testing.T) {
	q := newRing(8)
	var rec Rec
	for i := range 8 {
		rec.Index = uint64(i)
		if _, ok := q.push(&rec); !ok {
			t.Fatalf("push %d refused in an empty ring", i)
		}
	}
	if _, ok := q.push(&rec); ok {
		t.Fatal("a full ring accepted a record")
	}
	var out Rec
	if !q.pop(&out) || out.Index != 0 {
		t.Fatalf("pop got %d, want 0", out.Index)
	}
	rec.Index = 8
	if _, ok := q.push(&rec); !ok {
		t.Fatal("push refused after a pop")
	}
	for i := 1; i <= 8; i++ {
		if !q.pop(&out) || out.Index != uint64(i) {
			t.Fatalf("pop got %d, want %d", out.Index, i)
		}
	}
	if q.pop(&out) {
		t.Fatal("pop from an empty ring")
	}
}

// TestConcurrentProducers: many goroutines record at once (the race detector
// checks the ring's publication); every record is written or counted dropped.
func TestConcurrentProducers(t *testing.T) {
	r := openTest(t, Options{Capacity: 64, FlushInterval: time.Millisecond})
	dir := r.opts.Dir
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5000 {
				r.Record(sample(r, g*5000+i))
			}
		}()
	}
	wg.Wait()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	st := r.Stats()
	if st.Recorded+st.Dropped != 20000 || st.Written != st.Recorded {
		t.Fatalf("stats %+v", st)
	}
	_, got, _ := readAll(t, dir)
	if uint64(len(got)) != st.Written {
		t.Fatalf("read %d records, stats say %d written", len(got), st.Written)
	}
	var dropped uint64
	files, _ := Files(dir)
	for _, f := range files {
		if _, err := ReadFile(f, func(_ *Header, b *Block) error { dropped += b.Dropped; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if dropped > st.Dropped {
		t.Fatalf("blocks report %d drops, recorder counted %d", dropped, st.Dropped)
	}
	t.Logf("capacity 64, 4 producers: %d written, %d dropped (%d reported in blocks)", st.Written, st.Dropped, dropped)
}

func TestPersistenceErrorIsReported(t *testing.T) {
	var reported []error
	var mu sync.Mutex
	r := openTest(t, Options{FlushInterval: time.Millisecond, OnError: func(err error) {
		mu.Lock()
		reported = append(reported, err)
		mu.Unlock()
	}})
	r.Record(sample(r, 0))
	waitWritten(t, r, 1)
	r.f.Close() // the file goes away under the writer: its next write fails
	for i := 1; i < 10; i++ {
		r.Record(sample(r, i))
	}
	err := r.Close()
	if err == nil || !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Close returned %v, want the write error", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reported) != 1 || reported[0] != err {
		t.Fatalf("OnError got %v", reported)
	}
	if st := r.Stats(); st.Lost != 9 || st.Written != 1 {
		t.Fatalf("stats %+v: the 9 records after the failure must be counted lost", st)
	}
}

func TestNilRecorderIsOff(t *testing.T) {
	var r *Recorder
	r.Record(Rec{Boundary: 1})
	if r.On() || r.Now() != 0 || r.NewSpanID() != ([8]byte{}) || r.Close() != nil || r.Err() != nil {
		t.Fatal("a nil recorder must do nothing")
	}
	if n := testing.AllocsPerRun(1000, func() { r.Record(Rec{Boundary: 1, Start: 5}) }); n != 0 {
		t.Fatalf("off: %v allocations per Record", n)
	}
}

func TestRecordDoesNotAllocate(t *testing.T) {
	r := openTest(t, Options{})
	defer r.Close()
	rec := sample(r, 1)
	if n := testing.AllocsPerRun(1000, func() {
		rec.Start = r.Now()
		rec.SpanID = r.NewSpanID()
		r.Record(rec)
	}); n != 0 {
		t.Fatalf("on: %v allocations per Record", n)
	}
}

func TestHeaderRejections(t *testing.T) {
	r := openTest(t, Options{})
	dir := r.opts.Dir
	r.Record(sample(r, 1))
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := Files(dir)
	data, _ := os.ReadFile(files[0])
	for name, mut := range map[string]func(b []byte){
		"bad magic": func(b []byte) { b[0] = 'X' },
		"version":   func(b []byte) { b[8] = 9 },
		"crc":       func(b []byte) { b[20] ^= 1 },
	} {
		b := bytes.Clone(data)
		mut(b)
		_, err := NewReader(name, bytes.NewReader(b), int64(len(b)))
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.Offset != 0 {
			t.Errorf("%s: got %v, want a CorruptError at offset 0", name, err)
		}
	}
	if _, err := NewReader("x", bytes.NewReader(nil), 0); err == nil {
		t.Error("an empty file must not read as a recording")
	}
}
