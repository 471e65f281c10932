package robustness

import (
	"context"
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// opTimeout bounds one request; past it the outcome is unknown.
const opTimeout = 3 * time.Second

// record is one operation with its invoke and return times (nanoseconds
// since the run started). Return is -1 while the outcome is unknown.
type record struct {
	Client int
	In     input
	Out    output
	Call   int64
	Return int64
	Err    string `json:",omitempty"`
}

// history collects every client's records.
type history struct {
	start time.Time

	mu  sync.Mutex // guards ops
	ops []record

	okWrites atomic.Int64 // acknowledged writes (puts, deletes, txns): the fault schedule's progress meter
	okOps    atomic.Int64
	failed   atomic.Int64
}

func newHistory() *history { return &history{start: time.Now()} }

func (h *history) now() int64 { return time.Since(h.start).Nanoseconds() }

func (h *history) add(r record) {
	h.mu.Lock()
	h.ops = append(h.ops, r)
	h.mu.Unlock()
	switch {
	case r.Return < 0:
		h.failed.Add(1)
	case r.In.Kind == opPut || r.In.Kind == opDelete || r.In.Kind == opTxn:
		h.okWrites.Add(1)
		h.okOps.Add(1)
	default:
		h.okOps.Add(1)
	}
}

func (h *history) snapshot() []record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]record(nil), h.ops...)
}

// trafficClient sends a random mix of requests until ctx is done.
type trafficClient struct {
	id     int
	cli    *clientv3.Client
	h      *history
	rng    *rand.Rand
	leases []clientv3.LeaseID
	seq    int
	seen   map[int]int64 // last mod revision this client saw per key, for txn compares
}

func (c *trafficClient) run(ctx context.Context) {
	for ctx.Err() == nil {
		c.one(ctx)
	}
}

func (c *trafficClient) next() input {
	k := c.rng.Intn(numKeys)
	c.seq++
	val := fmt.Sprintf("c%d-%d", c.id, c.seq) // unique: a failed write is recognised in the watch history
	switch p := c.rng.Intn(100); {
	case p < 20:
		return input{Kind: opGet, Key: k}
	case p < 32:
		return input{Kind: opRange}
	case p < 60:
		return input{Kind: opPut, Key: k, Value: val}
	case p < 70 && len(c.leases) > 0:
		return input{Kind: opPut, Key: k, Value: val, Lease: int64(c.leases[c.rng.Intn(len(c.leases))])}
	case p < 80:
		return input{Kind: opDelete, Key: k}
	default:
		k2 := (k + 1 + c.rng.Intn(numKeys-1)) % numKeys
		cmp := c.seen[k]
		if c.rng.Intn(4) == 0 {
			cmp = 0 // "the key is absent"
		}
		return input{Kind: opTxn, Key: k, Key2: k2, Value: val, CmpRev: cmp}
	}
}

func (c *trafficClient) one(ctx context.Context) {
	in := c.next()
	octx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	call := c.h.now()
	out, err := c.do(octx, in)
	ret := c.h.now()
	if ctx.Err() != nil && err != nil {
		// Stopped by the test, not failed by the cluster: a write may still
		// have been sent, so it stays in the history as unknown.
		if in.Kind == opGet || in.Kind == opRange {
			return
		}
	}
	if err != nil {
		if in.Kind == opGet || in.Kind == opRange {
			c.h.failed.Add(1) // a failed read changes nothing: left out of the history
			return
		}
		c.h.add(record{Client: c.id, In: in, Out: output{Unknown: true}, Call: call, Return: -1, Err: err.Error()})
		return
	}
	for _, kv := range out.KVs {
		c.seen[kv.Key] = kv.ModRev
	}
	c.h.add(record{Client: c.id, In: in, Out: out, Call: call, Return: ret})
}

func (c *trafficClient) do(ctx context.Context, in input) (output, error) {
	switch in.Kind {
	case opGet:
		r, err := c.cli.Get(ctx, keyName(in.Key))
		if err != nil {
			return output{}, err
		}
		return output{Rev: r.Header.Revision, KVs: kvsOut(r.Kvs)}, nil
	case opRange:
		r, err := c.cli.Get(ctx, "key/", clientv3.WithPrefix())
		if err != nil {
			return output{}, err
		}
		return output{Rev: r.Header.Revision, KVs: kvsOut(r.Kvs)}, nil
	case opPut:
		var opts []clientv3.OpOption
		if in.Lease != 0 {
			opts = append(opts, clientv3.WithLease(clientv3.LeaseID(in.Lease)))
		}
		r, err := c.cli.Put(ctx, keyName(in.Key), in.Value, opts...)
		if err != nil {
			return output{}, err
		}
		return output{Rev: r.Header.Revision}, nil
	case opDelete:
		r, err := c.cli.Delete(ctx, keyName(in.Key))
		if err != nil {
			return output{}, err
		}
		return output{Rev: r.Header.Revision, Deleted: r.Deleted}, nil
	case opTxn:
		k, k2 := keyName(in.Key), keyName(in.Key2)
		r, err := c.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(k), "=", in.CmpRev)).
			Then(clientv3.OpPut(k, in.Value), clientv3.OpPut(k2, in.Value)).
			Else(clientv3.OpGet(k)).Commit()
		if err != nil {
			return output{}, err
		}
		out := output{Rev: r.Header.Revision, Succeeded: r.Succeeded}
		if !r.Succeeded {
			if len(r.Responses) != 1 || r.Responses[0].GetResponseRange() == nil {
				return output{}, fmt.Errorf("txn else branch: %d responses", len(r.Responses))
			}
			out.KVs = kvsOut(r.Responses[0].GetResponseRange().Kvs)
		}
		return out, nil
	}
	return output{}, fmt.Errorf("unknown op %v", in.Kind)
}

func kvsOut(kvs []*mvccpb.KeyValue) []kvOut {
	var out []kvOut
	for _, kv := range kvs {
		out = append(out, kvOut{Key: keyIndex(string(kv.Key)), Value: string(kv.Value), ModRev: kv.ModRevision})
	}
	return out
}

func keyIndex(k string) int {
	i, err := strconv.Atoi(strings.TrimPrefix(k, "key/"))
	if err != nil || !strings.HasPrefix(k, "key/") {
		return -1
	}
	return i
}
