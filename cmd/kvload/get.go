package main

import (
	"context"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// get: one Range of a single random key per op, linearizable (the member
// confirms its commit index with the leader, ReadIndex) or serializable
// (--consistency s: the member's local state). Every key is written once
// before the clock starts.
var getWorkload = workload{
	setup: preload,
	op: func(cfg config) op {
		var opts []clientv3.OpOption
		if cfg.consistency == "s" {
			opts = append(opts, clientv3.WithSerializable())
		}
		return func(ctx context.Context, cli *clientv3.Client, w *worker) error {
			_, err := cli.Get(ctx, w.randomKey(), opts...)
			return err
		}
	},
}
