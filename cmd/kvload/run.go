package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// op is one request of a closed-loop workload; it returns when the reply
// arrived. w is the worker's own state (random source, key and value
// buffers), never shared.
type op func(ctx context.Context, cli *clientv3.Client, w *worker) error

// workload prepares the cluster (e.g. preloads keys) and returns the op its
// workers repeat. A workload that is not closed-loop (watch) sets custom.
type workload struct {
	setup  func(ctx context.Context, cfg config, clis []*clientv3.Client) error
	op     func(cfg config) op
	custom func(ctx context.Context, cfg config, clis []*clientv3.Client, rep *Report) error
}

var workloads = map[string]workload{
	"put":   putWorkload,
	"get":   getWorkload,
	"txn":   txnWorkload,
	"watch": watchWorkload,
}

type worker struct {
	rng   *rand.Rand
	key   []byte
	value string
	cfg   *config
}

// randomKey returns a key drawn uniformly from the key space; the buffer is
// reused, the string is new (clientv3 keeps it until the call returns).
func (w *worker) randomKey() string { return w.keyAt(w.rng.IntN(w.cfg.keySpace)) }

func (w *worker) keyAt(i int) string {
	w.key = fmt.Appendf(w.key[:0], "%s%08d", w.cfg.prefix, i)
	return string(w.key)
}

func newWorker(cfg *config, seed uint64) *worker {
	return &worker{rng: rand.New(rand.NewPCG(seed, 0x6b766c6f6164)), cfg: cfg, value: string(makeValue(cfg.valueSize))}
}

func makeValue(n int) []byte {
	v := make([]byte, n)
	for i := range v {
		v[i] = 'a' + byte(i%26)
	}
	return v
}

// run connects, prepares, runs the workload and summarizes it.
func run(ctx context.Context, cfg config) (*Report, error) {
	eps := cfg.endpoints
	if cfg.targetLeader {
		leader, err := leaderEndpoint(ctx, cfg)
		if err != nil {
			return nil, err
		}
		eps = []string{leader}
	}
	clis := make([]*clientv3.Client, cfg.conns)
	for i := range clis {
		cli, err := clientv3.New(clientv3.Config{
			Endpoints:   []string{eps[i%len(eps)]},
			DialTimeout: cfg.dialTimeout,
			Logger:      zap.NewNop(),
		})
		if err != nil {
			closeAll(clis)
			return nil, fmt.Errorf("connecting to %s: %w", eps[i%len(eps)], err)
		}
		clis[i] = cli
	}
	defer closeAll(clis)

	wl := workloads[cfg.workload]
	if wl.setup != nil {
		if err := wl.setup(ctx, cfg, clis); err != nil {
			return nil, fmt.Errorf("%s setup: %w", cfg.workload, err)
		}
	}
	rep := &Report{Workload: cfg.workload, Endpoints: eps, Concurrency: cfg.concurrency, Conns: cfg.conns,
		ValueSize: cfg.valueSize, KeySpace: cfg.keySpace}
	if cfg.workload == "get" {
		rep.Workload = map[string]string{"l": "get-linearizable", "s": "get-serializable"}[cfg.consistency]
	}
	if wl.custom != nil {
		return rep, wl.custom(ctx, cfg, clis, rep)
	}
	closedLoop(ctx, cfg, clis, wl.op(cfg), rep)
	return rep, nil
}

// closedLoop runs cfg.concurrency workers, worker i on client i mod conns,
// each issuing one request at a time until --total ops were started or
// --duration passed.
//
// Requests do not carry the run's deadline: one cut off by it would come
// back as an error (the server answers "request timed out" when the
// deadline it was sent with passes), so a run would end with a burst of
// false errors. Requests still in flight at the deadline are waited for and
// not counted, and the run's length is the duration.
func closedLoop(ctx context.Context, cfg config, clis []*clientv3.Client, do op, rep *Report) {
	runCtx, cancel := deadline(ctx, cfg)
	defer cancel()
	var started atomic.Int64
	recs := make([]*recorder, cfg.concurrency)
	var wg sync.WaitGroup
	begin := time.Now()
	for i := range recs {
		rec := &recorder{lat: make([]time.Duration, 0, 1024)}
		recs[i] = rec
		w := newWorker(&cfg, uint64(i)+1)
		cli := clis[i%len(clis)]
		wg.Go(func() {
			for runCtx.Err() == nil {
				if cfg.total > 0 && started.Add(1) > int64(cfg.total) {
					return
				}
				t0 := time.Now()
				err := do(ctx, cli, w)
				switch {
				case runCtx.Err() != nil:
					// finished after the end of the run: not counted
				case err == nil:
					rec.ok(time.Since(t0))
				default:
					rec.fail(err)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(begin)
	if cfg.duration > 0 && elapsed > cfg.duration && runCtx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
		elapsed = cfg.duration
	}
	summarize(rep, recs, elapsed)
}

// deadline bounds a run by --duration; with --total alone the run ends when
// the ops are done (or the caller cancels).
func deadline(ctx context.Context, cfg config) (context.Context, context.CancelFunc) {
	if cfg.duration > 0 {
		return context.WithTimeout(ctx, cfg.duration)
	}
	return context.WithCancel(ctx)
}

func closeAll(clis []*clientv3.Client) {
	for _, c := range clis {
		if c != nil {
			c.Close()
		}
	}
}

// leaderEndpoint asks each endpoint for its status and returns the one
// whose member is the leader.
func leaderEndpoint(ctx context.Context, cfg config) (string, error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: cfg.endpoints, DialTimeout: cfg.dialTimeout, Logger: zap.NewNop()})
	if err != nil {
		return "", err
	}
	defer cli.Close()
	var last error
	for _, ep := range cfg.endpoints {
		sctx, cancel := context.WithTimeout(ctx, cfg.dialTimeout)
		st, err := cli.Status(sctx, ep)
		cancel()
		if err != nil {
			last = err
			continue
		}
		if st.Leader != 0 && st.Leader == st.Header.MemberId {
			return ep, nil
		}
	}
	return "", fmt.Errorf("no endpoint is the leader (last error: %v)", last)
}

// preload puts every key of the key space once, 64 at a time, so reads find
// values of the configured size.
func preload(ctx context.Context, cfg config, clis []*clientv3.Client) error {
	var next atomic.Int64
	errc := make(chan error, 64)
	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		w := newWorker(&cfg, uint64(1000+i))
		cli := clis[i%len(clis)]
		wg.Go(func() {
			for {
				k := int(next.Add(1)) - 1
				if k >= cfg.keySpace {
					return
				}
				if _, err := cli.Put(ctx, w.keyAt(k), w.value); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	return <-errc
}
