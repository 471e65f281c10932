// Command etcd is real etcd (go.etcd.io/etcd/server/v3) built from its own Go
// module, so `make bench-compare` can run it beside kvd without adding etcd's
// server dependencies to kvtrace's go.mod.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
