package wal

import (
	"errors"
	"fmt"
)

// Sentinel errors. Corruption is reported as a *CorruptError that wraps one
// of them (or none) and matches ErrCorrupt under errors.Is.
var (
	// ErrCorrupt matches every *CorruptError.
	ErrCorrupt = errors.New("wal: corrupt log")
	// ErrCRCMismatch: a record's stored CRC does not match the chain.
	ErrCRCMismatch = errors.New("wal: CRC mismatch")
	// ErrBadFrame: a length word, header or padding has an impossible value.
	ErrBadFrame = errors.New("wal: malformed record frame")
	// ErrUnexpectedEOF: the file ends inside a record.
	ErrUnexpectedEOF = errors.New("wal: record cut short by end of file")
	// ErrUnknownType: a well-formed record of a type this code does not know.
	ErrUnknownType = errors.New("wal: unknown record type")
	// ErrIndexGap: an entry's index leaves a hole after the previous one.
	ErrIndexGap = errors.New("wal: entry index gap")

	// ErrSnapshotNotFound: the snapshot marker given to Open is not in the log.
	ErrSnapshotNotFound = errors.New("wal: snapshot marker not found")
	// ErrSnapshotMismatch: the marker at the snapshot index has another term.
	ErrSnapshotMismatch = errors.New("wal: snapshot marker term mismatch")
	// ErrMetadataConflict: two metadata records disagree.
	ErrMetadataConflict = errors.New("wal: conflicting metadata records")
	// ErrSegmentGap: segment sequence numbers are not contiguous.
	ErrSegmentGap = errors.New("wal: segment sequence gap")
	// ErrNoSegments: the directory holds no segment file.
	ErrNoSegments = errors.New("wal: no segment files")
	// ErrExist: Create found an existing WAL or a non-empty directory.
	ErrExist = errors.New("wal: directory already holds data")
	// ErrLocked: another WAL (this or another process) holds a segment.
	ErrLocked = errors.New("wal: segment locked by another WAL")
	// ErrReadAllFirst: Save before ReadAll, or ReadAll called twice.
	ErrReadAllFirst = errors.New("wal: ReadAll must be called exactly once after Open and before Save")
	// ErrClosed: the WAL was closed.
	ErrClosed = errors.New("wal: closed")
)

// CorruptError reports damage at a precise place in a segment.
type CorruptError struct {
	File   string // segment path
	Offset int64  // offset of the frame (its length word) where decoding failed
	Reason string // what is wrong, e.g. "CRC mismatch"
	// Torn is true when the damage looks like a write interrupted at the end
	// of the last segment, which Open repairs. ReadDir reports such a tail
	// with Torn set; Open never returns one.
	Torn bool
	Err  error // the sentinel cause (ErrCRCMismatch, ...), may be nil

	// tearable: this kind of damage can come from a torn write if nothing
	// but zeros follows it. Set by the decoder, used by scanSegment.
	tearable bool
}

func (e *CorruptError) Error() string {
	advice := "the log is damaged mid-file; restore this member from a snapshot or remove it from the cluster"
	if e.Torn {
		advice = "the last write was interrupted; opening the WAL for writing truncates it here and keeps the original as .broken"
	}
	return fmt.Sprintf("wal: %s in %s at offset %d: %s", e.Reason, e.File, e.Offset, advice)
}

// Unwrap returns the sentinel cause.
func (e *CorruptError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrCorrupt) true for every CorruptError.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }
