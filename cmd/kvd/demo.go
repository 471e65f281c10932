package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/kvtrace/kvtrace/internal/localcluster"
)

// runDemo starts a local 3-member cluster of this binary, makes one write and
// reads it back from every member. On a terminal it keeps the cluster up for
// an etcdctl session until Ctrl-C; without one it stops the cluster and exits.
func runDemo(args []string) error {
	fs := flag.NewFlagSet("kvd demo", flag.ContinueOnError)
	dir := fs.String("dir", "", "directory for the members' data dirs and logs (default: a new temp dir)")
	size := fs.Int("size", 3, "number of members")
	keep := fs.Bool("keep", false, "keep the cluster running until Ctrl-C even without a terminal")
	key := fs.String("key", "hello", "key to write")
	value := fs.String("value", "kvtrace", "value to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "kvd-demo-")
		if err != nil {
			return err
		}
		*dir = d
	}
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	fmt.Printf("starting %d members of %s under %s\n", *size, filepath.Base(bin), *dir)
	c, err := localcluster.Start(localcluster.Config{Binary: bin, Dir: *dir, Size: *size})
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	li, err := c.WaitLeader(ctx)
	if err != nil {
		return err
	}
	for i, m := range c.Members {
		role := "follower"
		if i == li {
			role = "leader"
		}
		fmt.Printf("  %-3s %-8s client %s  peer %s  data %s\n", m.Name, role, m.ClientURL, m.PeerURL, m.DataDir)
	}
	cli, err := c.Client()
	if err != nil {
		return err
	}
	defer cli.Close()
	start := time.Now()
	put, err := cli.Put(ctx, *key, *value)
	if err != nil {
		return fmt.Errorf("put %s: %w", *key, err)
	}
	fmt.Printf("put %s=%s  revision %d  raft term %d  (%v)\n", *key, *value, put.Header.Revision, put.Header.RaftTerm, time.Since(start).Round(time.Microsecond))
	for _, m := range c.Members {
		mc, err := c.Client(m.ClientURL)
		if err != nil {
			return err
		}
		// A linearizable read on each member: it waits until that member has
		// applied the write, so every member answers with the same value.
		get, err := mc.Get(ctx, *key)
		mc.Close()
		if err != nil {
			return fmt.Errorf("get from %s: %w", m.Name, err)
		}
		if len(get.Kvs) != 1 || string(get.Kvs[0].Value) != *value {
			return fmt.Errorf("get from %s returned %v, want %s", m.Name, get.Kvs, *value)
		}
		fmt.Printf("get %s from %s: %s (mod revision %d)\n", *key, m.Name, get.Kvs[0].Value, get.Kvs[0].ModRevision)
	}
	interactive := term.IsTerminal(int(os.Stdout.Fd())) && term.IsTerminal(int(os.Stdin.Fd()))
	if !interactive && !*keep {
		fmt.Println("no terminal: stopping the cluster (run with --keep to keep it up)")
		return nil
	}
	eps := strings.Join(c.Endpoints(), ",")
	fmt.Printf("\nthe cluster stays up; try:\n  go tool etcdctl --endpoints=%s put foo bar\n  go tool etcdctl --endpoints=%s get foo -w json\nCtrl-C stops it.\n", eps, eps)
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	<-sigc
	fmt.Println("stopping the cluster")
	return nil
}
