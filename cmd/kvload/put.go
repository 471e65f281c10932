package main

import (
	"context"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// put: one Put of a --value-size value to a random key per op.
var putWorkload = workload{
	op: func(config) op {
		return func(ctx context.Context, cli *clientv3.Client, w *worker) error {
			_, err := cli.Put(ctx, w.randomKey(), w.value)
			return err
		}
	},
}
