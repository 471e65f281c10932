package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/kvtrace/kvtrace/internal/debugger"
)

const debugHelp = `
Stop kvd members at a boundary under delve and look around: which member
stopped where, the goroutine's stack (like dlv's bt), the anchor's arguments
and the callers' interesting locals (the Ready's entries and commit, the
role), and what the pause does to the cluster. Then continue, next, step or
step out.

The members must run under headless delve (API v2): start a cluster with
'make debug' or 'tracer debug cluster', or run one member by hand with
  go tool dlv exec --headless --api-version=2 --accept-multiclient --continue \
    --listen=127.0.0.1:2346 bin/kvd-debug -- FLAGS
and name each server with --attach NAME=ADDR.

The breakpoint is set on instrument.Anchor, which every boundary calls, with a
condition built from --boundary, --member, --term and --index, e.g.
  name == "wal.fsync" && member == "m2"
wal.fsync carries no index (it syncs whatever the Ready wrote): read the
Ready's entries in the locals, or use wal.save, raft.commit or apply with
--index. Build kvd with -gcflags=all=-N -l (make debug does) or locals may
be unreadable.

Subcommand: 'tracer debug cluster -h' starts a local cluster with chosen
members under delve.
`

func runDebug(args []string, e env) error {
	if len(args) > 0 && args[0] == "cluster" {
		return runDebugCluster(args[1:], e)
	}
	fs := newFlags("debug", "debug --attach NAME=ADDR[,NAME=ADDR] --boundary NAME [--member M] [--index N] [--term N] [--once] [--json]", debugHelp, e)
	attach := fs.String("attach", "", "comma-separated NAME=HOST:PORT of members' headless delve servers")
	boundary := fs.String("boundary", "", "boundary name to stop at (an anchor of instrument/names), e.g. wal.fsync, wal.save, raft.commit, apply")
	member := fs.String("member", "", "only stop when the anchor's member argument is this name")
	index := fs.Uint64("index", 0, "only stop for this raft index (0: any)")
	term := fs.Uint64("term", 0, "only stop for this raft term (0: any)")
	once := fs.Bool("once", false, "stop once, print, continue the member and exit (for scripts and tests)")
	asJSON := fs.Bool("json", false, "with --once: print the stop as JSON")
	leave := fs.Bool("leave-stopped", false, "with --once: leave the member stopped at the breakpoint (it keeps the breakpoint cleared)")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up when no member stops within this time")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 || *attach == "" {
		fs.Usage()
		return errUsage
	}
	if err := checkAnchor(*boundary); err != nil {
		return err
	}
	cond := debugger.Condition(*boundary, *member, *term, *index)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	var sessions []*debugger.Session
	defer func() {
		for _, s := range sessions {
			s.Close(!*leave)
		}
	}()
	merged := make(chan debugger.Result)
	for _, a := range strings.Split(*attach, ",") {
		name, addr, ok := strings.Cut(strings.TrimSpace(a), "=")
		if !ok {
			return fmt.Errorf("--attach %q: want NAME=HOST:PORT", a)
		}
		s, err := debugger.Attach(ctx, name, addr)
		if err != nil {
			return err
		}
		sessions = append(sessions, s)
		if err := s.Break(cond); err != nil {
			return err
		}
		go func() {
			for r := range s.Stops() {
				merged <- r
			}
		}()
		s.Run()
	}
	if !*asJSON {
		fmt.Fprintf(e.stdout, "breakpoint on instrument.Anchor if %s; waiting (members run meanwhile)...\n", orAny(cond))
	}
	in := bufio.NewScanner(e.stdin)
	for {
		var r debugger.Result
		select {
		case r = <-merged:
		case <-ctx.Done():
			return fmt.Errorf("no member stopped within %v (is the boundary reached? try a write)", *timeout)
		}
		if r.Err != nil {
			return r.Err
		}
		if err := printStop(e, r.Stop, *asJSON); err != nil {
			return err
		}
		if *once {
			return nil
		}
		// Interactive: the stopped member moves on the reader's command.
		s := r.Session
		for waiting := true; waiting; {
			fmt.Fprint(e.stdout, "\n[c]ontinue  [n]ext  [s]tep  step [o]ut  [q]uit (members run on) > ")
			if !in.Scan() {
				return nil
			}
			switch strings.TrimSpace(in.Text()) {
			case "c", "continue", "":
				s.Run()
				waiting = false
			case "n", "next":
				if err := moved(e, s.Next); err != nil {
					return err
				}
			case "s", "step":
				if err := moved(e, s.Step); err != nil {
					return err
				}
			case "o", "out", "stepout":
				if err := moved(e, s.StepOut); err != nil {
					return err
				}
			case "q", "quit", "exit":
				return nil
			default:
				fmt.Fprintln(e.stdout, "commands: c, n, s, o, q")
			}
		}
	}
}

func moved(e env, f func() (*debugger.Stop, error)) error {
	st, err := f()
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s now at %s %s:%d (goroutine %d)\n", st.Member, st.Function, st.File, st.Line, st.Goroutine)
	return nil
}

func printStop(e env, st *debugger.Stop, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			*debugger.Stop
			Explanation string `json:"explanation"`
		}{st, debugger.Explain(st)})
	}
	return debugger.WriteStop(e.stdout, st)
}

func orAny(cond string) string {
	if cond == "" {
		return "(any boundary)"
	}
	return cond
}
