package traceview

import "strings"

// Span names of the contract (docs/spans.md). They are the same strings as
// instrument/names.go; traceview keeps its own copy so the reader builds
// without the writer and a rename shows up as an unknown-span count.
const (
	NamePropose     = "raft.propose"
	NameSend        = "raft.send"
	NameRecv        = "raft.recv"
	NameWALSave     = "wal.save"
	NameWALSync     = "wal.fsync"
	NameCommit      = "raft.commit"
	NameApply       = "apply"
	NameMVCCWrite   = "mvcc.write" // written by kvd before docs/spans.md "Earlier span files"; still read
	NameBoltCommit  = "bbolt.commit"
	NameSnapSave    = "snapshot.save"
	NameSnapSend    = "snapshot.send"
	NameSnapApply   = "snapshot.apply"
	grpcKVPrefix    = "etcdserverpb.KV/"
	grpcMaintPrefix = "etcdserverpb.Maintenance/"
	grpcLeasePrefix = "etcdserverpb.Lease/"
	grpcClusterPrfx = "etcdserverpb.Cluster/"
	grpcWatchPrefix = "etcdserverpb.Watch/"
	grpcAuthPrefix  = "etcdserverpb.Auth/"
)

var knownNames = map[string]bool{
	NamePropose: true, NameSend: true, NameRecv: true, NameWALSave: true, NameWALSync: true,
	NameCommit: true, NameApply: true, NameMVCCWrite: true, NameBoltCommit: true,
	NameSnapSave: true, NameSnapSend: true, NameSnapApply: true,
	"raft.propose.forward": true, // instrument.ProposeForward
}

// Known reports whether name is in the span vocabulary. gRPC server spans of
// the etcd services count as known.
func Known(name string) bool {
	if knownNames[name] {
		return true
	}
	for _, p := range []string{grpcKVPrefix, grpcMaintPrefix, grpcLeasePrefix, grpcClusterPrfx, grpcWatchPrefix, grpcAuthPrefix} {
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
	case grpcKVPrefix + "Put", grpcKVPrefix + "Txn", grpcKVPrefix + "DeleteRange":
		return true
	}
	return false
}
