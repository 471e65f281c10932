package wal

import (
	"bytes"
	"fmt"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// ReadAll replays the records Open decoded (package doc, Replay) and enables
// Save. It returns the metadata, the latest HardState (empty, not nil, if
// none was saved) and the entries with index > at.Index. It MUST be called
// exactly once after Open; if it fails the WAL refuses to write and should
// be closed. Compare etcd wal.go (ReadAll).
func (w *WAL) ReadAll() (metadata []byte, hs *raftpb.HardState, ents []*raftpb.Entry, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.closed:
		return nil, nil, nil, ErrClosed
	case !w.needRead:
		return nil, nil, nil, ErrReadAllFirst
	}
	recs := w.recs
	w.recs, w.needRead = nil, false
	metadata, hs, ents, lastIndex, err := replay(recs, w.at)
	if err != nil {
		w.failed = err // Save on a log we could not read would fork it
		return nil, nil, nil, err
	}
	w.metadata = metadata
	w.lastIndex = lastIndex
	if !raft.IsEmptyHardState(hs) {
		w.state = proto.Clone(hs).(*raftpb.HardState)
	}
	return metadata, hs, ents, nil
}

// replay applies recs in order, starting after snapshot at. lastIndex is
// what a writer that wrote recs would hold: the last entry index, raised by
// snapshot markers.
func replay(recs []Record, at Snapshot) (metadata []byte, hs *raftpb.HardState, ents []*raftpb.Entry, lastIndex uint64, err error) {
	hs = &raftpb.HardState{}
	match := at == Snapshot{}
	for _, r := range recs {
		switch r.Type {
		case MetadataType:
			if metadata != nil && !bytes.Equal(metadata, r.Data) {
				return nil, nil, nil, 0, fmt.Errorf("%w: %s at offset %d", ErrMetadataConflict, r.File, r.Offset)
			}
			metadata = r.Data
		case EntryType:
			e := &raftpb.Entry{}
			if err := proto.Unmarshal(r.Data, e); err != nil {
				return nil, nil, nil, 0, recordError(r, nil, "entry does not decode: %v", err)
			}
			if i := e.GetIndex(); i > at.Index {
				pos := i - at.Index - 1
				if pos > uint64(len(ents)) {
					return nil, nil, nil, 0, recordError(r, ErrIndexGap,
						"entry %d follows entry %d", i, at.Index+uint64(len(ents)))
				}
				// Raft truncated its log: this entry REPLACES position pos
				// and everything after it.
				ents = append(ents[:pos], e)
			}
			lastIndex = e.GetIndex()
		case StateType:
			st := &raftpb.HardState{}
			if err := proto.Unmarshal(r.Data, st); err != nil {
				return nil, nil, nil, 0, recordError(r, nil, "hardstate does not decode: %v", err)
			}
			hs = st
		case SnapshotType:
			s, ok := decodeSnapshot(r.Data)
			if !ok {
				return nil, nil, nil, 0, recordError(r, ErrBadFrame, "snapshot marker of %d bytes", len(r.Data))
			}
			if s.Index == at.Index {
				if s.Term != at.Term {
					return nil, nil, nil, 0, fmt.Errorf("%w: marker %+v in %s, want term %d", ErrSnapshotMismatch, s, r.File, at.Term)
				}
				match = true
			}
			lastIndex = max(lastIndex, s.Index)
		case CRCType:
			// The decoder already checked the chain.
		}
	}
	if !match {
		return nil, nil, nil, 0, fmt.Errorf("%w: no marker for index %d term %d", ErrSnapshotNotFound, at.Index, at.Term)
	}
	return metadata, hs, ents, lastIndex, nil
}

// recordError reports a record whose bytes passed the CRC but whose content
// is wrong: it was written that way, so it is never a torn write.
func recordError(r Record, cause error, format string, args ...any) *CorruptError {
	return &CorruptError{File: r.File, Offset: r.Offset, Reason: fmt.Sprintf(format, args...), Err: cause}
}
