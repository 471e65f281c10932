package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/kvtrace/kvtrace/internal/localcluster"
	"github.com/kvtrace/kvtrace/internal/traceview"
)

const demoHelp = `Starts a local 3-member kvd cluster with tracing on (each member writes
<data-dir>/trace/spans.jsonl), makes one put, waits until every member has
recorded the write's boundaries (WAL fsync, commit, apply, bbolt commit), stops
the cluster, and opens the tracer on that write: the TUI on a terminal,
'tracer show' otherwise. With --keep the cluster stays up (Ctrl-C stops it).`

// runDemo is the README's first command (through `make demo`).
func runDemo(args []string, e env) error {
	fs := newFlags("demo", "demo [--kvd PATH] [--dir DIR] [--key K] [--value V] [--keep]", demoHelp, e)
	kvd := fs.String("kvd", "", "kvd binary (default: kvd next to this tracer, then $PATH)")
	dir := fs.String("dir", "", "directory for the members' data dirs and logs (default: a new temp dir)")
	key := fs.String("key", "hello", "key to write")
	value := fs.String("value", "kvtrace", "value to write")
	keep := fs.Bool("keep", false, "keep the cluster running after showing the write")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	bin, err := findKVD(*kvd)
	if err != nil {
		return err
	}
	if *dir == "" {
		if *dir, err = os.MkdirTemp("", "kvtrace-demo-"); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.stdout, "starting 3 kvd members with --trace under %s\n", *dir)
	c, err := localcluster.Start(localcluster.Config{Binary: bin, Dir: *dir, Size: 3, ExtraArgs: []string{"--trace", "--log-level", "warn"}})
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	li, err := c.WaitLeader(ctx)
	if err != nil {
		return err
	}
	cli, err := c.Client(c.Members[li].ClientURL)
	if err != nil {
		return err
	}
	resp, err := cli.Put(ctx, *key, *value)
	cli.Close()
	if err != nil {
		return fmt.Errorf("put %s: %w", *key, err)
	}
	fmt.Fprintf(e.stdout, "put %s=%s through the leader %s: revision %d\n", *key, *value, c.Members[li].Name, resp.Header.Revision)
	fmt.Fprintln(e.stdout, "waiting for every member to record the write (spans are flushed every 500ms) ...")
	if err := waitComplete(ctx, *dir, *key, resp.Header.Revision); err != nil {
		return err
	}
	if *keep {
		fmt.Fprintf(e.stdout, "cluster stays up: go tool etcdctl --endpoints=%s get %s\n", strings.Join(c.Endpoints(), ","), *key)
	} else {
		c.Close() // flushes the members' span files
	}
	fmt.Fprintf(e.stdout, "spans: %s/m*.kvd/trace/spans.jsonl   (re-open with: tracer %s)\n\n", *dir, *dir)
	sub := "show"
	if e.tty {
		sub = "tui"
	}
	if err := lookup(sub).run([]string{"--key", *key, *dir}, e); err != nil {
		return err
	}
	if *keep {
		fmt.Fprintln(e.stdout, "Ctrl-C stops the cluster")
		waitSignal()
	}
	return nil
}

// waitComplete polls the span files until the write at rev has apply and
// bbolt.commit spans on all three members.
func waitComplete(ctx context.Context, dir, key string, rev int64) error {
	var last string
	for {
		t, err := traceview.Load(dir)
		if err == nil {
			last = "the write is not in the span files yet"
			for i := range t.Writes {
				w := &t.Writes[i]
				if w.Key != key || w.Revision != rev {
					continue
				}
				missing := missingOn(t, w)
				if len(missing) == 0 {
					return nil
				}
				last = "still missing: " + strings.Join(missing, ", ")
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the write's spans did not complete in time (%s); look at %s", last, dir)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func missingOn(t *traceview.Trace, w *traceview.Write) []string {
	have := map[string]bool{}
	for _, ev := range t.Detail(w).Events {
		have[ev.Member+" "+ev.Name] = true
	}
	var missing []string
	for _, m := range t.Members {
		for _, name := range []string{"apply", "bbolt.commit"} {
			if !have[m+" "+name] {
				missing = append(missing, m+" "+name)
			}
		}
	}
	if len(t.Members) < 3 {
		missing = append(missing, "members")
	}
	return missing
}

func findKVD(flagPath string) (string, error) {
	if flagPath != "" {
		return filepath.Abs(flagPath)
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "kvd")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("kvd"); err == nil {
		return p, nil
	}
	return "", errors.New("no kvd binary found next to tracer or on $PATH; build both with 'make build' (or pass --kvd PATH)")
}

func waitSignal() {
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	<-sigc
}
