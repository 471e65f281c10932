package store

import (
	"fmt"
	"testing"
)

func BenchmarkPut(b *testing.B) {
	s := openTemp(b)
	val := make([]byte, 256)
	keys := make([][]byte, 1024)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("key-%06d", i))
	}
	b.SetBytes(int64(len(val)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w := s.Write(uint64(i+1), 1)
		w.Put(keys[i%len(keys)], val, 0)
		w.End()
	}
}

func BenchmarkRange(b *testing.B) {
	s := openTemp(b)
	val := make([]byte, 256)
	for i := 0; i < 1000; i++ {
		w := s.Write(uint64(i+1), 1)
		w.Put([]byte(fmt.Sprintf("key-%06d", i)), val, 0)
		w.End()
	}
	if err := s.ForceCommit(); err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			end := []byte(fmt.Sprintf("key-%06d", n))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r := s.Read()
				res, err := r.Range([]byte("key-000000"), end, RangeOptions{})
				r.End()
				if err != nil || len(res.KVs) != n {
					b.Fatalf("%v %d", err, len(res.KVs))
				}
			}
		})
	}
}
