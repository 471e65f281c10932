package traceview

import (
	"strings"

	"github.com/kvtrace/kvtrace/instrument/names"
)

// Span names of the contract (docs/spans.md), from the one table in
// instrument/names. A name kvd writes that is not in that table is skipped
// and counted in Trace.Unknown.
const (
	NamePropose    = names.Propose
	NameSend       = names.Send
	NameRecv       = names.Receive
	NameWALSave    = names.WALSave
	NameWALSync    = names.WALSync
	NameCommit     = names.CommitAdvance
	NameApply      = names.Apply
	NameMVCCWrite  = names.MVCCWrite // docs/spans.md "Earlier span files"; still read
	NameBoltCommit = names.BackendCommit
	NameSnapSave   = names.SnapshotSave
	NameSnapSend   = names.SnapshotSend
	NameSnapApply  = names.SnapshotApply
	NameConfChange = names.ConfChange

	grpcKVPrefix = "etcdserverpb.KV/"
)

var knownNames = func() map[string]bool {
	m := map[string]bool{}
	for _, n := range names.Of(names.Span) {
		m[n] = true
	}
	return m
}()

// Known reports whether name is in the span vocabulary. gRPC server spans of
// the etcd services count as known.
func Known(name string) bool {
	if knownNames[name] {
		return true
	}
	for _, p := range names.GRPCServicePrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// isWriteRPC reports whether a gRPC span name is a client write: KV Put, Txn,
// DeleteRange (Range is a read; Compact is not a replicated key write we follow).
func isWriteRPC(name string) bool {
	switch name {
	case names.GRPCPut, names.GRPCTxn, names.GRPCDeleteRange:
		return true
	}
	return false
}
