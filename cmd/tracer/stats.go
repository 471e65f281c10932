package main

import (
	"github.com/kvtrace/kvtrace/internal/traceview"
)

const statsHelp = `Prints, for every stage (see 'tracer show -h') and member, the number of
writes measured and the p50, p90, p99 and max durations (nearest rank).
--key restricts the writes to one key.

--json prints {writes, spans, members, unknown_spans {name: count},
stages [{name, member, count, p50_ns, p90_ns, p99_ns, max_ns}]}.`

func runStats(args []string, e env) error {
	fs := newFlags("stats", "stats [--key K] [--json] PATHS...", statsHelp, e)
	key := fs.String("key", "", "only writes to this key")
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	paths, err := parse(fs, args)
	if err != nil {
		return err
	}
	t, err := load(paths)
	if err != nil {
		return err
	}
	var ws []*traceview.Write
	if *key != "" {
		if ws = t.WritesByKey(*key); len(ws) == 0 {
			return errNoKey(*key)
		}
	}
	st := t.StatsOf(ws)
	if *asJSON {
		return traceview.WriteJSON(e.stdout, traceview.StatsJSON{
			Writes: len(t.Writes), Spans: len(t.Spans), Members: t.Members, Unknown: t.Unknown, Stages: st,
		})
	}
	return traceview.WriteStats(e.stdout, t, st)
}
