package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/kvtrace/kvtrace/internal/inspect"
)

const dbHelp = `
Decode a member's bbolt file, like etcd-dump-db: the buckets with their key
counts, the meta bucket (consistent_index and term: the last raft entry whose
effects are in the file; the compaction revisions), every record of the key
bucket in revision order (main.sub, put or tombstone, key, value,
create/mod revision, version, lease) and the leases. With --rev N it prints
instead the keys live as of revision N, as a Range at N would see them.
FILE is the db file or the member's data dir (FILE/db).

The file is opened read-only. A running kvd holds an exclusive lock on it;
tracer waits --timeout for the lock and then fails: stop the member, or copy
the file and inspect the copy.
`

func runDB(args []string, e env) error {
	fs := newFlags("db", "db [--rev N] [--json] [--timeout D] FILE", dbHelp, e)
	rev := fs.Int64("rev", 0, "print the keys live as of this revision instead of every revision")
	asJSON := fs.Bool("json", false, "print one JSON document")
	timeout := fs.Duration("timeout", time.Second, "how long to wait for the file lock")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errUsage
	}
	path := pos[0]
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, "db")
	}
	if _, err := os.Stat(path); err != nil {
		return err
	}
	d, err := inspect.OpenDB(path, *timeout)
	if err != nil {
		return err
	}
	defer d.Close()
	var doc struct {
		File    string                    `json:"file"`
		Buckets []inspect.BucketInfo      `json:"buckets"`
		Meta    []inspect.MetaItem        `json:"meta"`
		Rev     int64                     `json:"rev,omitempty"`
		Keys    []inspect.KV              `json:"keys"`
		Leases  []inspect.Lease           `json:"leases"`
		Other   map[string][]inspect.Pair `json:"other_buckets"`
	}
	doc.File, doc.Rev = path, *rev
	if doc.Buckets, err = d.Buckets(); err != nil {
		return err
	}
	if doc.Meta, err = d.Meta(); err != nil {
		return err
	}
	if *rev != 0 {
		doc.Keys, err = d.StateAt(*rev)
	} else {
		doc.Keys, err = d.Revisions()
	}
	if err != nil {
		return err
	}
	if doc.Leases, err = d.Leases(); err != nil {
		return err
	}
	if doc.Other, err = d.Other(); err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(doc)
	}
	w := e.stdout
	fmt.Fprintln(w, "buckets:")
	for _, b := range doc.Buckets {
		fmt.Fprintf(w, "  %-16s %d keys\n", b.Name, b.Keys)
	}
	fmt.Fprintln(w, "\nmeta:")
	for _, m := range doc.Meta {
		if m.Raw != "" {
			fmt.Fprintf(w, "  %-20s %s (not 8 bytes)\n", m.Name, m.Raw)
			continue
		}
		fmt.Fprintf(w, "  %-20s %d\n", m.Name, m.Value)
	}
	if *rev != 0 {
		fmt.Fprintf(w, "\nkeys live at revision %d (key order; rev = the revision that wrote the value):\n", *rev)
	} else {
		fmt.Fprintln(w, "\nkey bucket (revision order, main.sub):")
	}
	for _, kv := range doc.Keys {
		if err := inspect.WriteKV(w, kv); err != nil {
			return err
		}
	}
	if len(doc.Leases) > 0 {
		fmt.Fprintln(w, "\nleases:")
		for _, l := range doc.Leases {
			fmt.Fprintf(w, "  id=%x ttl=%d remaining_ttl=%d %s\n", l.ID, l.TTL, l.RemainingTTL, l.Raw)
		}
	}
	for _, b := range doc.Buckets {
		ps, ok := doc.Other[b.Name]
		if !ok || len(ps) == 0 {
			continue
		}
		fmt.Fprintf(w, "\nbucket %s (raw, quoted):\n", b.Name)
		for _, p := range ps {
			fmt.Fprintf(w, "  %s = %s\n", p.Key, p.Value)
		}
	}
	return nil
}
