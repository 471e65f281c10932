package record

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Figures from these benchmarks are in docs/performance.md ("The hot-path
// recorder"), with the machine and the command.

func BenchmarkRecordOff(b *testing.B) {
	var r *Recorder
	rec := Rec{Boundary: 3, Term: 2, First: 10, Last: 12}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		rec.Index = uint64(i)
		r.Record(rec)
	}
}

func benchOn(b *testing.B, parallel bool) {
	r, err := Open(Options{Dir: b.TempDir(), Member: "m1", MemberID: 1, Capacity: 1 << 16, FlushInterval: time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	rec := sample(r, 3)
	b.ReportAllocs()
	b.ResetTimer()
	if parallel {
		b.RunParallel(func(pb *testing.PB) {
			rec := rec
			for pb.Next() {
				rec.Start = r.Now()
				rec.SpanID = r.NewSpanID()
				rec.End = r.Now()
				r.Record(rec)
			}
		})
	} else {
		// In chunks of an eighth of the buffer, letting the writer catch up
		// between chunks (timer stopped), so every record is accepted: the
		// figure is the accepted path, not the cheaper drop path.
		const chunk = 1 << 13
		for done := 0; done < b.N; {
			n := min(chunk, b.N-done)
			for range n {
				rec.Start = r.Now()
				rec.SpanID = r.NewSpanID()
				rec.End = r.Now()
				r.Record(rec)
			}
			done += n
			b.StopTimer()
			for r.Stats().Written < r.Stats().Recorded {
				time.Sleep(100 * time.Microsecond)
			}
			b.StartTimer()
		}
	}
	b.StopTimer()
	if err := r.Close(); err != nil {
		b.Fatal(err)
	}
	st := r.Stats()
	b.ReportMetric(float64(st.Dropped)/float64(st.Recorded+st.Dropped), "dropped/op")
}

// BenchmarkRecordOn is one boundary's whole cost with tracing on: two clock
// reads, a span id and Record, while the writer drains to a file.
func BenchmarkRecordOn(b *testing.B)         { benchOn(b, false) }
func BenchmarkRecordOnParallel(b *testing.B) { benchOn(b, true) }

// BenchmarkEncodeBlock is the writer goroutine's cost per record (encoding
// a full block; the write(2) is extra).
func BenchmarkEncodeBlock(b *testing.B) {
	e := newBlockEncoder()
	recs := make([]Rec, MaxBlockRecords)
	for i := range recs {
		recs[i] = sample(nil, i)
	}
	b.ReportAllocs()
	b.SetBytes(int64(RecordSize * len(recs)))
	for b.Loop() {
		e.buf = e.buf[:0]
		e.encode(recs, 1, 1, 0)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
}

// BenchmarkRecordOnly is Record alone (no clock reads, no span id).
func BenchmarkRecordOnly(b *testing.B) {
	r, err := Open(Options{Dir: b.TempDir(), Member: "m1", MemberID: 1, Capacity: 1 << 16, FlushInterval: time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	rec := sample(r, 3)
	b.ReportAllocs()
	const chunk = 1 << 13
	for done := 0; done < b.N; {
		n := min(chunk, b.N-done)
		for range n {
			r.Record(rec)
		}
		done += n
		b.StopTimer()
		for r.Stats().Written < r.Stats().Recorded {
			time.Sleep(100 * time.Microsecond)
		}
		b.StartTimer()
	}
	b.StopTimer()
	if err := r.Close(); err != nil {
		b.Fatal(err)
	}
	st := r.Stats()
	b.ReportMetric(float64(st.Dropped)/float64(st.Recorded+st.Dropped), "dropped/op")
}

// BenchmarkNow is one clock read in the recorder's units.
func BenchmarkNow(b *testing.B) {
	r := &Recorder{anchor: time.Now()}
	var s int64
	for b.Loop() {
		s += r.Now()
	}
	_ = s
}

// mutexQueue is the alternative the ring was measured against: a bounded
// queue under one mutex shared by every producer and the consumer.
type mutexQueue struct {
	mu      sync.Mutex // guards buf, head, n
	buf     []Rec
	head, n int
}

func (q *mutexQueue) push(r *Rec) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == len(q.buf) {
		return false
	}
	q.buf[(q.head+q.n)%len(q.buf)] = *r
	q.n++
	return true
}

func (q *mutexQueue) pop(r *Rec) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		return false
	}
	*r = q.buf[q.head]
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	return true
}

// benchQueue: producers on every P push while one consumer goroutine pops
// as fast as it can (the writer's role). Every record goes through, so ns/op
// is the cost of moving one record from a producer to the consumer,
// contention included.
func benchQueue(b *testing.B, push, pop func(*Rec) bool) {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var r Rec
		for {
			select {
			case <-stop:
				return
			default:
			}
			for pop(&r) {
			}
			runtime.Gosched()
		}
	}()
	var full atomic.Int64
	rec := sample(nil, 3)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := rec
		for pb.Next() {
			for !push(&r) { // here every record must pass: retry, so ns/op is the accepted path
				full.Add(1)
				runtime.Gosched()
			}
		}
	})
	b.StopTimer()
	close(stop)
	<-done
	b.ReportMetric(float64(full.Load())/float64(b.N), "full/op")
}

func BenchmarkQueueRing(b *testing.B) {
	q := newRing(1 << 12)
	benchQueue(b, func(r *Rec) bool { _, ok := q.push(r); return ok }, q.pop)
}

func BenchmarkQueueMutex(b *testing.B) {
	q := &mutexQueue{buf: make([]Rec, 1<<12)}
	benchQueue(b, q.push, q.pop)
}
