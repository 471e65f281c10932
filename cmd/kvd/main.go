// Command kvd is kvtrace's replicated key-value daemon: go.etcd.io/raft/v3, a
// WAL and MVCC on bbolt, serving etcd's v3 gRPC API. It takes etcd's flag
// names, so etcd's docs and scripts work unchanged.
//
//	kvd [flags]        run a member (see kvd --help)
//	kvd demo [flags]   start a local 3-member cluster and make a write
//	kvd fault ...      set message faults on a running member (--admin-addr)
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "demo" {
		if err := runDemo(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "kvd demo:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "fault" {
		if err := runFault(os.Args[2:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "kvd fault:", err)
			os.Exit(1)
		}
		return
	}
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "kvd:", err)
		os.Exit(2)
	}
	if cfg == nil { // --version or --help printed
		return
	}
	if err := serve(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "kvd:", err)
		os.Exit(1)
	}
}
