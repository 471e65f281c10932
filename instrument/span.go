package instrument

import (
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Attribute keys of docs/spans.md. Typed as attribute.Key so a call site
// reads AttrIndex.Int64(int64(e.Index)); readers compare string(AttrIndex).
const (
	// Resource attributes (set once by Setup).
	AttrServiceName       attribute.Key = "service.name"        // always "kvd"
	AttrServiceInstanceID attribute.Key = "service.instance.id" // member name
	AttrMemberID          attribute.Key = "kv.member_id"        // member id, hex

	// On every span.
	AttrMember attribute.Key = "kv.member" // member name
	AttrTerm   attribute.Key = "raft.term" // the member's term, or the entry's
	AttrRole   attribute.Key = "raft.role" // RoleLeader, RoleFollower, ...

	// Client request and apply.
	AttrOp        attribute.Key = "kv.op"         // put, txn, delete_range, range, compact
	AttrKey       attribute.Key = "kv.key"        // the request's key
	AttrRevision  attribute.Key = "kv.revision"   // the store revision after the write
	AttrRequestID attribute.Key = "kv.request_id" // InternalRaftRequest header id, hex
	AttrBytes     attribute.Key = "bytes"         // payload size in bytes

	// Raft log positions and messages.
	AttrIndex      attribute.Key = "raft.index"       // an entry's index
	AttrMsgType    attribute.Key = "raft.msg_type"    // MsgApp, MsgAppResp, MsgProp, ...
	AttrFrom       attribute.Key = "raft.from"        // sender member name
	AttrTo         attribute.Key = "raft.to"          // receiver member name
	AttrFromID     attribute.Key = "raft.from_id"     // sender member id, hex
	AttrToID       attribute.Key = "raft.to_id"       // receiver member id, hex
	AttrLogTerm    attribute.Key = "raft.log_term"    // message LogTerm
	AttrCommit     attribute.Key = "raft.commit"      // commit index (message or member)
	AttrEntries    attribute.Key = "raft.entries"     // number of entries carried or saved
	AttrFirstIndex attribute.Key = "raft.first_index" // first entry index carried or saved
	AttrLastIndex  attribute.Key = "raft.last_index"  // last entry index carried or saved
	AttrReject     attribute.Key = "raft.reject"      // MsgAppResp rejection
	AttrQuorum     attribute.Key = "raft.quorum"      // leader: members whose match covered the entry, leader first
	AttrQuorumLast attribute.Key = "raft.quorum_last" // leader: the member whose ack completed the quorum

	// WAL and backend.
	AttrMustSync attribute.Key = "wal.must_sync"  // raft.MustSync for the Ready
	AttrHSCommit attribute.Key = "raft.hs_commit" // HardState.Commit saved
	AttrHSTerm   attribute.Key = "raft.hs_term"   // HardState.Term saved
	AttrBboltOps attribute.Key = "bbolt.ops"      // writes made durable by the bbolt commit
	AttrPart     attribute.Key = "part"           // a batched span split for the link limit: this is part N
	AttrParts    attribute.Key = "parts"          // ... of this many (both absent when not split)
)

// Values of AttrRole, as raft.StateType prints them in lower case.
const (
	RoleLeader       = "leader"
	RoleFollower     = "follower"
	RoleCandidate    = "candidate"
	RolePreCandidate = "pre-candidate"
)

// HexID formats a member or request id as etcd prints ids: lower-case hex
// without padding.
func HexID(id uint64) string { return strconv.FormatUint(id, 16) }

// MemberAttrs returns the attributes naming a member, for spans that record
// which member wrote them: kv.member and kv.member_id (hex).
func MemberAttrs(member string, memberID uint64) []attribute.KeyValue {
	return []attribute.KeyValue{
		AttrMember.String(member),
		AttrMemberID.String(HexID(memberID)),
	}
}

// MaxLinks is how many links a span keeps (the OpenTelemetry SDK's default
// limit, which Setup's tracer applies too); later links are dropped. A
// batched span that must link more entries is recorded as several spans of
// at most MaxLinks links each.
const MaxLinks = linkCountLimit

// LinkParts is how many spans n links take at MaxLinks each (at least 1).
func LinkParts(n int) int { return max(1, (n+MaxLinks-1)/MaxLinks) }

// WithPart adds AttrPart and AttrParts to attrs when a batched span is
// split (parts > 1); attrs itself is not modified.
func WithPart(attrs []attribute.KeyValue, part, parts int) []attribute.KeyValue {
	if parts <= 1 {
		return attrs
	}
	return append(attrs[:len(attrs):len(attrs)], AttrPart.Int(part), AttrParts.Int(parts))
}

// LinksFor turns the contexts of traced entries into span links, skipping
// invalid contexts; nil when none is valid.
func LinksFor(scs []trace.SpanContext) []trace.Link {
	var links []trace.Link
	for _, sc := range scs {
		if !sc.IsValid() {
			continue
		}
		if links == nil {
			links = make([]trace.Link, 0, len(scs))
		}
		links = append(links, trace.Link{SpanContext: sc})
	}
	return links
}
