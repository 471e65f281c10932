package instrument

import "testing"

// The boundaries call these on every entry whether or not anything is traced
// or armed, so each MUST stay allocation-free.

func TestHotPathsDoNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(1000, func() { Failpoint(WALSync) }); n != 0 {
		t.Errorf("Failpoint (off) allocates %v times", n)
	}
	if n := testing.AllocsPerRun(1000, func() { Anchor(WALSync, "m1", 3, 42) }); n != 0 {
		t.Errorf("Anchor allocates %v times", n)
	}
}

func BenchmarkFailpointOff(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Failpoint(WALSync)
	}
}

func BenchmarkAnchor(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Anchor(WALSync, "m1", 3, 42)
	}
}

func BenchmarkEntryContextAbsent(b *testing.B) {
	_, data := putRequest(b)
	b.ReportAllocs()
	for b.Loop() {
		EntryContext(data)
	}
}

func BenchmarkEntryContextPresent(b *testing.B) {
	_, data := putRequest(b)
	data = AppendEntryContext(data, testSC(true))
	b.ReportAllocs()
	for b.Loop() {
		EntryContext(data)
	}
}

func BenchmarkAppendEntryContext(b *testing.B) {
	_, data := putRequest(b)
	buf := make([]byte, 0, len(data)+64)
	sc := testSC(true)
	b.ReportAllocs()
	for b.Loop() {
		AppendEntryContext(append(buf[:0], data...), sc)
	}
}
