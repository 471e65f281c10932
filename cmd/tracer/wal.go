package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kvtrace/kvtrace/internal/inspect"
)

const walHelp = `
Decode a member's write-ahead log, like etcd-dump-logs: the metadata (member
and cluster id), the snapshot markers, every HardState record and every entry
with its type, term, index, decoded etcd request and trace id, in file order,
then a summary. DIR is the wal directory or the member's data dir (DIR/wal).

The files are only read (no lock is taken), so this works on a stopped
member and on a running one; a running member's last record may show as a
torn tail. Filters apply to entries; the other records are always printed.
`

func runWAL(args []string, e env) error {
	fs := newFlags("wal", "wal [--start-index N] [--end-index N] [--entry-type normal,conf-change] [--json] DIR", walHelp, e)
	start := fs.Uint64("start-index", 0, "first entry index to print")
	end := fs.Uint64("end-index", 0, "last entry index to print (0: to the end)")
	types := fs.String("entry-type", "", "comma-separated entry types to print: normal, conf-change, conf-change-v2")
	asJSON := fs.Bool("json", false, "print one JSON document {records, summary}")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errUsage
	}
	dir := walDir(pos[0])
	opts := inspect.WALOptions{StartIndex: *start, EndIndex: *end}
	for _, t := range strings.Split(*types, ",") {
		if t = strings.TrimSpace(t); t == "" {
			continue
		}
		switch t {
		case inspect.EntryNormal, inspect.EntryConfChange, inspect.EntryConfChangeV2:
		default:
			return fmt.Errorf("--entry-type %q: want normal, conf-change or conf-change-v2", t)
		}
		opts.EntryTypes = append(opts.EntryTypes, t)
	}
	if *asJSON {
		items := []inspect.WALItem{}
		sum, err := inspect.ReadWAL(dir, opts, func(it inspect.WALItem) error {
			items = append(items, it)
			return nil
		})
		if err != nil {
			return err
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Dir     string             `json:"dir"`
			Records []inspect.WALItem  `json:"records"`
			Summary inspect.WALSummary `json:"summary"`
		}{dir, items, sum})
	}
	sum, err := inspect.ReadWAL(dir, opts, func(it inspect.WALItem) error {
		return inspect.WriteWALItem(e.stdout, it)
	})
	if err != nil {
		return err
	}
	return inspect.WriteWALSummary(e.stdout, sum)
}

// walDir accepts a data dir as well as its wal directory.
func walDir(p string) string {
	if fi, err := os.Stat(filepath.Join(p, "wal")); err == nil && fi.IsDir() {
		return filepath.Join(p, "wal")
	}
	return p
}
