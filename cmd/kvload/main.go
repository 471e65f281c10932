// Command kvload is a load generator for etcd's v3 API. It talks to the
// cluster through clientv3 only, so the same run drives kvd and real etcd:
//
//	kvload --endpoints http://127.0.0.1:2379 --workload put --concurrency 64 --conns 8 --duration 10s
//	kvload --workload get --consistency l --concurrency 64 --total 100000 --json
//
// Workloads (one file each): put, get (--consistency l|s), txn, watch. It
// prints throughput, latency percentiles and a histogram, or one JSON object
// with --json (the Report type).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"
)

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "kvload:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kvload:", err)
		os.Exit(1)
	}
	if cfg.jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep) //nolint:errcheck // stdout
	} else {
		writeText(os.Stdout, rep)
	}
	if rep.Ops == 0 {
		os.Exit(1)
	}
}

type config struct {
	endpoints    []string
	workload     string
	consistency  string // get: "l" (linearizable) or "s" (serializable)
	conns        int
	concurrency  int
	total        int
	duration     time.Duration
	keySpace     int
	valueSize    int
	prefix       string
	targetLeader bool
	watchers     int
	dialTimeout  time.Duration
	jsonOut      bool
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("kvload", flag.ContinueOnError)
	eps := fs.String("endpoints", "http://127.0.0.1:2379", "comma-separated client URLs")
	fs.StringVar(&c.workload, "workload", "put", "put, get, txn or watch")
	fs.StringVar(&c.consistency, "consistency", "l", "get: l (linearizable, ReadIndex) or s (serializable, local)")
	fs.IntVar(&c.conns, "conns", 1, "clientv3 clients (gRPC connections); conn i uses endpoint i mod len(endpoints)")
	fs.IntVar(&c.concurrency, "concurrency", 1, "concurrent requests (workers, spread over the conns)")
	fs.IntVar(&c.total, "total", 0, "stop after this many ops (0: run for --duration)")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "stop after this long (when --total is 0, or as a limit)")
	fs.IntVar(&c.keySpace, "key-space", 10000, "distinct keys; each op picks one at random")
	fs.IntVar(&c.valueSize, "value-size", 256, "value bytes for put, txn and watch")
	fs.StringVar(&c.prefix, "prefix", "kvload/", "key prefix")
	fs.BoolVar(&c.targetLeader, "target-leader", false, "send every request to the leader's endpoint only")
	fs.IntVar(&c.watchers, "watchers", 100, "watch: watch streams on the prefix, spread over the conns")
	fs.DurationVar(&c.dialTimeout, "dial-timeout", 5*time.Second, "clientv3 dial timeout")
	fs.BoolVar(&c.jsonOut, "json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	for _, e := range strings.Split(*eps, ",") {
		if e = strings.TrimSpace(e); e != "" {
			c.endpoints = append(c.endpoints, e)
		}
	}
	switch {
	case len(c.endpoints) == 0:
		return c, fmt.Errorf("no --endpoints")
	case c.conns < 1 || c.concurrency < 1:
		return c, fmt.Errorf("--conns and --concurrency must be at least 1")
	case c.keySpace < 1:
		return c, fmt.Errorf("--key-space must be at least 1")
	case c.total <= 0 && c.duration <= 0:
		return c, fmt.Errorf("give --total or --duration")
	case c.consistency != "l" && c.consistency != "s":
		return c, fmt.Errorf("--consistency is l or s, not %q", c.consistency)
	}
	if _, ok := workloads[c.workload]; !ok {
		return c, fmt.Errorf("unknown --workload %q (put, get, txn, watch)", c.workload)
	}
	return c, nil
}
