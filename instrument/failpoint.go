package instrument

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	gofail "go.etcd.io/gofail/runtime"
)

// failpoint is one name registered with gofail's runtime, plus what kvtrace
// adds on top: the pause convention, the "anything armed?" fast path, and
// its own record of the term and hit count.
//
// gofail v0.2.0's Status reads a term's counter without the lock its
// evaluation writes it under, so calling Status while any goroutine crosses
// the failpoint is a data race. This package therefore never calls gofail's
// Status after init and keeps desc and hits itself.
type failpoint struct {
	name string
	fp   *gofail.Failpoint
	hits atomic.Int64 // boundary crossings while a term was set; reset by SetFailpoint

	// mu guards set, desc and changed. It is never held while a term runs.
	mu   sync.Mutex
	set  bool   // a term is set, counted in armed
	desc string // the term as given, "" when off
	// changed is closed, and replaced, every time the term is set or cleared;
	// a paused goroutine waits on it.
	changed chan struct{}
}

var (
	// failpoints holds every name of names.go. Written only by init, so
	// lookups need no lock.
	failpoints = map[string]*failpoint{}

	// armed counts failpoints that have a term. While it is zero Failpoint
	// returns after one atomic load. It is held above zero for good when
	// GOFAIL_HTTP is set, because gofail's own server then changes terms
	// without telling this package (and cannot release a pause: use
	// EnableFailpoints instead).
	armed atomic.Int32
)

func init() {
	for _, name := range allNames {
		f := &failpoint{name: name, fp: gofail.NewFailpoint(name), changed: make(chan struct{})}
		// gofail enables GOFAIL_FAILPOINTS terms inside NewFailpoint. No
		// goroutine evaluates failpoints yet, so Status is safe here.
		if desc, _, err := gofail.Status(name); err == nil {
			f.set, f.desc = true, desc
			armed.Add(1)
		}
		failpoints[name] = f
	}
	if os.Getenv("GOFAIL_HTTP") != "" {
		armed.Add(1)
	}
}

// Failpoint evaluates the failpoint name at this boundary. With no failpoint
// set anywhere it costs one atomic load and no allocation. Otherwise the
// term runs here, as gofail's generated code would run it: sleep(n) sleeps,
// panic panics, print prints, break does what gofail's break does (v0.2.0
// execs gdb on the process). return("pause") BLOCKS until the term is
// changed or cleared; any other return value is ignored. Unknown names are
// ignored.
func Failpoint(name string) {
	if armed.Load() == 0 {
		return
	}
	if f := failpoints[name]; f != nil {
		f.eval()
	}
}

func (f *failpoint) eval() {
	// Take the notification channel BEFORE evaluating, so a clear that
	// races with the evaluation still releases the pause below.
	f.mu.Lock()
	changed, set := f.changed, f.set
	f.mu.Unlock()
	if !set {
		return
	}
	f.hits.Add(1)
	v, err := f.fp.Acquire()
	if err != nil {
		return
	}
	if s, ok := v.(string); ok && s == "pause" {
		<-changed
	}
}

// SetFailpoint sets the gofail terms of the failpoint name, e.g. "sleep(100)",
// `return("pause")` or `1*panic->off`. It wakes goroutines paused there.
func SetFailpoint(name, terms string) error {
	f := failpoints[name]
	if f == nil {
		return fmt.Errorf("instrument: unknown failpoint %q", name)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := gofail.Enable(name, terms); err != nil {
		return fmt.Errorf("instrument: failpoint %s=%s: %w", name, terms, err)
	}
	if !f.set {
		f.set = true
		armed.Add(1)
	}
	f.desc = terms
	f.hits.Store(0)
	f.notify()
	return nil
}

// status returns the term set on f ("" and false when off) and its hits.
func (f *failpoint) status() (string, int64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.desc, f.hits.Load(), f.set
}

// ClearFailpoint turns the failpoint name off and wakes goroutines paused
// there. Clearing a failpoint that is already off is not an error.
func ClearFailpoint(name string) error {
	f := failpoints[name]
	if f == nil {
		return fmt.Errorf("instrument: unknown failpoint %q", name)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := gofail.Disable(name); err != nil && !errors.Is(err, gofail.ErrDisabled) {
		return fmt.Errorf("instrument: clear failpoint %s: %w", name, err)
	}
	if f.set {
		f.set = false
		armed.Add(-1)
	}
	f.desc = ""
	f.notify()
	return nil
}

// notify wakes every goroutine paused at f. f.mu MUST be held.
func (f *failpoint) notify() {
	close(f.changed)
	f.changed = make(chan struct{})
}
