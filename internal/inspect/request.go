package inspect

import (
	"fmt"
	"strconv"
	"strings"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// maxShown bounds how much of a key or value a line shows.
const maxShown = 64

// quote renders b as a Go-quoted string, cut to maxShown bytes.
func quote(b []byte) string {
	if len(b) > maxShown {
		return fmt.Sprintf("%q...(%d bytes)", b[:maxShown], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// Request is the decoded etcd request of a normal entry.
type Request struct {
	ID      uint64 `json:"id,omitempty"`      // RequestHeader.ID, the proposer's wait id
	Op      string `json:"op"`                // put, delete_range, txn, compaction, range, lease_grant, ...
	Summary string `json:"summary"`           // one line: the op and its arguments
	Key     string `json:"key,omitempty"`     // the first key the request names, unquoted
	Unknown bool   `json:"unknown,omitempty"` // data that is not an InternalRaftRequest kvd writes
}

// DecodeRequest decodes a normal entry's data as an etcdserverpb
// InternalRaftRequest. Extra unknown fields (the trace context) are ignored.
func DecodeRequest(data []byte) Request {
	var r pb.InternalRaftRequest
	if err := proto.Unmarshal(data, &r); err != nil {
		return Request{Op: "undecodable", Summary: fmt.Sprintf("undecodable request (%v): %d bytes", err, len(data)), Unknown: true}
	}
	out := Request{ID: r.GetHeader().GetID()}
	switch {
	case r.GetPut() != nil:
		out.Op, out.Key, out.Summary = "put", string(r.GetPut().GetKey()), putSummary(r.GetPut())
	case r.GetDeleteRange() != nil:
		d := r.GetDeleteRange()
		out.Op, out.Key, out.Summary = "delete_range", string(d.GetKey()), "delete_range "+rangeSummary(d.GetKey(), d.GetRangeEnd())
		if d.GetPrevKv() {
			out.Summary += " prev_kv"
		}
	case r.GetTxn() != nil:
		out.Op, out.Summary = "txn", txnSummary(r.GetTxn())
		if ops := r.GetTxn().GetSuccess(); len(ops) > 0 {
			out.Key = string(requestOpKey(ops[0]))
		}
	case r.GetCompaction() != nil:
		c := r.GetCompaction()
		out.Op, out.Summary = "compaction", fmt.Sprintf("compaction revision=%d", c.GetRevision())
		if c.GetPhysical() {
			out.Summary += " physical"
		}
	case r.GetRange() != nil:
		g := r.GetRange()
		out.Op, out.Key, out.Summary = "range", string(g.GetKey()), "range "+rangeSummary(g.GetKey(), g.GetRangeEnd())
	case r.GetLeaseGrant() != nil:
		g := r.GetLeaseGrant()
		out.Op, out.Summary = "lease_grant", fmt.Sprintf("lease_grant id=%x ttl=%d", g.GetID(), g.GetTTL())
	case r.GetLeaseRevoke() != nil:
		out.Op, out.Summary = "lease_revoke", fmt.Sprintf("lease_revoke id=%x", r.GetLeaseRevoke().GetID())
	case r.GetLeaseCheckpoint() != nil:
		out.Op, out.Summary = "lease_checkpoint", fmt.Sprintf("lease_checkpoint %d leases", len(r.GetLeaseCheckpoint().GetCheckpoints()))
	default:
		out.Op, out.Summary = otherSummary(&r, len(data))
	}
	return out
}

// otherSummary names the request's set field and prints it as one-line
// protobuf text, for the requests kvd proposes that are not KV operations
// (membership attributes, cluster version, alarms, ...).
func otherSummary(r *pb.InternalRaftRequest, n int) (op, summary string) {
	op, summary = "other", fmt.Sprintf("request of %d bytes with no known field", n)
	r.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind || fd.Name() == "header" {
			return true
		}
		op = string(fd.Name())
		summary = op + " " + textOf(v.Message())
		return false
	})
	return op, summary
}

func rangeSummary(key, end []byte) string {
	s := "key=" + quote(key)
	if len(end) > 0 {
		s += " range_end=" + quote(end)
	}
	return s
}

func putSummary(p *pb.PutRequest) string {
	s := "put key=" + quote(p.GetKey()) + " value=" + quote(p.GetValue())
	if p.GetLease() != 0 {
		s += fmt.Sprintf(" lease=%x", p.GetLease())
	}
	if p.GetPrevKv() {
		s += " prev_kv"
	}
	if p.GetIgnoreValue() {
		s += " ignore_value"
	}
	if p.GetIgnoreLease() {
		s += " ignore_lease"
	}
	return s
}

func requestOpKey(op *pb.RequestOp) []byte {
	switch {
	case op.GetRequestPut() != nil:
		return op.GetRequestPut().GetKey()
	case op.GetRequestDeleteRange() != nil:
		return op.GetRequestDeleteRange().GetKey()
	case op.GetRequestRange() != nil:
		return op.GetRequestRange().GetKey()
	}
	return nil
}

// txnSummary prints compares and both branches, e.g.
// txn if [mod("k") = 0] then [put key="k" value="v"] else [range key="k"].
func txnSummary(t *pb.TxnRequest) string {
	var cmps []string
	for _, c := range t.GetCompare() {
		cmps = append(cmps, compareSummary(c))
	}
	return fmt.Sprintf("txn if [%s] then [%s] else [%s]",
		strings.Join(cmps, ", "), opsSummary(t.GetSuccess()), opsSummary(t.GetFailure()))
}

func opsSummary(ops []*pb.RequestOp) string {
	var s []string
	for _, op := range ops {
		switch {
		case op.GetRequestPut() != nil:
			s = append(s, putSummary(op.GetRequestPut()))
		case op.GetRequestDeleteRange() != nil:
			d := op.GetRequestDeleteRange()
			s = append(s, "delete_range "+rangeSummary(d.GetKey(), d.GetRangeEnd()))
		case op.GetRequestRange() != nil:
			g := op.GetRequestRange()
			s = append(s, "range "+rangeSummary(g.GetKey(), g.GetRangeEnd()))
		case op.GetRequestTxn() != nil:
			s = append(s, txnSummary(op.GetRequestTxn()))
		}
	}
	return strings.Join(s, "; ")
}

func compareSummary(c *pb.Compare) string {
	ops := map[pb.Compare_CompareResult]string{
		pb.Compare_EQUAL: "=", pb.Compare_GREATER: ">", pb.Compare_LESS: "<", pb.Compare_NOT_EQUAL: "!=",
	}
	var target, val string
	switch c.GetTarget() {
	case pb.Compare_VERSION:
		target, val = "version", fmt.Sprint(c.GetVersion())
	case pb.Compare_CREATE:
		target, val = "create", fmt.Sprint(c.GetCreateRevision())
	case pb.Compare_MOD:
		target, val = "mod", fmt.Sprint(c.GetModRevision())
	case pb.Compare_VALUE:
		target, val = "value", quote(c.GetValue())
	case pb.Compare_LEASE:
		target, val = "lease", fmt.Sprintf("%x", c.GetLease())
	}
	k := quote(c.GetKey())
	if len(c.GetRangeEnd()) > 0 {
		k += ".." + quote(c.GetRangeEnd())
	}
	return fmt.Sprintf("%s(%s) %s %s", target, k, ops[c.GetResult()], val)
}

// confChangeSummary decodes a conf-change entry (v1 or v2).
func confChangeSummary(typ raftpb.EntryType, data []byte) string {
	if typ == raftpb.EntryConfChangeV2 {
		var cc raftpb.ConfChangeV2
		if err := proto.Unmarshal(data, &cc); err != nil {
			return fmt.Sprintf("undecodable ConfChangeV2 (%v)", err)
		}
		var s []string
		for _, c := range cc.GetChanges() {
			s = append(s, fmt.Sprintf("%s node=%x", c.GetType(), c.GetNodeId()))
		}
		return fmt.Sprintf("conf_change_v2 transition=%s [%s] context=%s", cc.GetTransition(), strings.Join(s, ", "), quote(cc.GetContext()))
	}
	var cc raftpb.ConfChange
	if err := proto.Unmarshal(data, &cc); err != nil {
		return fmt.Sprintf("undecodable ConfChange (%v)", err)
	}
	return fmt.Sprintf("%s node=%x context=%s", cc.GetType(), cc.GetNodeId(), quote(cc.GetContext()))
}

// textOf prints m as one-line protobuf text with stable spacing (prototext
// deliberately varies its whitespace between builds, which goldens cannot
// take).
func textOf(m protoreflect.Message) string {
	var parts []string
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ { // declaration order: Range's order varies
		fd := fields.Get(i)
		if !m.Has(fd) {
			continue
		}
		v := m.Get(fd)
		name := string(fd.Name())
		one := func(v protoreflect.Value) string {
			switch fd.Kind() {
			case protoreflect.MessageKind, protoreflect.GroupKind:
				return "{" + textOf(v.Message()) + "}"
			case protoreflect.StringKind:
				return strconv.Quote(v.String())
			case protoreflect.BytesKind:
				return quote(v.Bytes())
			case protoreflect.EnumKind:
				if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
					return string(ev.Name())
				}
			}
			return v.String()
		}
		switch {
		case fd.IsList():
			for i := 0; i < v.List().Len(); i++ {
				parts = append(parts, name+":"+one(v.List().Get(i)))
			}
		case fd.IsMap():
			parts = append(parts, name+":{map}")
		default:
			parts = append(parts, name+":"+one(v))
		}
	}
	return strings.Join(parts, " ")
}
