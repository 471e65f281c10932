package main

import (
	"fmt"

	"github.com/kvtrace/kvtrace/internal/traceview"
)

const listHelp = `Lists the client writes (Put, Txn, DeleteRange) in start order: number, op,
key, revision, raft index, serving member, latency and trace id.`

func errNoKey(k string) error { return fmt.Errorf("--key %q: no write to that key", k) }

func runList(args []string, e env) error {
	fs := newFlags("list", "list [--key K] PATHS...", listHelp, e)
	key := fs.String("key", "", "only writes to this key")
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
		ws = t.WritesByKey(*key)
	} else {
		for i := range t.Writes {
			ws = append(ws, &t.Writes[i])
		}
	}
	return traceview.WriteList(e.stdout, ws)
}
