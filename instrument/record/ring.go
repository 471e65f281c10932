package record

import "sync/atomic"

// ring is a bounded multi-producer, single-consumer queue of records
// (Vyukov's bounded queue with a sequence number per slot). Producers claim
// a position with one CAS on tail and publish the slot by storing its
// sequence; the writer goroutine is the only consumer. No producer ever
// waits for another or for the consumer: a full ring makes push fail.
//
// Why not a mutex: the producers are the Ready loop, the apply goroutine,
// gRPC handlers and the transport's receivers. A mutex shared by them is a
// lock shared with the Ready loop, and a preempted holder stalls raft. A
// per-goroutine ring would need a registry of short-lived gRPC goroutines.
// A CAS that loses a race retries at once with the new tail (lock-free).
type ring struct {
	slots []slot
	mask  uint64
	_     [56]byte // keep tail on its own cache line
	tail  atomic.Uint64
	_     [56]byte
	head  uint64 // consumer only
}

type slot struct {
	// seq == pos: free for the producer of position pos;
	// seq == pos+1: holds the record of pos, for the consumer;
	// seq == pos+len: consumed, free for position pos+len.
	seq atomic.Uint64
	rec Rec
}

func newRing(capacity int) *ring {
	n := 1
	for n < capacity {
		n <<= 1
	}
	q := &ring{slots: make([]slot, n), mask: uint64(n - 1)}
	for i := range q.slots {
		q.slots[i].seq.Store(uint64(i))
	}
	return q
}

// push copies *r into the ring. It returns the position it took and true,
// or false when the ring is full. It NEVER BLOCKS.
func (q *ring) push(r *Rec) (uint64, bool) {
	pos := q.tail.Load()
	for {
		s := &q.slots[pos&q.mask]
		seq := s.seq.Load()
		switch {
		case seq == pos:
			if q.tail.CompareAndSwap(pos, pos+1) {
				s.rec = *r
				s.seq.Store(pos + 1) // publish: the consumer reads rec only AFTER this store
				return pos, true
			}
			pos = q.tail.Load()
		case seq < pos:
			return 0, false // the slot still holds a record a lap behind: full
		default:
			pos = q.tail.Load() // another producer took pos; retry with the new tail
		}
	}
}

// pop moves the oldest published record into *dst. It returns false when
// the next position is not published yet (empty, or its producer is between
// its CAS and its publish: the record is taken on the next drain).
func (q *ring) pop(dst *Rec) bool {
	s := &q.slots[q.head&q.mask]
	if s.seq.Load() != q.head+1 {
		return false
	}
	*dst = s.rec
	s.seq.Store(q.head + q.mask + 1) // free the slot for the next lap
	q.head++
	return true
}
