package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/kvtrace/kvtrace/internal/metrics"
)

// maxKeptBuf bounds the encode buffer kept between Saves, so one huge batch
// does not pin its memory forever.
const maxKeptBuf = 1 << 20

// Save appends ents, then hs if it is not empty, with one write. It
// fdatasyncs only when mustSync (raft's Ready.MustSync); raft MUST NOT treat
// the entries as persisted (send a follower's MsgAppResp, count the leader's
// own vote) until a Save with mustSync returned. When the tail reaches
// SegmentSizeBytes it is cut, which syncs. Compare etcd wal.go (Save).
func (w *WAL) Save(hs *raftpb.HardState, ents []*raftpb.Entry, mustSync bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.writable(); err != nil {
		return err
	}
	hasState := !raft.IsEmptyHardState(hs)
	if !hasState && len(ents) == 0 {
		return nil
	}
	buf, crc := w.buf[:0], w.crc
	for _, e := range ents {
		b, err := proto.Marshal(e)
		if err != nil {
			return fmt.Errorf("wal: encode entry %d: %w", e.GetIndex(), err)
		}
		buf, crc = appendRecord(buf, EntryType, crc, b)
	}
	if hasState {
		b, err := proto.Marshal(hs)
		if err != nil {
			return fmt.Errorf("wal: encode hardstate: %w", err)
		}
		buf, crc = appendRecord(buf, StateType, crc, b)
	}
	if cap(buf) <= maxKeptBuf {
		w.buf = buf
	}
	if err := w.write(buf); err != nil {
		return err
	}
	w.crc = crc
	if len(ents) > 0 {
		w.lastIndex = ents[len(ents)-1].GetIndex()
	}
	if hasState {
		w.state = proto.Clone(hs).(*raftpb.HardState)
	}
	if w.tailOff < SegmentSizeBytes {
		if mustSync {
			return w.sync()
		}
		return nil
	}
	return w.cut()
}

// SaveSnapshot appends a snapshot marker and syncs. Call it AFTER the
// snapshot itself is durable, so a marker never points at a missing file.
func (w *WAL) SaveSnapshot(s Snapshot) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.writable(); err != nil {
		return err
	}
	buf, crc := appendRecord(w.buf[:0], SnapshotType, w.crc, encodeSnapshot(s))
	if err := w.write(buf); err != nil {
		return err
	}
	w.crc = crc
	w.lastIndex = max(w.lastIndex, s.Index)
	return w.sync()
}

// write appends buf to the tail. A failure is sticky (see WAL.failed).
func (w *WAL) write(buf []byte) error {
	t := w.tail()
	start := time.Now()
	if _, err := t.f.WriteAt(buf, w.tailOff); err != nil {
		return w.fail(fmt.Errorf("wal: write %s at offset %d: %w", t.path, w.tailOff, err))
	}
	metrics.WALWrite(time.Since(start), len(buf))
	w.tailOff += int64(len(buf))
	w.unsynced += len(buf)
	return nil
}

// sync fdatasyncs the tail.
func (w *WAL) sync() error {
	if err := w.syncFile(w.tail().f, w.unsynced); err != nil {
		return err
	}
	w.unsynced = 0
	return nil
}

// syncFile fdatasyncs f between the hooks. A failure is sticky: after a
// failed fsync the kernel may have dropped the dirty pages, so a later
// successful fsync would not mean the data is on disk.
func (w *WAL) syncFile(f *os.File, n int) error {
	if h := w.hooks.BeforeSync; h != nil {
		h(n)
	}
	start := time.Now()
	err := fdatasync(f)
	metrics.WALFsyncSeconds.Observe(time.Since(start).Seconds())
	if h := w.hooks.AfterSync; h != nil {
		h(n)
	}
	if err != nil {
		return w.fail(err)
	}
	return nil
}

func (w *WAL) fail(err error) error {
	if w.failed == nil {
		w.failed = err
	}
	return err
}

// cut closes the tail for appends and starts segment seq+1, named after the
// next index. Steps, in this order (compare etcd wal.go cut):
//  1. truncate the old tail to its used length and fdatasync it;
//  2. create <name>.tmp, preallocated and locked;
//  3. write its header: CRC (the running CRC), metadata, latest HardState;
//     fdatasync;
//  4. rename it to <name> and fsync the directory.
func (w *WAL) cut() error {
	old := w.tail()
	// 1. The old tail MUST be complete and durable BEFORE a newer segment
	// exists: Open treats damage in any segment but the last as fatal.
	if err := old.f.Truncate(w.tailOff); err != nil {
		return w.fail(fmt.Errorf("wal: cut: truncate %s: %w", old.path, err))
	}
	if err := w.sync(); err != nil {
		return err
	}
	info := segmentInfo{seq: old.seq + 1, index: w.lastIndex + 1}
	info.path = filepath.Join(w.dir, segmentName(info.seq, info.index))
	tmp := info.path + tmpSuffix
	// 2.
	f, err := createSegmentFile(tmp)
	if err != nil {
		return w.fail(fmt.Errorf("wal: cut: %w", err))
	}
	abandon := func(err error) error {
		return w.fail(errors.Join(err, f.Close(), os.Remove(tmp)))
	}
	// 3. The header MUST be durable BEFORE the segment gets its name: Open
	// trusts the header of every named segment.
	buf, crc := appendRecord(w.buf[:0], CRCType, w.crc, nil)
	buf, crc = appendRecord(buf, MetadataType, crc, w.metadata)
	if w.state != nil {
		b, err := proto.Marshal(w.state)
		if err != nil {
			return abandon(fmt.Errorf("wal: cut: encode hardstate: %w", err))
		}
		buf, crc = appendRecord(buf, StateType, crc, b)
	}
	if _, err := f.WriteAt(buf, 0); err != nil {
		return abandon(fmt.Errorf("wal: cut: write %s: %w", tmp, err))
	}
	if err := w.syncFile(f, len(buf)); err != nil {
		return abandon(err)
	}
	// 4.
	if err := os.Rename(tmp, info.path); err != nil {
		return abandon(fmt.Errorf("wal: cut: %w", err))
	}
	w.segs = append(w.segs, &segment{segmentInfo: info, f: f})
	w.tailOff, w.crc, w.unsynced = int64(len(buf)), crc, 0
	if err := fsyncDir(w.dir); err != nil {
		return w.fail(err)
	}
	w.lg.Info("wal: cut segment", "file", info.path, "seq", info.seq, "first_index", info.index)
	return nil
}
