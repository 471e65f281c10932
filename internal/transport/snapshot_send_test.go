package transport

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"sync"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
)

// snapRecorder is a recorder that accepts snapshots and keeps their bytes,
// checking the trailing sha256 as the node's snapshotter does.
type snapRecorder struct {
	*recorder
	mu  sync.Mutex
	dbs [][]byte
}

func (r *snapRecorder) SaveSnapshotDB(env Envelope, size int64, rd io.Reader) error {
	b := make([]byte, size)
	if _, err := io.ReadFull(rd, b); err != nil {
		return err
	}
	var sum [sha256.Size]byte
	if _, err := io.ReadFull(rd, sum[:]); err != nil {
		return err
	}
	if sum != sha256.Sum256(b) {
		return errors.New("database checksum mismatch")
	}
	r.mu.Lock()
	r.dbs = append(r.dbs, b)
	r.mu.Unlock()
	return nil
}

// TestSendSnapshotManyChunks sends databases of many chunks and checks that
// every byte arrives as read. A chunk buffer reused after SendMsg (which
// returns before gRPC has written the frame) corrupted them: the follower
// refused every snapshot larger than one chunk.
func TestSendSnapshotManyChunks(t *testing.T) {
	rec := &snapRecorder{recorder: newRecorder()}
	b := startMember(t, 2, func(c *Config) { c.Handler = rec })
	a := startMember(t, 1, nil)
	connect(a, b)
	for i := 0; i < 3; i++ {
		db := make([]byte, 9*snapshotChunk+12345)
		rand.Read(db)
		m := msg(raftpb.MessageType_MsgSnap, 1, 2, 100)
		sent, err := a.t.SendSnapshot(context.Background(), env(m), bytes.NewReader(db), int64(len(db)))
		if err != nil {
			t.Fatalf("snapshot %d: %v (sent %d bytes)", i, err, sent)
		}
		rec.mu.Lock()
		got := rec.dbs[len(rec.dbs)-1]
		rec.mu.Unlock()
		if !bytes.Equal(got, db) {
			t.Fatalf("snapshot %d arrived different from what was read", i)
		}
	}
}
