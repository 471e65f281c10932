package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/kvtrace/kvtrace/internal/traceview"
)

// env is what a subcommand may touch: its streams and whether they are a
// terminal. Tests pass buffers and tty=false.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	tty            bool
}

type command struct {
	name    string
	summary string
	run     func(args []string, e env) error
}

var commands []command

func init() {
	commands = []command{
		{"demo", "start a traced local 3-member cluster, make a write, and show it", runDemo},
		{"show", "print one write as a text space-time diagram and stage table (--json)", runShow},
		{"stats", "print per-stage percentiles across writes (--json)", runStats},
		{"list", "list the client writes found in the spans", runList},
		{"tui", "open the interactive viewer", runTUI},
		{"export", "write recordings (or span files) as the Collector's OTLP JSON file format", runExport},
		{"receive", "run an OTLP receiver (gRPC :4317, HTTP :4318) that records spans to a file", runReceive},
		{"wal", "decode a member's WAL: HardState, entries and their requests (like etcd-dump-logs)", runWAL},
		{"db", "decode a member's bbolt db: buckets, meta, key revisions (like etcd-dump-db)", runDB},
		{"debug", "stop a member at a boundary under delve: stack, locals, continue/next/stepout", runDebug},
	}
}

const usageText = `usage: tracer [COMMAND] [FLAGS] PATHS...

PATHS are span files (OTLP JSON lines, one ExportTraceServiceRequest per line)
or directories searched recursively for *.jsonl, e.g. the data dirs of a local
cluster: tracer m1.kvd m2.kvd m3.kvd

With no COMMAND, tracer opens the TUI when stdin and stdout are a terminal and
otherwise prints 'show' for the latest write.

commands:
`

func usage(w io.Writer) {
	fmt.Fprint(w, usageText)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nRun 'tracer COMMAND -h' for a command's flags.\n")
}

// errUsage marks an error whose message is already printed with usage.
var errUsage = errors.New("usage")

func run(args []string, e env) int {
	if len(args) == 0 {
		usage(e.stderr)
		return 2
	}
	var err error
	switch a := args[0]; {
	case a == "-h" || a == "--help" || a == "help":
		usage(e.stdout)
		return 0
	case lookup(a) != nil:
		err = lookup(a).run(args[1:], e)
	default:
		// No subcommand: PATHS (and maybe flags) directly.
		if e.tty {
			err = runTUI(args, e)
		} else {
			err = runShow(args, e)
		}
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintln(e.stderr, "tracer:", err)
	return 1
}

func lookup(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

// parse parses flags that may come before, between or after the positional
// arguments (tracer show dir --json works as well as tracer show --json dir).
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errUsage
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func newFlags(name, synopsis, help string, e env) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: tracer %s\n\n%s\nflags:\n", synopsis, strings.TrimSpace(help)+"\n")
		fs.PrintDefaults()
	}
	return fs
}

func load(paths []string) (*traceview.Trace, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("no PATHS given: name span files or directories")
	}
	return traceview.Load(paths...)
}

// pick selects the write a command is about: by number, trace id or key
// (the latest write to the key); the latest write when nothing is given.
func pick(t *traceview.Trace, n int, traceID, key string) (*traceview.Write, error) {
	if len(t.Writes) == 0 {
		return nil, fmt.Errorf("no client writes in %d spans (unknown span names skipped: %d)", len(t.Spans), t.UnknownCount())
	}
	switch {
	case n != 0:
		if n < 1 || n > len(t.Writes) {
			return nil, fmt.Errorf("--write %d: there are writes 1..%d", n, len(t.Writes))
		}
		return &t.Writes[n-1], nil
	case traceID != "":
		w, ok := t.WriteByTrace(traceID)
		if !ok {
			return nil, fmt.Errorf("--trace %s: no write with that trace id (or the prefix is ambiguous)", traceID)
		}
		return w, nil
	case key != "":
		ws := t.WritesByKey(key)
		if len(ws) == 0 {
			return nil, fmt.Errorf("--key %q: no write to that key", key)
		}
		return ws[len(ws)-1], nil
	}
	return &t.Writes[len(t.Writes)-1], nil
}
