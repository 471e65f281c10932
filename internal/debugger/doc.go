// Package debugger drives delve's headless servers (API v2, through
// github.com/go-delve/delve/service/rpc2) to stop kvd members at the
// boundary anchors of package instrument.
//
// Every boundary calls instrument.Anchor(name, member, term, index), an empty
// never-inlined function. A Session sets ONE conditional breakpoint on it,
// e.g.
//
//	name == "wal.fsync" && member == "m2"
//
// (Condition builds that string), so delve stops the member only there; every
// other Anchor call is a trap that delve evaluates and resumes, which slows
// the member a little but never stops it.
//
// # Usage contract
//
//  1. The member runs under `dlv exec --headless --api-version=2
//     --accept-multiclient --continue --listen=ADDR kvd -- FLAGS` (Launch,
//     or WriteWrapper for a localcluster); build kvd with
//     -gcflags=all=-N -l so locals are readable.
//  2. Attach(ctx, member, addr) connects (retrying until ctx ends while the
//     server is still starting).
//  3. Break(cond) halts the process if it runs (delve accepts breakpoints only
//     while the target is stopped), creates or amends the breakpoint, and
//     leaves the process stopped.
//  4. Run() resumes it; the next stop arrives on Stops(). A Stop holds the
//     Anchor's arguments, the goroutine's stack (like `bt`) and the
//     interesting locals of its callers (Ready entries, HardState commit,
//     role). While stopped, Next/Step/StepOut move the stopped goroutine.
//  5. Close(resume) clears the breakpoint and disconnects; with resume the
//     process runs on, otherwise it stays as it is. Kill ends the server and
//     the process.
//
// # What a pause does to the cluster
//
// delve stops EVERY thread of the member: it sends nothing, acks nothing,
// ticks nothing. A stopped follower costs the cluster nothing while a
// majority remains (the leader commits with the other acks) and catches up
// when resumed; its own election timer does not advance while stopped. A
// stopped leader sends no heartbeats: after the followers' election timeout
// they elect a new leader and the old one steps down when it resumes.
// Explain says this for the role the member had when it stopped.
package debugger
