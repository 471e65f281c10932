package names

// Boundary names on the write path, in the order a write crosses them (see
// DESIGN.md "The write path and its boundaries"). Each is the span name, and
// where Table says so the failpoint name and the debugger anchor.
const (
	Propose        = "raft.propose"         // a member hands a request to raft (MsgProp)
	ProposeForward = "raft.propose.forward" // a follower forwards MsgProp to the leader
	Send           = "raft.send"            // a member sends raft messages (MsgApp, MsgAppResp, ...)
	Receive        = "raft.recv"            // a member steps a received raft message into raft
	WALSave        = "wal.save"             // entries and HardState appended to the WAL
	WALSync        = "wal.fsync"            // fdatasync of the WAL segment (child of wal.save)
	CommitAdvance  = "raft.commit"          // the commit index moved past traced entries (one span per advance)
	Apply          = "apply"                // an entry is applied to the state machine
	BackendCommit  = "bbolt.commit"         // the bbolt batch tx that made writes durable
	SnapshotSave   = "snapshot.save"        // a raft snapshot written to disk
	SnapshotSend   = "snapshot.send"        // the leader streams a snapshot to a follower
	SnapshotApply  = "snapshot.apply"       // a follower installs a received snapshot
	ConfChange     = "raft.conf_change"     // a committed conf change applied to raft and the member list
	WatchDeliver   = "watch.deliver"        // one watch response sent to a client (internal/server)
	LeaseExpire    = "lease.expire"         // the leader revokes an expired lease (internal/server)
	MVCCWrite      = "mvcc.write"           // Legacy: written before docs/spans.md "Earlier span files"; still read
)

// The serving member's gRPC server spans of the KV service. otelgrpc names
// them; they are rows here so a record can carry the write's root span.
const (
	GRPCPut         = "etcdserverpb.KV/Put"
	GRPCTxn         = "etcdserverpb.KV/Txn"
	GRPCDeleteRange = "etcdserverpb.KV/DeleteRange"
	GRPCRange       = "etcdserverpb.KV/Range"
	GRPCCompact     = "etcdserverpb.KV/Compact"
)

// GRPCServicePrefixes are the etcd services whose every method span is in the
// vocabulary (otelgrpc spells them "<service>/<Method>").
var GRPCServicePrefixes = []string{
	"etcdserverpb.KV/", "etcdserverpb.Maintenance/", "etcdserverpb.Lease/",
	"etcdserverpb.Cluster/", "etcdserverpb.Watch/", "etcdserverpb.Auth/",
}

// Failpoint names kept as etcd spells them (etcd server/etcdserver/raft.go
// raftNode.start, server/storage/wal/wal.go sync,
// server/storage/backend/batch_tx.go commit). No span carries them.
//
// Terms are gofail's (off, return(v), sleep(n), panic, print, break, with
// counts and "->" chains) plus ONE convention of kvtrace's own:
//
//	return("pause")  the goroutine that reaches the failpoint BLOCKS there until
//	                 the failpoint's term is changed or cleared. gofail has no
//	                 pause term; this is how a lab freezes one member at one
//	                 boundary. (instrument/failpoint.go implements it.)
const (
	BeforeSave         = "raftBeforeSave"         // before the Ready's WAL save
	AfterSave          = "raftAfterSave"          // after the Ready's WAL save
	BeforeLeaderSend   = "raftBeforeLeaderSend"   // leader, before it sends the Ready's messages
	BeforeFollowerSend = "raftBeforeFollowerSend" // follower, BEFORE it sends messages (after the WAL save)
	BeforeApplySnap    = "raftBeforeApplySnap"    // before a received snapshot is installed
	AfterApplySnap     = "raftAfterApplySnap"     // after a received snapshot is installed
	BeforeSaveSnap     = "raftBeforeSaveSnap"     // before a snapshot is written to the WAL and snap dir
	AfterSaveSnap      = "raftAfterSaveSnap"      // after the snapshot is saved
	WALBeforeSync      = "walBeforeSync"          // before the WAL fdatasync
	WALAfterSync       = "walAfterSync"           // after the WAL fdatasync
	BeforeCommit       = "beforeCommit"           // before the bbolt batch commit
	AfterCommit        = "afterCommit"            // after the bbolt batch commit
	BeforeApply        = "beforeApply"            // before an entry is applied (etcd: beforeApplyOneEntryNormal)
	AfterApply         = "afterApply"             // after an entry is applied
)
