package main

import (
	"context"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// txn: a compare-and-swap per op on a random key: if the key exists, put a
// new value, else create it — one Txn with a compare, a put and a get, the
// shape of etcd's lock and election recipes.
var txnWorkload = workload{
	op: func(config) op {
		return func(ctx context.Context, cli *clientv3.Client, w *worker) error {
			k := w.randomKey()
			_, err := cli.Txn(ctx).
				If(clientv3.Compare(clientv3.Version(k), ">", 0)).
				Then(clientv3.OpPut(k, w.value)).
				Else(clientv3.OpPut(k, w.value), clientv3.OpGet(k)).
				Commit()
			return err
		}
	},
}
