package instrument

import "github.com/kvtrace/kvtrace/instrument/names"

// The vocabulary is declared once, in instrument/names (the table, its IDs and
// which name is a span, a failpoint or an anchor). These are the same
// constants under the names the write path already uses.
const (
	Propose          = names.Propose
	ProposeForward   = names.ProposeForward
	LeaderSend       = names.Send
	Receive          = names.Receive
	WALSave          = names.WALSave
	WALSync          = names.WALSync
	CommitAdvance    = names.CommitAdvance
	Apply            = names.Apply
	BackendCommit    = names.BackendCommit
	SnapshotSave     = names.SnapshotSave
	SnapshotSend     = names.SnapshotSend
	SnapshotApply    = names.SnapshotApply
	ConfChange       = names.ConfChange
	WatchDeliver     = names.WatchDeliver
	LeaseExpire      = names.LeaseExpire
	BeforeSave       = names.BeforeSave
	AfterSave        = names.AfterSave
	BeforeLeaderSend = names.BeforeLeaderSend
	BeforeApplySnap  = names.BeforeApplySnap
	BeforeCommit     = names.BeforeCommit
	AfterCommit      = names.AfterCommit

	BeforeFollowerSend = names.BeforeFollowerSend
	AfterApplySnap     = names.AfterApplySnap
	BeforeSaveSnap     = names.BeforeSaveSnap
	AfterSaveSnap      = names.AfterSaveSnap
	WALBeforeSync      = names.WALBeforeSync
	WALAfterSync       = names.WALAfterSync
	BeforeApply        = names.BeforeApply
	AfterApply         = names.AfterApply
)

// allNames lists every failpoint name of the table; failpoint.go registers
// each one with gofail (see names.BeforeSave's comment for the pause term).
var allNames = names.Of(names.Failpoint)
