package wal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// RecordType says what a record's payload holds. The values are on disk.
type RecordType uint8

// Record types, as documented in the package doc.
const (
	MetadataType RecordType = 1
	EntryType    RecordType = 2
	StateType    RecordType = 3
	CRCType      RecordType = 4
	SnapshotType RecordType = 5
)

func (t RecordType) known() bool { return t >= MetadataType && t <= SnapshotType }

func (t RecordType) String() string {
	switch t {
	case MetadataType:
		return "metadata"
	case EntryType:
		return "entry"
	case StateType:
		return "hardstate"
	case CRCType:
		return "crc"
	case SnapshotType:
		return "snapshot"
	}
	return fmt.Sprintf("unknown(%d)", uint8(t))
}

// Record is one decoded record, as ReadDir reports it.
type Record struct {
	Type   RecordType
	Data   []byte // payload (for CRCType: empty)
	File   string // segment path
	Offset int64  // offset of the record's length word in File
	CRC    uint32 // stored CRC (for CRCType: the running CRC it carries)
}

// Snapshot is a snapshot marker: the raft index and term of a snapshot that
// was written to disk. The zero value is the marker Create writes.
type Snapshot struct{ Index, Term uint64 }

const (
	lengthWordBytes   = 8
	recordHeaderBytes = 8
	snapshotBytes     = 16
	// lengthMask selects n, the record data length, from a length word.
	lengthMask = 1<<56 - 1
	// frameMarker is always set in the top byte of a length word.
	frameMarker = 0x80
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// padFor returns the zero bytes that follow n data bytes so the next frame
// is 8-byte aligned.
func padFor(n int) int { return (8 - n%8) % 8 }

// appendRecord appends one frame to buf. For CRCType the stored CRC is
// prevCRC and the running CRC does not move; for every other type it is
// advanced over payload. It returns the extended buffer and the new running
// CRC. See etcd encoder.go (encode, encodeFrameSize) for the idea.
func appendRecord(buf []byte, t RecordType, prevCRC uint32, payload []byte) ([]byte, uint32) {
	crc := prevCRC
	if t != CRCType {
		crc = crc32.Update(prevCRC, crcTable, payload)
	}
	n := recordHeaderBytes + len(payload)
	pad := padFor(n)
	word := uint64(n) | uint64(frameMarker|pad)<<56
	buf = binary.LittleEndian.AppendUint64(buf, word)
	buf = append(buf, byte(t), ^byte(t), 0, 0)
	buf = binary.LittleEndian.AppendUint32(buf, crc)
	buf = append(buf, payload...)
	for range pad {
		buf = append(buf, 0)
	}
	return buf, crc
}

// decodeLengthWord splits a non-zero length word into data length and pad,
// rejecting every form appendRecord cannot produce.
func decodeLengthWord(word uint64) (n int64, pad int64, ok bool) {
	top := byte(word >> 56)
	n = int64(word & lengthMask)
	pad = int64(top & 7)
	if top&0xf8 != frameMarker || n < recordHeaderBytes || pad != int64(padFor(int(n%8))) {
		return 0, 0, false
	}
	return n, pad, true
}

func encodeSnapshot(s Snapshot) []byte {
	b := make([]byte, 0, snapshotBytes)
	b = binary.LittleEndian.AppendUint64(b, s.Index)
	return binary.LittleEndian.AppendUint64(b, s.Term)
}

func decodeSnapshot(b []byte) (Snapshot, bool) {
	if len(b) != snapshotBytes {
		return Snapshot{}, false
	}
	return Snapshot{Index: binary.LittleEndian.Uint64(b), Term: binary.LittleEndian.Uint64(b[8:])}, true
}
