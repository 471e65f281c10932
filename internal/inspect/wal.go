package inspect

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/kvtrace/kvtrace/instrument"
	"github.com/kvtrace/kvtrace/internal/wal"
)

// Entry type names as the --entry-type filter spells them.
const (
	EntryNormal       = "normal"
	EntryConfChange   = "conf-change"
	EntryConfChangeV2 = "conf-change-v2"
)

// EntryTypeName maps raft's entry type to its filter name.
func EntryTypeName(t raftpb.EntryType) string {
	switch t {
	case raftpb.EntryNormal:
		return EntryNormal
	case raftpb.EntryConfChange:
		return EntryConfChange
	case raftpb.EntryConfChangeV2:
		return EntryConfChangeV2
	}
	return strings.ToLower(t.String())
}

// WALOptions filter the entries ReadWAL reports. Metadata, HardState and
// snapshot records are always reported: they say which state the entries
// around them were written in.
type WALOptions struct {
	StartIndex uint64   // report entries with index >= StartIndex
	EndIndex   uint64   // and <= EndIndex (0: no bound)
	EntryTypes []string // and whose type is one of these (empty: all)
}

func (o WALOptions) keep(it WALItem) bool {
	if it.Kind != "entry" {
		return true
	}
	if it.Index < o.StartIndex || (o.EndIndex != 0 && it.Index > o.EndIndex) {
		return false
	}
	if len(o.EntryTypes) == 0 {
		return true
	}
	for _, t := range o.EntryTypes {
		if t == it.EntryType {
			return true
		}
	}
	return false
}

// WALItem is one decoded WAL record.
type WALItem struct {
	Kind   string `json:"kind"` // metadata, crc, snapshot, entry, hardstate
	File   string `json:"file"` // segment file name
	Offset int64  `json:"offset"`

	MemberID  string `json:"member_id,omitempty"` // metadata, hex
	ClusterID string `json:"cluster_id,omitempty"`

	Term   uint64 `json:"term,omitempty"`   // entry, hardstate, snapshot
	Index  uint64 `json:"index,omitempty"`  // entry, snapshot
	Vote   string `json:"vote,omitempty"`   // hardstate, hex member id
	Commit uint64 `json:"commit,omitempty"` // hardstate

	EntryType string   `json:"entry_type,omitempty"`
	Request   *Request `json:"request,omitempty"` // normal entries with data
	Data      string   `json:"data,omitempty"`    // conf changes, empty entries
	TraceID   string   `json:"trace_id,omitempty"`
	Bytes     int      `json:"bytes"` // payload size

	Raw string `json:"raw,omitempty"` // undecodable payloads
}

// WALSummary is what ReadWAL saw in total.
type WALSummary struct {
	Records   int    `json:"records"`
	Entries   int    `json:"entries"`
	Shown     int    `json:"entries_shown"`
	LastIndex uint64 `json:"last_index"`
	LastTerm  uint64 `json:"last_term"`
	HardState string `json:"hardstate"` // the latest: term, vote, commit
	Torn      string `json:"torn,omitempty"`
}

// ReadWAL decodes every record of the WAL in dir, oldest first, and calls fn
// for the ones opts keeps. A torn tail (a live member's record being written,
// or a crash) ends the walk without an error; the summary reports it. Any
// other damage is returned as wal's *CorruptError.
func ReadWAL(dir string, opts WALOptions, fn func(WALItem) error) (WALSummary, error) {
	var sum WALSummary
	err := wal.ReadDir(dir, func(r wal.Record) error {
		sum.Records++
		it := decodeRecord(r)
		switch it.Kind {
		case "entry":
			sum.Entries++
			sum.LastIndex, sum.LastTerm = it.Index, it.Term
		case "hardstate":
			sum.HardState = fmt.Sprintf("term=%d vote=%s commit=%d", it.Term, it.Vote, it.Commit)
		}
		if !opts.keep(it) {
			return nil
		}
		if it.Kind == "entry" {
			sum.Shown++
		}
		return fn(it)
	})
	var ce *wal.CorruptError
	if errors.As(err, &ce) && ce.Torn {
		sum.Torn = ce.Error()
		err = nil
	}
	return sum, err
}

func decodeRecord(r wal.Record) WALItem {
	it := WALItem{Kind: r.Type.String(), File: filepath.Base(r.File), Offset: r.Offset, Bytes: len(r.Data)}
	switch r.Type {
	case wal.MetadataType:
		if len(r.Data) == 16 {
			it.MemberID = fmt.Sprintf("%x", binary.BigEndian.Uint64(r.Data[0:]))
			it.ClusterID = fmt.Sprintf("%x", binary.BigEndian.Uint64(r.Data[8:]))
		} else {
			it.Raw = fmt.Sprintf("%x", r.Data)
		}
	case wal.SnapshotType:
		if len(r.Data) == 16 {
			it.Index = binary.LittleEndian.Uint64(r.Data[0:])
			it.Term = binary.LittleEndian.Uint64(r.Data[8:])
		} else {
			it.Raw = fmt.Sprintf("%x", r.Data)
		}
	case wal.StateType:
		var hs raftpb.HardState
		if err := proto.Unmarshal(r.Data, &hs); err != nil {
			it.Raw = fmt.Sprintf("undecodable HardState (%v)", err)
			break
		}
		it.Term, it.Commit, it.Vote = hs.GetTerm(), hs.GetCommit(), fmt.Sprintf("%x", hs.GetVote())
	case wal.EntryType:
		var e raftpb.Entry
		if err := proto.Unmarshal(r.Data, &e); err != nil {
			it.Raw = fmt.Sprintf("undecodable Entry (%v)", err)
			break
		}
		it.Term, it.Index, it.EntryType = e.GetTerm(), e.GetIndex(), EntryTypeName(e.GetType())
		switch {
		case e.GetType() == raftpb.EntryConfChange || e.GetType() == raftpb.EntryConfChangeV2:
			it.Data = confChangeSummary(e.GetType(), e.GetData())
		case len(e.GetData()) == 0:
			it.Data = "(empty: a new leader's first entry)"
		default:
			req := DecodeRequest(e.GetData())
			it.Request = &req
			if sc, ok := instrument.EntryContext(e.GetData()); ok {
				it.TraceID = sc.TraceID().String()
			}
		}
	}
	return it
}

// WriteWALItem prints it as one line.
func WriteWALItem(w io.Writer, it WALItem) error {
	var s string
	switch it.Kind {
	case "metadata":
		s = fmt.Sprintf("member=%s cluster=%s", it.MemberID, it.ClusterID)
	case "crc":
		s = ""
	case "snapshot":
		s = fmt.Sprintf("index=%d term=%d", it.Index, it.Term)
		if it.Index == 0 {
			s += " (empty marker: the log starts at index 1)"
		}
	case "hardstate":
		s = fmt.Sprintf("term=%d vote=%s commit=%d", it.Term, it.Vote, it.Commit)
	case "entry":
		s = fmt.Sprintf("term=%d index=%d %s", it.Term, it.Index, it.EntryType)
		if it.Request != nil {
			s += " " + it.Request.Summary
			if it.Request.ID != 0 {
				s += fmt.Sprintf(" id=%x", it.Request.ID)
			}
		} else if it.Data != "" {
			s += " " + it.Data
		}
		if it.TraceID != "" {
			s += " trace=" + it.TraceID
		}
	}
	if it.Raw != "" {
		s += " " + it.Raw
	}
	_, err := fmt.Fprintf(w, "%s@%d\t%-9s %s\n", it.File, it.Offset, it.Kind, strings.TrimSpace(s))
	return err
}

// WriteWALSummary prints the closing lines of a text dump.
func WriteWALSummary(w io.Writer, s WALSummary) error {
	_, err := fmt.Fprintf(w, "\n%d records, %d entries (%d shown), last entry term=%d index=%d, latest hardstate %s\n",
		s.Records, s.Entries, s.Shown, s.LastTerm, s.LastIndex, s.HardState)
	if err == nil && s.Torn != "" {
		_, err = fmt.Fprintf(w, "the log ends in a torn record (a live member's write in progress, or a crash): %s\n", s.Torn)
	}
	return err
}
