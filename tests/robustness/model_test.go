package robustness

import (
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/anishathalye/porcupine"
)

// numKeys is the size of the keyspace the clients write: small, so that
// requests collide and the model state is a fixed-size array (a value: copied
// for free, compared with ==).
const numKeys = 8

func keyName(i int) string { return fmt.Sprintf("key/%d", i) }

// kv is one key in the model; Version 0 means absent.
type kv struct {
	Value                      string
	CreateRev, ModRev, Version int64
	Lease                      int64
}

// state is the whole keyspace and its revision. Every write that changes
// the keyspace bumps Rev by exactly one (a txn's puts share one revision); a
// delete of an absent key and a read do not.
type state struct {
	Rev int64
	KV  [numKeys]kv
}

type opKind uint8

const (
	opGet    opKind = iota // Range on one key
	opRange                // Range over the whole keyspace (prefix key/)
	opPut                  // Put, with Lease != 0 a put with a lease
	opDelete               // DeleteRange of one key
	opTxn                  // If(mod_revision(Key) == CmpRev) Then(put Key, put Key2) Else(get Key)
)

func (k opKind) String() string {
	return [...]string{"get", "range", "put", "delete", "txn"}[k]
}

type input struct {
	Kind   opKind
	Key    int
	Key2   int
	Value  string
	Lease  int64
	CmpRev int64
}

type kvOut struct {
	Key    int
	Value  string
	ModRev int64
}

// output is what the client saw. Unknown: the request failed or timed out,
// so it may or may not have been applied.
type output struct {
	Unknown   bool
	Rev       int64 // the response header's revision
	Deleted   int64
	Succeeded bool
	KVs       []kvOut // for get, range, and a txn's else branch
}

// apply runs in on s as the server would and returns the new state and the
// response it would give.
func apply(s state, in input) (state, output) {
	switch in.Kind {
	case opGet:
		out := output{Rev: s.Rev}
		if e := s.KV[in.Key]; e.Version > 0 {
			out.KVs = []kvOut{{in.Key, e.Value, e.ModRev}}
		}
		return s, out
	case opRange:
		out := output{Rev: s.Rev}
		for i, e := range s.KV {
			if e.Version > 0 {
				out.KVs = append(out.KVs, kvOut{i, e.Value, e.ModRev})
			}
		}
		return s, out
	case opPut:
		s.Rev++
		s.KV[in.Key] = put(s.KV[in.Key], s.Rev, in.Value, in.Lease)
		return s, output{Rev: s.Rev}
	case opDelete:
		if s.KV[in.Key].Version == 0 {
			return s, output{Rev: s.Rev}
		}
		s.Rev++
		s.KV[in.Key] = kv{}
		return s, output{Rev: s.Rev, Deleted: 1}
	case opTxn:
		if s.KV[in.Key].ModRev == in.CmpRev {
			s.Rev++
			s.KV[in.Key] = put(s.KV[in.Key], s.Rev, in.Value, 0)
			s.KV[in.Key2] = put(s.KV[in.Key2], s.Rev, in.Value, 0)
			return s, output{Rev: s.Rev, Succeeded: true}
		}
		_, out := apply(s, input{Kind: opGet, Key: in.Key})
		return s, output{Rev: s.Rev, KVs: out.KVs}
	}
	panic("unknown op")
}

func put(e kv, rev int64, value string, lease int64) kv {
	if e.Version == 0 {
		e.CreateRev = rev
	}
	e.Version++
	e.ModRev = rev
	e.Value = value
	e.Lease = lease
	return e
}

func equalOutput(a, b output) bool {
	if a.Rev != b.Rev || a.Deleted != b.Deleted || a.Succeeded != b.Succeeded || len(a.KVs) != len(b.KVs) {
		return false
	}
	for i := range a.KVs {
		if a.KVs[i] != b.KVs[i] {
			return false
		}
	}
	return true
}

// kvModel is the sequential specification porcupine checks against. It is
// not partitioned: the revision is global, so every key belongs to one
// history.
var kvModel = porcupine.Model{
	Init: func() interface{} { return state{Rev: 1} },
	Step: func(st, in, out interface{}) (bool, interface{}) {
		s, o := st.(state), out.(output)
		next, want := apply(s, in.(input))
		if o.Unknown {
			return true, next
		}
		return equalOutput(want, o), next
	},
	Equal: func(a, b interface{}) bool { return a.(state) == b.(state) },
	Hash: func(st interface{}) uint64 {
		h := fnv.New64a()
		fmt.Fprintf(h, "%v", st.(state))
		return h.Sum64()
	},
	DescribeOperation: func(in, out interface{}) string { return describe(in.(input), out.(output)) },
	DescribeState: func(st interface{}) string {
		s := st.(state)
		var b strings.Builder
		fmt.Fprintf(&b, "rev %d {", s.Rev)
		for i, e := range s.KV {
			if e.Version > 0 {
				fmt.Fprintf(&b, " %d=%s@%d", i, e.Value, e.ModRev)
			}
		}
		b.WriteString(" }")
		return b.String()
	},
}

func describe(in input, o output) string {
	var call string
	switch in.Kind {
	case opGet:
		call = fmt.Sprintf("get(%d)", in.Key)
	case opRange:
		call = "range()"
	case opPut:
		call = fmt.Sprintf("put(%d, %s, lease=%x)", in.Key, in.Value, in.Lease)
	case opDelete:
		call = fmt.Sprintf("delete(%d)", in.Key)
	case opTxn:
		call = fmt.Sprintf("txn(mod(%d)==%d ? put(%d,%d, %s) : get(%d))", in.Key, in.CmpRev, in.Key, in.Key2, in.Value, in.Key)
	}
	if o.Unknown {
		return call + " -> unknown"
	}
	res := fmt.Sprintf("rev %d", o.Rev)
	if in.Kind == opDelete {
		res += fmt.Sprintf(" deleted %d", o.Deleted)
	}
	if in.Kind == opTxn {
		res += fmt.Sprintf(" succeeded %v", o.Succeeded)
	}
	for _, k := range o.KVs {
		res += fmt.Sprintf(" %d=%s@%d", k.Key, k.Value, k.ModRev)
	}
	return call + " -> " + res
}
