package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// watch: --watchers watch streams on the key prefix, spread over the conns,
// and --concurrency writers putting random keys under it. Every value starts
// with the wall-clock time of its put, so each watcher records, per event,
// the latency from the put being sent to the event arriving. Ops and
// throughput count delivered events (puts x watchers).
var watchWorkload = workload{custom: runWatch}

func runWatch(ctx context.Context, cfg config, clis []*clientv3.Client, rep *Report) error {
	if cfg.valueSize < 8 {
		return fmt.Errorf("watch needs --value-size of at least 8 (the send time)")
	}
	wctx, wcancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer wcancel()
	recs := make([]*recorder, cfg.watchers)
	var delivered atomic.Int64
	var wg sync.WaitGroup
	ready := make(chan struct{}, cfg.watchers)
	for i := range recs {
		rec := &recorder{}
		recs[i] = rec
		wch := clis[i%len(clis)].Watch(wctx, cfg.prefix, clientv3.WithPrefix(), clientv3.WithCreatedNotify())
		wg.Go(func() {
			first := true
			for resp := range wch {
				if first {
					first = false
					ready <- struct{}{}
				}
				if resp.Canceled {
					rec.fail(resp.Err())
					return
				}
				now := time.Now().UnixNano()
				for _, ev := range resp.Events {
					if len(ev.Kv.Value) >= 8 {
						rec.ok(time.Duration(now - int64(binary.BigEndian.Uint64(ev.Kv.Value))))
						delivered.Add(1)
					}
				}
			}
		})
	}
	for range recs {
		select {
		case <-ready:
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(cfg.dialTimeout):
			return fmt.Errorf("watchers not created within %v", cfg.dialTimeout)
		}
	}

	var puts atomic.Int64
	writers := &Report{}
	begin := time.Now()
	closedLoop(ctx, cfg, clis, func(ctx context.Context, cli *clientv3.Client, w *worker) error {
		v := []byte(w.value)
		binary.BigEndian.PutUint64(v, uint64(time.Now().UnixNano()))
		_, err := cli.Put(ctx, w.randomKey(), string(v))
		if err == nil {
			puts.Add(1)
		}
		return err
	}, writers)
	// Wait (bounded) for every watcher to see every put, then stop them.
	want := puts.Load() * int64(cfg.watchers)
	for end := time.Now().Add(10 * time.Second); delivered.Load() < want && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	elapsed := time.Since(begin)
	wcancel()
	wg.Wait()
	summarize(rep, recs, elapsed)
	rep.Errors += writers.Errors
	if missing := want - delivered.Load(); missing > 0 {
		return fmt.Errorf("%d of %d events not delivered within 10s of the last put", missing, want)
	}
	return nil
}
