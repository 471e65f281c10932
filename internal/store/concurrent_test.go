package store

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrentReadsDuringWritesCommitsAndCompaction runs readers against
// the apply goroutine while the batch tx commits every few ops and
// compactions run. Txn i writes a=i and b=i at revision i+1, so any read at
// revision R must see a == b == R-1: a torn txn, a value lost in the
// buffer/commit hand-over or a missing revision would show.
func TestConcurrentReadsDuringWritesCommitsAndCompaction(t *testing.T) {
	cfg := testConfig(t)
	cfg.BatchLimit = 7
	cfg.BatchInterval = time.Millisecond
	s := mustOpen(t, cfg)
	defer s.Close()
	const writes = 400

	var stop atomic.Bool
	var reads atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, 1))
			for !stop.Load() {
				v := s.Read()
				rev := v.Rev()
				at := int64(0)
				if rev > 2 && rng.IntN(2) == 0 {
					at = 2 + rng.Int64N(rev-1) // an older revision
				}
				res, err := v.Range([]byte("a"), []byte("c"), RangeOptions{Rev: at})
				v.End()
				if errors.Is(err, ErrCompacted) {
					continue
				}
				if err != nil {
					errc <- err
					return
				}
				want := rev - 1
				if at != 0 {
					want = at - 1
				}
				if want == 0 {
					continue
				}
				if len(res.KVs) != 2 || string(res.KVs[0].Value) != strconv.FormatInt(want, 10) ||
					string(res.KVs[1].Value) != strconv.FormatInt(want, 10) {
					errc <- errors.New("torn or missing read at " + strconv.FormatInt(want+1, 10))
					return
				}
				reads.Add(1)
			}
		}(uint64(r))
	}
	for i := 1; i <= writes; i++ {
		w := s.Write(uint64(i), 1)
		v := []byte(strconv.Itoa(i))
		w.Put([]byte("a"), v, 0)
		w.Put([]byte("b"), v, 0)
		w.End()
		if i%150 == 0 {
			if _, err := s.Compact(0, 0, int64(i-50)); err != nil {
				t.Fatal(err)
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if reads.Load() == 0 {
		t.Fatal("no reads completed")
	}
	t.Logf("%d consistent reads", reads.Load())
}
