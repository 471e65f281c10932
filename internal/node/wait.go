package node

import (
	"sync"

	"github.com/kvtrace/kvtrace/internal/metrics"
)

// waitRegistry parks proposers until the apply goroutine hands them the
// result of the entry that carried their request id.
type waitRegistry struct {
	mu sync.Mutex // guards m; never held while sending on a channel that can block
	m  map[uint64]chan any
}

func newWaitRegistry() *waitRegistry { return &waitRegistry{m: make(map[uint64]chan any)} }

func (w *waitRegistry) register(id uint64) <-chan any {
	ch := make(chan any, 1) // buffered: trigger never blocks the apply goroutine
	w.mu.Lock()
	w.m[id] = ch
	w.mu.Unlock()
	return ch
}

func (w *waitRegistry) cancel(id uint64) {
	w.mu.Lock()
	delete(w.m, id)
	w.mu.Unlock()
}

func (w *waitRegistry) trigger(id uint64, v any) {
	w.mu.Lock()
	ch, ok := w.m[id]
	delete(w.m, id)
	w.mu.Unlock()
	if ok {
		ch <- v
	}
}

// appliedWaiters wakes readers once the applied index reaches what they need.
type appliedWaiters struct {
	mu      sync.Mutex // guards applied and waiters
	applied uint64
	waiters map[uint64][]chan struct{}
}

func newAppliedWaiters() *appliedWaiters {
	return &appliedWaiters{waiters: make(map[uint64][]chan struct{})}
}

// wait returns a channel closed once the applied index is >= index.
func (a *appliedWaiters) wait(index uint64) <-chan struct{} {
	ch := make(chan struct{})
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.applied >= index {
		close(ch)
		return ch
	}
	a.waiters[index] = append(a.waiters[index], ch)
	return ch
}

func (a *appliedWaiters) set(index uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if index <= a.applied {
		return
	}
	a.applied = index
	metrics.ProposalsApplied.Set(float64(index))
	for i, chs := range a.waiters {
		if i <= index {
			for _, ch := range chs {
				close(ch)
			}
			delete(a.waiters, i)
		}
	}
}

func (a *appliedWaiters) get() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.applied
}
