package record

import (
	"encoding/binary"
	"hash/crc32"

	"github.com/kvtrace/kvtrace/instrument/names"
)

// Format constants (doc.go).
const (
	Version         = 1
	RecordSize      = 96
	ContextSize     = 24
	BlockHeaderSize = 48
	MaxBlockRecords = 4096
	maxNameLen      = 255
	fileHeaderFixed = 40
	fileExt         = ".krec"
)

var magic = [8]byte{'K', 'V', 'T', 'R', 'E', 'C', 0, 1}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Flags of a record (bits 0-2 are the raft role).
type Flags uint16

const (
	RoleMask         Flags = 7
	RoleLeader       Flags = 1
	RoleFollower     Flags = 2
	RoleCandidate    Flags = 3
	RolePreCandidate Flags = 4

	FlagReject    Flags = 1 << 3 // raft.reject
	FlagMustSync  Flags = 1 << 4 // wal.must_sync
	FlagError     Flags = 1 << 5 // the span's status is an error
	FlagReceived  Flags = 1 << 6 // snapshot.received (a snapshot.save of a snapshot from the leader)
	FlagQuorumCut Flags = 1 << 7 // raft.commit: the quorum had more than three members; three are stored
)

// Role returns the role bits as docs/spans.md spells raft.role ("" if unset).
func (f Flags) Role() string {
	switch f & RoleMask {
	case RoleLeader:
		return "leader"
	case RoleFollower:
		return "follower"
	case RoleCandidate:
		return "candidate"
	case RolePreCandidate:
		return "pre-candidate"
	}
	return ""
}

// Operations stored in Rec.Kind for apply and the gRPC spans; the strings
// are kv.op as kvd writes it.
const (
	OpNone uint8 = iota
	OpPut
	OpTxn
	OpDeleteRange
	OpRange
	OpCompact
	OpLeaseRevoke
)

// OpNames is kv.op for each Op* value.
var OpNames = [...]string{"", "put", "txn", "delete_range", "range", "compact", "lease_revoke"}

// Rec is one record as the hot path hands it over and the reader returns it.
// Which fields a boundary sets is doc.go's record table. A Rec is a value:
// Record copies it, so passing one never allocates.
type Rec struct {
	Boundary names.ID
	Kind     uint8
	Flags    Flags
	TraceID  [16]byte // the write's trace; zero when the record belongs to none
	Parent   [8]byte  // the parent span id within TraceID (zero: a root)
	SpanID   [8]byte
	Start    int64 // monotonic ns since Open (Recorder.Now)
	End      int64
	Term     uint64
	First    uint64
	Last     uint64
	Index    uint64
	LogTerm  uint64
	Commit   uint64
	Peer     uint64
	Count    uint32
	Bytes    uint32
}

type ctxKey struct {
	t [16]byte
	p [8]byte
}

// encodeRecord writes r into b (RecordSize bytes) with context reference ctx.
func encodeRecord(b []byte, r *Rec, ctx uint32) {
	_ = b[RecordSize-1]
	b[0] = byte(r.Boundary)
	b[1] = r.Kind
	binary.LittleEndian.PutUint16(b[2:], uint16(r.Flags))
	binary.LittleEndian.PutUint32(b[4:], ctx)
	copy(b[8:16], r.SpanID[:])
	binary.LittleEndian.PutUint64(b[16:], uint64(r.Start))
	binary.LittleEndian.PutUint64(b[24:], uint64(r.End))
	binary.LittleEndian.PutUint64(b[32:], r.Term)
	binary.LittleEndian.PutUint64(b[40:], r.First)
	binary.LittleEndian.PutUint64(b[48:], r.Last)
	binary.LittleEndian.PutUint64(b[56:], r.Index)
	binary.LittleEndian.PutUint64(b[64:], r.LogTerm)
	binary.LittleEndian.PutUint64(b[72:], r.Commit)
	binary.LittleEndian.PutUint64(b[80:], r.Peer)
	binary.LittleEndian.PutUint32(b[88:], r.Count)
	binary.LittleEndian.PutUint32(b[92:], r.Bytes)
}

// decodeRecord is the inverse of encodeRecord; it returns the context reference.
func decodeRecord(b []byte, r *Rec) uint32 {
	_ = b[RecordSize-1]
	r.Boundary = names.ID(b[0])
	r.Kind = b[1]
	r.Flags = Flags(binary.LittleEndian.Uint16(b[2:]))
	copy(r.SpanID[:], b[8:16])
	r.Start = int64(binary.LittleEndian.Uint64(b[16:]))
	r.End = int64(binary.LittleEndian.Uint64(b[24:]))
	r.Term = binary.LittleEndian.Uint64(b[32:])
	r.First = binary.LittleEndian.Uint64(b[40:])
	r.Last = binary.LittleEndian.Uint64(b[48:])
	r.Index = binary.LittleEndian.Uint64(b[56:])
	r.LogTerm = binary.LittleEndian.Uint64(b[64:])
	r.Commit = binary.LittleEndian.Uint64(b[72:])
	r.Peer = binary.LittleEndian.Uint64(b[80:])
	r.Count = binary.LittleEndian.Uint32(b[88:])
	r.Bytes = binary.LittleEndian.Uint32(b[92:])
	return binary.LittleEndian.Uint32(b[4:])
}

// Header is a file's header.
type Header struct {
	Version  uint16
	MemberID uint64
	Member   string
	Wall     int64 // Unix ns of monotonic time 0
}

func appendFileHeader(dst []byte, h *Header) []byte {
	n := len(dst)
	var fixed [fileHeaderFixed]byte
	copy(fixed[0:8], magic[:])
	binary.LittleEndian.PutUint16(fixed[8:], Version)
	binary.LittleEndian.PutUint16(fixed[10:], RecordSize)
	binary.LittleEndian.PutUint16(fixed[12:], uint16(len(h.Member)))
	binary.LittleEndian.PutUint64(fixed[16:], h.MemberID)
	binary.LittleEndian.PutUint64(fixed[24:], uint64(h.Wall))
	dst = append(dst, fixed[:]...)
	dst = append(dst, h.Member...)
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[n:], castagnoli))
}

// blockEncoder turns drained records into one block. It is owned by the
// writer goroutine and reuses its buffers, so steady-state encoding does not
// allocate either.
type blockEncoder struct {
	ctxs  map[ctxKey]uint32
	order []ctxKey
	refs  []uint32
	buf   []byte
}

func newBlockEncoder() *blockEncoder {
	return &blockEncoder{ctxs: make(map[ctxKey]uint32, MaxBlockRecords)}
}

// encode appends one block holding recs (1..MaxBlockRecords) to e.buf.
func (e *blockEncoder) encode(recs []Rec, wall, mono int64, dropped uint64) {
	clear(e.ctxs)
	e.order, e.refs = e.order[:0], e.refs[:0]
	for i := range recs {
		r := &recs[i]
		if r.TraceID == ([16]byte{}) {
			e.refs = append(e.refs, 0)
			continue
		}
		k := ctxKey{r.TraceID, r.Parent}
		ref, ok := e.ctxs[k]
		if !ok {
			e.order = append(e.order, k)
			ref = uint32(len(e.order))
			e.ctxs[k] = ref
		}
		e.refs = append(e.refs, ref)
	}
	bodyLen := ContextSize*len(e.order) + RecordSize*len(recs)
	start := len(e.buf)
	e.buf = append(e.buf, make([]byte, BlockHeaderSize+bodyLen)...)
	b := e.buf[start:]
	binary.LittleEndian.PutUint32(b[0:], uint32(bodyLen))
	binary.LittleEndian.PutUint32(b[8:], uint32(len(recs)))
	binary.LittleEndian.PutUint32(b[12:], uint32(len(e.order)))
	binary.LittleEndian.PutUint64(b[16:], uint64(recs[0].Start))
	binary.LittleEndian.PutUint64(b[24:], uint64(wall))
	binary.LittleEndian.PutUint64(b[32:], uint64(mono))
	binary.LittleEndian.PutUint64(b[40:], dropped)
	p := b[BlockHeaderSize:]
	for _, k := range e.order {
		copy(p[0:16], k.t[:])
		copy(p[16:24], k.p[:])
		p = p[ContextSize:]
	}
	for i := range recs {
		encodeRecord(p, &recs[i], e.refs[i])
		p = p[RecordSize:]
	}
	binary.LittleEndian.PutUint32(b[4:], crc32.Checksum(b[8:], castagnoli))
}
