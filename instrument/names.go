package instrument

// Boundary names on the write path, in the order a write crosses them (see
// ../shared/DESIGN.md "The write path and its boundaries"). Each constant is
// the span name, the failpoint name and the debugger anchor for that step.
const (
	// GRPCPut etc. are served by otelgrpc; listed for the vocabulary only.
	Propose          = "raft.propose"         // a member hands a request to raft (MsgProp)
	ProposeForward   = "raft.propose.forward" // a follower forwards MsgProp to the leader
	LeaderSend       = "raft.send"            // a member sends raft messages (MsgApp, MsgAppResp, ...)
	Receive          = "raft.recv"            // a member steps a received raft message into raft
	WALSave          = "wal.save"             // entries and HardState appended to the WAL
	WALSync          = "wal.fsync"            // fdatasync of the WAL segment (child of wal.save)
	CommitAdvance    = "raft.commit"          // the commit index moved past traced entries (one span per advance)
	Apply            = "apply"                // an entry is applied to the state machine
	BackendCommit    = "bbolt.commit"         // the bbolt batch tx that made writes durable
	SnapshotSave     = "snapshot.save"        // a raft snapshot written to disk
	SnapshotSend     = "snapshot.send"        // the leader streams a snapshot to a follower
	SnapshotApply    = "snapshot.apply"       // a follower installs a received snapshot
	BeforeSave       = "raftBeforeSave"       // failpoint names kept as etcd spells them
	AfterSave        = "raftAfterSave"        //
	BeforeLeaderSend = "raftBeforeLeaderSend" //
	BeforeApplySnap  = "raftBeforeApplySnap"  //
	BeforeCommit     = "beforeCommit"         //
	AfterCommit      = "afterCommit"          //
)

// The rest of etcd's failpoints (etcd server/etcdserver/raft.go raftNode.start,
// server/storage/wal/wal.go sync, server/storage/backend/batch_tx.go commit).
// They are failpoint names only: no span carries them.
//
// Every name in this file is registered with gofail when the package loads,
// so `GET /` on the failpoint endpoint lists all of them. Terms are gofail's
// (off, return(v), sleep(n), panic, print, break, with counts and "->"
// chains) plus ONE convention of kvtrace's own:
//
//	return("pause")  the goroutine that reaches the failpoint BLOCKS there until
//	                 the failpoint's term is changed or cleared (PUT or DELETE
//	                 /name, SetFailpoint, ClearFailpoint). gofail has no pause
//	                 term; this is how a lab freezes one member at one boundary.
//
// Any other return(v) value is ignored by Failpoint: the boundaries have no
// value to return.
const (
	BeforeFollowerSend = "raftBeforeFollowerSend" // follower, BEFORE it sends messages (after the WAL save)
	AfterApplySnap     = "raftAfterApplySnap"     // after a received snapshot is installed
	BeforeSaveSnap     = "raftBeforeSaveSnap"     // before a snapshot is written to the WAL and snap dir
	AfterSaveSnap      = "raftAfterSaveSnap"      // after the snapshot is saved
	WALBeforeSync      = "walBeforeSync"          // before the WAL fdatasync
	WALAfterSync       = "walAfterSync"           // after the WAL fdatasync
	BeforeApply        = "beforeApply"            // before an entry is applied (etcd: beforeApplyOneEntryNormal)
	AfterApply         = "afterApply"             // after an entry is applied
)

// allNames lists every name above; failpoint.go registers each one.
var allNames = [...]string{
	Propose, ProposeForward, LeaderSend, Receive, WALSave, WALSync,
	CommitAdvance, Apply, BackendCommit,
	SnapshotSave, SnapshotSend, SnapshotApply,
	BeforeSave, AfterSave, BeforeLeaderSend, BeforeFollowerSend,
	BeforeApplySnap, AfterApplySnap, BeforeSaveSnap, AfterSaveSnap,
	WALBeforeSync, WALAfterSync, BeforeCommit, AfterCommit,
	BeforeApply, AfterApply,
}
