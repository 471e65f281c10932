package instrument

// Anchor marks that member is crossing the boundary name for the raft entry
// (term, index); index and term are 0 where no entry is involved. It does
// nothing: it exists so a debugger has one stable place to stop at every
// boundary, filtered by condition, e.g. under delve
//
//	(dlv) break instrument.Anchor
//	(dlv) condition 1 name == "wal.fsync" && index == 42
//
// Every boundary MUST call it with the same name it uses for its span and
// failpoint (names.go). It is kept out of line so the breakpoint always has a
// frame whose arguments delve can read; the call costs a few nanoseconds and
// no allocation.
//
//go:noinline
func Anchor(name, member string, term, index uint64) {}
