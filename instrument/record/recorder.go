package record

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Recorder.
type Options struct {
	Dir           string        // <data-dir>/trace; created if missing
	MemberID      uint64        // the member's raft id
	Member        string        // the member's name (at most 255 bytes)
	Capacity      int           // records buffered; rounded up to a power of two; default 32768
	FlushInterval time.Duration // the writer drains the buffer at least this often; default 50ms
	MaxFileBytes  int64         // rotate after a file reaches this size; default 64 MiB
	OnError       func(error)   // called once, from the writer goroutine, with the first persistence error
}

// Stats are the recorder's counters.
type Stats struct {
	Recorded uint64 // records accepted by Record
	Dropped  uint64 // records refused because the buffer was full
	Written  uint64 // records in blocks written to a file
	Lost     uint64 // records accepted but not written because writing had failed
	Blocks   uint64
	Files    uint64
}

// Recorder is one member's recorder (doc.go, usage contract). A nil
// *Recorder records nothing.
type Recorder struct {
	q        *ring
	kickMask uint64
	anchor   time.Time
	spanBase uint64
	spanSeq  atomic.Uint64

	dropped atomic.Uint64
	written atomic.Uint64
	lost    atomic.Uint64
	blocks  atomic.Uint64
	files   atomic.Uint64

	kick      chan struct{}
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once

	// errMu guards err. Taken by the writer goroutine and by Err; never by
	// Record, so the hot path shares no lock.
	errMu sync.Mutex
	err   error

	// Writer goroutine only.
	opts        Options
	f           *os.File
	fileBytes   int64
	enc         *blockEncoder
	batch       []Rec
	lastDropped uint64
}

// Open creates the first file of a new recording in opts.Dir and starts the
// writer goroutine.
func Open(opts Options) (*Recorder, error) {
	if len(opts.Member) > maxNameLen {
		return nil, fmt.Errorf("record: member name %q is longer than %d bytes", opts.Member, maxNameLen)
	}
	if opts.Capacity <= 0 {
		opts.Capacity = 1 << 15
	}
	if opts.Capacity < 8 {
		opts.Capacity = 8
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = 50 * time.Millisecond
	}
	if opts.MaxFileBytes <= 0 {
		opts.MaxFileBytes = 64 << 20
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("record: create trace directory: %w", err)
	}
	var seed [8]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("record: span id seed: %w", err)
	}
	r := &Recorder{
		q:        newRing(opts.Capacity),
		anchor:   time.Now(),
		spanBase: binary.LittleEndian.Uint64(seed[:]),
		kick:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		opts:     opts,
		enc:      newBlockEncoder(),
		batch:    make([]Rec, 0, MaxBlockRecords),
	}
	r.kickMask = uint64(len(r.q.slots)/4 - 1)
	if err := r.newFile(); err != nil {
		return nil, err
	}
	go r.run()
	return r, nil
}

// On reports whether r records (r is not nil).
func (r *Recorder) On() bool { return r != nil }

// Now is the current monotonic time in the recorder's units (ns since Open).
func (r *Recorder) Now() int64 {
	if r == nil {
		return 0
	}
	return int64(time.Since(r.anchor))
}

// Mono converts t (which must carry a monotonic reading, as time.Now's do)
// to the recorder's units.
func (r *Recorder) Mono(t time.Time) int64 {
	if r == nil {
		return 0
	}
	return int64(t.Sub(r.anchor))
}

// NewSpanID returns a span id unique within this recorder and never zero.
func (r *Recorder) NewSpanID() (id [8]byte) {
	if r == nil {
		return id
	}
	v := mix64(r.spanBase + r.spanSeq.Add(1))
	if v == 0 {
		v = 1
	}
	binary.LittleEndian.PutUint64(id[:], v)
	return id
}

// mix64 is splitmix64's finalizer: a bijection, so distinct counters give
// distinct ids that still look random to a reader.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// Record appends rec to the buffer. It NEVER BLOCKS THE CALLER and takes no
// lock: when the buffer is full rec is DROPPED AND COUNTED (Stats.Dropped,
// and the next block header), so a slow disk can cost trace records but
// never raft progress. On a nil Recorder it is one branch: Record is small
// enough to inline, so the caller does not even copy rec.
func (r *Recorder) Record(rec Rec) {
	if r != nil {
		r.record(&rec)
	}
}

func (r *Recorder) record(rec *Rec) {
	pos, ok := r.q.push(rec)
	if !ok {
		r.dropped.Add(1)
		return
	}
	if pos&r.kickMask == 0 { // every quarter of the buffer, wake the writer early
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
}

// Stats returns the counters.
func (r *Recorder) Stats() Stats {
	if r == nil {
		return Stats{}
	}
	// Every accepted record took one ring position: the tail is the count,
	// so the hot path keeps no counter of its own for it.
	return Stats{Recorded: r.q.tail.Load(), Dropped: r.dropped.Load(), Written: r.written.Load(),
		Lost: r.lost.Load(), Blocks: r.blocks.Load(), Files: r.files.Load()}
}

// Err returns the first persistence error, nil if none.
func (r *Recorder) Err() error {
	if r == nil {
		return nil
	}
	r.errMu.Lock()
	defer r.errMu.Unlock()
	return r.err
}

// Close writes every buffered record, fsyncs and closes the file, and
// returns the first persistence error. Callers MUST stop recording BEFORE
// Close: a record handed over after it is never written.
func (r *Recorder) Close() error {
	if r == nil {
		return nil
	}
	r.closeOnce.Do(func() {
		close(r.stop)
		<-r.done
	})
	return r.Err()
}

func (r *Recorder) fail(err error) {
	r.errMu.Lock()
	first := r.err == nil
	if first {
		r.err = err
	}
	r.errMu.Unlock()
	if first && r.opts.OnError != nil {
		r.opts.OnError(err)
	}
}

func (r *Recorder) run() {
	defer close(r.done)
	t := time.NewTicker(r.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-r.kick:
		case <-r.stop:
			r.flush()
			if r.f != nil {
				if err := r.f.Sync(); err != nil && r.Err() == nil {
					r.fail(fmt.Errorf("record: fsync %s: %w", r.f.Name(), err))
				}
				if err := r.f.Close(); err != nil && r.Err() == nil {
					r.fail(fmt.Errorf("record: close %s: %w", r.f.Name(), err))
				}
				r.f = nil
			}
			return
		}
		r.flush()
	}
}

// flush drains the ring into blocks of at most MaxBlockRecords and appends
// them with one write. After a persistence error it only drains and counts.
func (r *Recorder) flush() {
	r.enc.buf = r.enc.buf[:0]
	n := 0
	for {
		r.batch = r.batch[:0]
		var rec Rec
		for len(r.batch) < MaxBlockRecords && r.q.pop(&rec) {
			r.batch = append(r.batch, rec)
		}
		if len(r.batch) == 0 {
			break
		}
		n += len(r.batch)
		d := r.dropped.Load()
		wall := time.Now()
		r.enc.encode(r.batch, wall.UnixNano(), r.Mono(wall), d-r.lastDropped)
		r.lastDropped = d
		r.blocks.Add(1)
		if len(r.batch) < MaxBlockRecords {
			break
		}
	}
	if n == 0 {
		return
	}
	if r.Err() != nil || r.f == nil {
		r.lost.Add(uint64(n))
		return
	}
	if _, err := r.f.Write(r.enc.buf); err != nil {
		r.lost.Add(uint64(n))
		r.fail(fmt.Errorf("record: write %s: %w", r.f.Name(), err))
		return
	}
	r.written.Add(uint64(n))
	r.fileBytes += int64(len(r.enc.buf))
	if r.fileBytes >= r.opts.MaxFileBytes {
		if err := r.rotate(); err != nil {
			r.fail(err)
		}
	}
}

func (r *Recorder) rotate() error {
	if err := r.f.Sync(); err != nil {
		return fmt.Errorf("record: fsync %s before rotating: %w", r.f.Name(), err)
	}
	if err := r.f.Close(); err != nil {
		return fmt.Errorf("record: close %s before rotating: %w", r.f.Name(), err)
	}
	r.f = nil
	return r.newFile()
}

// newFile creates the next file, named by the wall clock (a name already
// taken moves on by one nanosecond), and writes its header.
func (r *Recorder) newFile() error {
	ns := time.Now().UnixNano()
	var f *os.File
	for {
		p := filepath.Join(r.opts.Dir, fmt.Sprintf("%016x%s", ns, fileExt))
		var err error
		f, err = os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
		if errors.Is(err, os.ErrExist) {
			ns++
			continue
		}
		if err != nil {
			return fmt.Errorf("record: create trace file: %w", err)
		}
		break
	}
	h := appendFileHeader(nil, &Header{MemberID: r.opts.MemberID, Member: r.opts.Member, Wall: r.anchor.UnixNano()})
	if _, err := f.Write(h); err != nil {
		f.Close()
		return fmt.Errorf("record: write header of %s: %w", f.Name(), err)
	}
	d, err := os.Open(r.opts.Dir)
	if err == nil {
		err = d.Sync()
		d.Close()
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("record: fsync directory %s after creating %s: %w", r.opts.Dir, filepath.Base(f.Name()), err)
	}
	r.f, r.fileBytes = f, int64(len(h))
	r.files.Add(1)
	return nil
}
