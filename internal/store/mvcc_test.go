package store

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestRevisionsAndVersions(t *testing.T) {
	s := openTemp(t)
	if s.Rev() != 1 {
		t.Fatalf("empty store rev = %d, want 1", s.Rev())
	}
	steps := []struct {
		do   func() int64
		want string // state of "foo" after the step
	}{
		{func() int64 { return put(t, s, 1, "foo", "a") }, "foo=a c2 m2 v1 l0"},
		{func() int64 { return put(t, s, 2, "foo", "b") }, "foo=b c2 m3 v2 l0"},
		{func() int64 { return put(t, s, 3, "foo", "b") }, "foo=b c2 m4 v3 l0"}, // same value still bumps
		{func() int64 { _, r := del(t, s, 4, "foo", ""); return r }, "<none>"},
		{func() int64 { return put(t, s, 5, "foo", "c") }, "foo=c c6 m6 v1 l0"}, // new generation
	}
	for i, st := range steps {
		rev := st.do()
		if want := int64(i + 2); rev != want || s.Rev() != want {
			t.Fatalf("step %d: rev %d, store rev %d, want %d", i, rev, s.Rev(), want)
		}
		if got := kvString(get(t, s, "foo", 0)); got != st.want {
			t.Fatalf("step %d: got %s, want %s", i, got, st.want)
		}
	}
	// History: every old revision is still readable.
	history := map[int64]string{
		1: "<none>", 2: "foo=a c2 m2 v1 l0", 3: "foo=b c2 m3 v2 l0", 4: "foo=b c2 m4 v3 l0",
		5: "<none>", 6: "foo=c c6 m6 v1 l0",
	}
	for rev, want := range history {
		if got := kvString(get(t, s, "foo", rev)); got != want {
			t.Errorf("foo@%d = %s, want %s", rev, got, want)
		}
	}
	if idx, term := s.ConsistentIndex(); idx != 5 || term != 1 {
		t.Errorf("ConsistentIndex = %d/%d, want 5/1", idx, term)
	}
}

func TestDeleteMissingAndNoopTxn(t *testing.T) {
	s := openTemp(t)
	put(t, s, 1, "a", "1")
	n, rev := del(t, s, 2, "zzz", "")
	if n != 0 || rev != 2 || s.Rev() != 2 {
		t.Fatalf("delete of missing key: n=%d rev=%d store=%d, want 0/2/2", n, rev, s.Rev())
	}
	if idx, _ := s.ConsistentIndex(); idx != 2 {
		t.Fatalf("no-op txn did not advance consistent index: %d", idx)
	}
	// Deleting twice in one txn: the second finds nothing but reports the txn's revision.
	w := s.Write(3, 1)
	n1, r1 := w.DeleteRange([]byte("a"), nil)
	n2, r2 := w.DeleteRange([]byte("a"), nil)
	w.End()
	if n1 != 1 || r1 != 3 || n2 != 0 || r2 != 3 {
		t.Fatalf("double delete: %d@%d %d@%d", n1, r1, n2, r2)
	}
}

func TestOneRevisionPerTxnAndOwnReads(t *testing.T) {
	s := openTemp(t)
	w := s.Write(1, 1)
	w.Put([]byte("a"), []byte("1"), 7)
	w.Put([]byte("a"), []byte("2"), 7)
	w.Put([]byte("b"), []byte("1"), 0)
	res, err := w.Range([]byte("a"), []byte("c"), RangeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.KVs) != 2 || res.Rev != 2 || kvString(res.KVs[0]) != "a=2 c2 m2 v2 l7" {
		t.Fatalf("txn-local read: rev %d %v", res.Rev, res.KVs)
	}
	if n := len(w.Changes()); n != 3 {
		t.Fatalf("changes = %d, want 3", n)
	}
	w.End()
	if s.Rev() != 2 {
		t.Fatalf("rev after txn = %d, want 2", s.Rev())
	}
}

func TestRangeShapes(t *testing.T) {
	s := openTemp(t)
	for i, k := range []string{"a", "b", "b/1", "b/2", "c", "d"} {
		put(t, s, uint64(i+1), k, k)
	}
	del(t, s, 7, "c", "")
	cases := []struct {
		key, end string
		ro       RangeOptions
		keys     string
		count    int
	}{
		{"b", "", RangeOptions{}, "[b]", 1},
		{"b", "c", RangeOptions{}, "[b b/1 b/2]", 3},
		{"b/", "b0", RangeOptions{}, "[b/1 b/2]", 2},
		{"b", "\x00", RangeOptions{}, "[b b/1 b/2 d]", 4},
		{"\x00", "\x00", RangeOptions{Limit: 2}, "[a b]", 5},
		{"a", "z", RangeOptions{Count: true}, "[]", 5},
		{"a", "z", RangeOptions{Rev: 6}, "[a b b/1 b/2 c]", 5},
		{"a", "z", RangeOptions{KeysOnly: true, Limit: 1}, "[a]", 5},
		{"z", "a", RangeOptions{}, "[]", 0},
		{"nope", "", RangeOptions{}, "[]", 0},
	}
	for _, c := range cases {
		r := s.Read()
		res, err := r.Range([]byte(c.key), []byte(c.end), c.ro)
		r.End()
		if err != nil {
			t.Fatalf("%q-%q: %v", c.key, c.end, err)
		}
		var keys []string
		for _, kv := range res.KVs {
			keys = append(keys, string(kv.Key))
		}
		if got := fmt.Sprint(keys); got != c.keys || res.Count != c.count || res.Rev != 8 {
			t.Errorf("%q-%q %+v: got %s count %d rev %d, want %s count %d rev 8",
				c.key, c.end, c.ro, got, res.Count, res.Rev, c.keys, c.count)
		}
	}
}

func TestReadViewIsSnapshot(t *testing.T) {
	s := openTemp(t)
	put(t, s, 1, "k", "old")
	r := s.Read()
	defer r.End()
	put(t, s, 2, "k", "new")
	res, err := r.Range([]byte("k"), nil, RangeOptions{})
	if err != nil || len(res.KVs) != 1 || string(res.KVs[0].Value) != "old" || res.Rev != 2 {
		t.Fatalf("view: %v %v", res, err)
	}
	if _, err := r.Range([]byte("k"), nil, RangeOptions{Rev: 3}); !errors.Is(err, ErrFutureRev) {
		t.Fatalf("read past view rev: %v, want ErrFutureRev", err)
	}
}

func TestCompaction(t *testing.T) {
	s := openTemp(t)
	put(t, s, 1, "live", "v1") // 2
	put(t, s, 2, "live", "v2") // 3
	put(t, s, 3, "gone", "x")  // 4
	del(t, s, 4, "gone", "")   // 5
	put(t, s, 5, "live", "v3") // 6
	put(t, s, 6, "tomb", "t")  // 7
	del(t, s, 7, "tomb", "")   // 8
	put(t, s, 8, "after", "a") // 9

	if _, err := s.Compact(9, 1, 10); !errors.Is(err, ErrFutureRev) {
		t.Fatalf("compact future: %v", err)
	}
	done, err := s.Compact(10, 1, 8)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "compaction", func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	})
	if s.CompactRev() != 8 {
		t.Fatalf("compact rev %d", s.CompactRev())
	}
	if idx, _ := s.ConsistentIndex(); idx != 10 {
		t.Fatalf("consistent index %d, want 10 (failed compaction entries count as applied)", idx)
	}
	if _, err := s.Compact(11, 1, 8); !errors.Is(err, ErrCompacted) {
		t.Fatalf("compact again: %v", err)
	}
	r := s.Read()
	if _, err := r.Range([]byte("live"), nil, RangeOptions{Rev: 7}); !errors.Is(err, ErrCompacted) {
		t.Fatalf("read below compact rev: %v", err)
	}
	if _, err := r.Range([]byte("live"), nil, RangeOptions{Rev: 99}); !errors.Is(err, ErrFutureRev) {
		t.Fatalf("read future: %v", err)
	}
	r.End()
	if got := kvString(get(t, s, "live", 8)); got != "live=v3 c2 m6 v3 l0" {
		t.Fatalf("live@8 = %s", got)
	}
	if got := kvString(get(t, s, "gone", 8)); got != "<none>" {
		t.Fatalf("gone@8 = %s", got)
	}
	// bbolt keeps: live@6, tomb's tombstone@8 (at exactly the compact rev), after@9.
	var left []string
	s.b.mu.Lock()
	c := s.b.tx.Bucket(bucketKey).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		rev, tomb, _ := decodeRevKey(k)
		left = append(left, fmt.Sprintf("%d%s", rev.main, map[bool]string{true: "t"}[tomb]))
	}
	s.b.mu.Unlock()
	if got := fmt.Sprint(left); got != "[6 8t 9]" {
		t.Fatalf("bbolt after compaction: %s, want [6 8t 9]", got)
	}
	// Writes continue normally; a later compaction drops the tombstone.
	put(t, s, 12, "live", "v4")
	done, err = s.Compact(13, 1, 10)
	if err != nil {
		t.Fatal(err)
	}
	<-done
	if got := kvString(get(t, s, "live", 0)); got != "live=v4 c2 m10 v4 l0" {
		t.Fatalf("live after = %s", got)
	}
}
