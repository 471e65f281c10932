package traceview

import (
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/kvtrace/kvtrace/instrument/names"
	"github.com/kvtrace/kvtrace/instrument/record"
)

// OTLP span kinds as the model stores them.
const (
	kindInternal = 1
	kindServer   = 2
	kindProducer = 4
	kindConsumer = 5
)

// LoadRecordings reads recorder files (instrument/record, *.krec) and builds
// the same model Load builds from OTLP JSON: the spans of docs/spans.md with
// their names, attributes, parents and links. Each path is a file or a
// directory walked recursively (covering <member>.kvd/trace/). A torn tail is
// returned as a warning, never as an error; mid-file corruption fails the
// load with the file and offset.
func LoadRecordings(paths ...string) (*Trace, []*record.TornTail, error) {
	files, err := recordingFiles(paths)
	if err != nil {
		return nil, nil, err
	}
	b := NewBuilder()
	torn, err := b.ReadRecordings(files...)
	if err != nil {
		return nil, torn, err
	}
	return b.Build(), torn, nil
}

func recordingFiles(paths []string) ([]string, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("no recordings given")
	}
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.HasSuffix(d.Name(), ".krec") {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%s: no *.krec recordings inside", p)
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	return files, nil
}

type loadedRec struct {
	rec      record.Rec
	start    int64 // Unix ns
	end      int64
	member   string
	memberID uint64
	pos      Pos
}

// ReadRecordings adds the spans of recorder files. Links and peer names need
// every file: a batched record links the entries of its index range, whose
// contexts the apply records of any member give, and a message names its
// peer by the member name in the peer's own file header. So the files are
// read twice: first for headers, entry contexts and the record count (the
// spans are then allocated once), then to convert.
func (b *Builder) ReadRecordings(files ...string) ([]*record.TornTail, error) {
	var torn []*record.TornTail
	memberName := map[uint64]string{}
	entryCtx := map[uint64]Link{} // raft index -> the entry's context, from apply records
	applyID := names.MustID(names.Apply)
	total := 0
	for _, f := range files {
		h, err := record.ReadHeader(f)
		if err != nil {
			return torn, err
		}
		memberName[h.MemberID] = h.Member
		tt, err := record.ReadFile(f, func(_ *record.Header, blk *record.Block) error {
			total += len(blk.Records)
			for i := range blk.Records {
				r := &blk.Records[i]
				if r.Boundary == applyID && r.TraceID != ([16]byte{}) {
					if _, ok := entryCtx[r.Index]; !ok {
						entryCtx[r.Index] = Link{TraceID: r.TraceID, SpanID: r.Parent}
					}
				}
			}
			return nil
		})
		if err != nil {
			return torn, err
		}
		if tt != nil {
			torn = append(torn, tt)
		}
	}
	b.spans = slices.Grow(b.spans, total)
	c := &recConverter{in: b.in, names: memberName, entries: entryCtx, hexIDs: map[uint64]string{}}
	for _, f := range files {
		b.files = append(b.files, f)
		n := 0
		_, err := record.ReadFile(f, func(h *record.Header, blk *record.Block) error {
			lr := loadedRec{member: b.in.s(h.Member), memberID: h.MemberID}
			for i := range blk.Records {
				n++
				lr.rec = blk.Records[i]
				lr.start, lr.end = blk.WallTime(lr.rec.Start), blk.WallTime(lr.rec.End)
				lr.pos = Pos{File: f, Line: n}
				s, ok := c.span(&lr)
				if !ok {
					b.unknown[lr.rec.BoundaryName()]++
					continue
				}
				b.spans = append(b.spans, s)
			}
			return nil
		})
		if err != nil {
			return torn, err
		}
	}
	return torn, nil
}

type recConverter struct {
	in      *interner
	names   map[uint64]string
	entries map[uint64]Link
	hexIDs  map[uint64]string // member ids as raft.from_id / raft.to_id spell them
	attrs   []Attr
}

func (c *recConverter) hexID(id uint64) string {
	h, ok := c.hexIDs[id]
	if !ok {
		h = fmt.Sprintf("%016x", id)
		c.hexIDs[id] = h
	}
	return h
}

func (c *recConverter) name(id uint64) string {
	if n, ok := c.names[id]; ok {
		return n
	}
	return c.in.s(fmt.Sprintf("%x", id))
}

func (c *recConverter) num(k string, v uint64) {
	c.attrs = append(c.attrs, Attr{k, strconv.FormatUint(v, 10)})
}
func (c *recConverter) str(k, v string) { c.attrs = append(c.attrs, Attr{k, c.in.s(v)}) }
func (c *recConverter) flag(k string, v bool) {
	c.attrs = append(c.attrs, Attr{k, strconv.FormatBool(v)})
}

// links returns the contexts of the traced entries in [first, last].
func (c *recConverter) links(first, last uint64) []Link {
	if first == 0 || last < first {
		return nil
	}
	var out []Link
	for i := first; i <= last; i++ {
		if l, ok := c.entries[i]; ok {
			out = append(out, l)
		}
	}
	return out
}

// span turns one record into the span docs/spans.md describes for its
// boundary: which record field becomes which attribute is this function
// (instrument/record/doc.go, "Records").
func (c *recConverter) span(lr *loadedRec) (Span, bool) {
	r := &lr.rec
	name := r.BoundaryName()
	if !Known(name) {
		return Span{}, false
	}
	s := Span{TraceID: r.TraceID, SpanID: r.SpanID, Parent: r.Parent, Name: c.in.s(name), Member: lr.member,
		Kind: kindInternal, Start: lr.start, End: lr.end, Pos: lr.pos}
	if s.TraceID.IsZero() { // a root span of its own trace (snapshot.save, raft.conf_change, ...)
		binary.BigEndian.PutUint64(s.TraceID[:8], lr.memberID)
		copy(s.TraceID[8:], r.SpanID[:])
	}
	c.attrs = make([]Attr, 0, 16)
	role := func() {
		c.num("raft.term", r.Term)
		if ro := r.Flags.Role(); ro != "" {
			c.str("raft.role", ro)
		}
	}
	rangeAttrs := func() {
		c.num("raft.first_index", r.First)
		c.num("raft.last_index", r.Last)
	}
	op := ""
	if int(r.Kind) < len(record.OpNames) {
		op = record.OpNames[r.Kind]
	}
	hexReq := func() {
		if r.Peer != 0 {
			c.str("kv.request_id", fmt.Sprintf("%x", r.Peer))
		}
	}
	switch name {
	case names.GRPCPut, names.GRPCTxn, names.GRPCDeleteRange, names.GRPCRange, names.GRPCCompact:
		s.Kind = kindServer
		c.str("rpc.system", "grpc")
		c.str("rpc.service", "etcdserverpb.KV")
		c.str("rpc.method", strings.TrimPrefix(name, grpcKVPrefix))
		c.num("rpc.grpc.status_code", uint64(r.Count))
		if op != "" {
			c.str("kv.op", op)
		}
		c.num("kv.revision", r.Commit)
		hexReq()
	case names.Propose:
		hexReq()
		c.num("raft.index", r.Index)
		role()
		c.num("bytes", uint64(r.Bytes))
	case names.ProposeForward, names.Send, names.Receive:
		from, to := lr.member, c.name(r.Peer)
		fromID, toID := lr.memberID, r.Peer
		s.Kind = kindProducer
		if name == names.Receive {
			from, to, fromID, toID = to, from, toID, fromID
			s.Kind = kindConsumer
		}
		role()
		if r.Kind > 0 {
			c.str("raft.msg_type", raftpb.MessageType(r.Kind-1).String())
		}
		c.str("raft.from", from)
		c.str("raft.to", to)
		c.attrs = append(c.attrs, Attr{"raft.from_id", c.hexID(fromID)}, Attr{"raft.to_id", c.hexID(toID)})
		c.num("raft.index", r.Index)
		c.num("raft.log_term", r.LogTerm)
		c.num("raft.commit", r.Commit)
		c.num("raft.entries", uint64(r.Count))
		if r.Count > 0 {
			rangeAttrs()
		}
		c.flag("raft.reject", r.Flags&record.FlagReject != 0)
		c.num("bytes", uint64(r.Bytes))
		s.Links = c.links(r.First, r.Last)
	case names.WALSave:
		role()
		if r.Count > 0 {
			rangeAttrs()
		}
		c.num("raft.entries", uint64(r.Count))
		c.flag("wal.must_sync", r.Flags&record.FlagMustSync != 0)
		c.num("raft.hs_commit", r.Commit)
		c.num("raft.hs_term", r.LogTerm)
		c.num("bytes", uint64(r.Bytes))
		s.Links = c.links(r.First, r.Last)
	case names.WALSync:
		c.num("bytes", uint64(r.Bytes))
	case names.CommitAdvance:
		role()
		c.num("raft.commit", r.Commit)
		rangeAttrs()
		var q []string
		for _, id := range []uint64{r.Index, r.LogTerm, r.Peer} {
			if id != 0 {
				q = append(q, c.name(id))
			}
		}
		if len(q) > 0 {
			c.str("raft.quorum", strings.Join(q, ","))
			c.str("raft.quorum_last", q[len(q)-1])
		}
		s.Links = c.links(r.First, r.Last)
	case names.Apply:
		role()
		c.num("raft.index", r.Index)
		if op != "" {
			c.str("kv.op", op)
		}
		c.num("kv.revision", r.Commit)
		hexReq()
	case names.BackendCommit:
		rangeAttrs()
		c.num("bbolt.ops", uint64(r.Count))
		c.num("bytes", uint64(r.Bytes))
		s.Links = c.links(r.First, r.Last)
	case names.SnapshotSave, names.SnapshotSend, names.SnapshotApply:
		c.num("raft.index", r.Index)
		c.num("raft.snapshot_term", r.LogTerm)
		switch name {
		case names.SnapshotSave:
			if r.Commit != 0 {
				c.num("raft.compact_index", r.Commit)
			}
			if r.Flags&record.FlagReceived != 0 {
				c.flag("snapshot.received", true)
			}
		case names.SnapshotSend:
			s.Kind = kindProducer
			c.str("raft.to", c.name(r.Peer))
			c.attrs = append(c.attrs, Attr{"raft.to_id", c.hexID(r.Peer)})
			c.num("bytes", uint64(r.Bytes))
		default:
			c.num("bytes", uint64(r.Bytes))
		}
	case names.ConfChange:
		c.num("raft.index", r.Index)
		c.num("raft.entry_term", r.LogTerm)
		if r.Kind > 0 {
			c.str("raft.conf_change", fmt.Sprintf("%s %x", raftpb.ConfChangeType(r.Kind-1), r.Peer))
		}
	case names.WatchDeliver:
		c.num("watch.id", r.Index)
		c.num("watch.events", uint64(r.Count))
		c.num("kv.revision", r.Commit)
		c.num("watch.compact_revision", r.LogTerm)
		c.str("kv.member", lr.member)
	case names.LeaseExpire:
		c.num("lease.id", r.Index)
		c.num("kv.revision", r.Commit)
		c.str("kv.member", lr.member)
	case names.MVCCWrite:
		c.num("kv.revision", r.Commit)
		c.num("mvcc.ops", uint64(r.Count))
	}
	s.Attrs = c.attrs
	return s, true
}
