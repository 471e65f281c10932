package snap

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func snapAt(index, term uint64) *raftpb.Snapshot {
	return &raftpb.Snapshot{Data: []byte("members"), Metadata: &raftpb.SnapshotMetadata{
		Index: proto.Uint64(index), Term: proto.Uint64(term), ConfState: &raftpb.ConfState{Voters: []uint64{1, 2, 3}}}}
}

// TestLoadNewestAvailable: only a snapshot the WAL also records is used;
// a newer orphan (crash between SaveSnap and the WAL marker) is skipped.
func TestLoadNewestAvailable(t *testing.T) {
	s, err := New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, sn := range []*raftpb.Snapshot{snapAt(10, 2), snapAt(20, 2), snapAt(30, 3)} {
		if err := s.SaveSnap(sn); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.LoadNewestAvailable([]Marker{{10, 2}, {20, 2}})
	if err != nil || got.GetMetadata().GetIndex() != 20 || !proto.Equal(got, snapAt(20, 2)) {
		t.Fatalf("got %v, %v; want the snapshot at 20", got, err)
	}
	if _, err := s.LoadNewestAvailable([]Marker{{5, 1}}); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("no match: %v", err)
	}
	if err := s.Purge(1); err != nil {
		t.Fatal(err)
	}
	if names, _ := s.snapFiles(); len(names) != 1 {
		t.Fatalf("after Purge(1): %v", names)
	}
}

// TestSaveDBFrom: a database is named only when its sha256 matches.
func TestSaveDBFrom(t *testing.T) {
	s, err := New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	db := bytes.Repeat([]byte("bbolt"), 100000)
	sum := sha256.Sum256(db)
	path, err := s.SaveDBFrom(bytes.NewReader(append(append([]byte(nil), db...), sum[:]...)), int64(len(db)), 7)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, db) {
		t.Fatal("saved database differs")
	}
	bad := append(append([]byte(nil), db...), sum[:]...)
	bad[3] ^= 1
	if _, err := s.SaveDBFrom(bytes.NewReader(bad), int64(len(db)), 8); !errors.Is(err, ErrChecksum) {
		t.Fatalf("corrupt stream: %v", err)
	}
	if _, err := os.Stat(s.DBPath(8)); !os.IsNotExist(err) {
		t.Fatalf("a corrupt database got its name: %v", err)
	}
	if err := s.ReleaseDBs(8); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("ReleaseDBs kept an older database")
	}
}
