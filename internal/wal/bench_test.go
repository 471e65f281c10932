package wal

import (
	"fmt"
	"path/filepath"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
)

// BenchmarkSave measures one Save of a small entry plus HardState, the
// common raft Ready, with and without fdatasync.
func BenchmarkSave(b *testing.B) {
	for _, mustSync := range []bool{false, true} {
		b.Run(fmt.Sprintf("mustSync=%v", mustSync), func(b *testing.B) {
			w := mustCreate(b, filepath.Join(b.TempDir(), "wal"), []byte("meta"))
			data := make([]byte, 100)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			i := uint64(0)
			for b.Loop() {
				i++
				e := ent(i, 1, data)
				if err := w.Save(hardState(1, 1, i), []*raftpb.Entry{e}, mustSync); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			mustClose(b, w)
		})
	}
}
