package store

import (
	"fmt"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// recv collects events from ws until want events arrived or the deadline.
func recvEvents(t *testing.T, ws *WatchStream, want int) []*mvccpb.Event {
	t.Helper()
	var evs []*mvccpb.Event
	deadline := time.After(10 * time.Second)
	for len(evs) < want {
		select {
		case r := <-ws.Chan():
			evs = append(evs, r.Events...)
		case <-deadline:
			t.Fatalf("got %d events, want %d", len(evs), want)
		}
	}
	return evs
}

func TestWatchHistoryThenLive(t *testing.T) {
	s := openTemp(t)
	r1 := put(t, s, 0, "a", "1")
	put(t, s, 0, "b", "x") // outside the watched key
	put(t, s, 0, "a", "2")
	del(t, s, 0, "a", "")

	ws := s.NewWatchStream()
	defer ws.Close()
	if _, err := ws.Watch(AutoWatchID, []byte("a"), nil, r1, nil); err != nil {
		t.Fatal(err)
	}
	evs := recvEvents(t, ws, 3)
	put(t, s, 0, "a", "3")
	evs = append(evs, recvEvents(t, ws, 1)...)
	var got []string
	for _, ev := range evs {
		got = append(got, fmt.Sprintf("%s %s=%s@%d", ev.Type, ev.Kv.Key, ev.Kv.Value, ev.Kv.ModRevision))
	}
	want := fmt.Sprint([]string{"PUT a=1@2", "PUT a=2@4", "DELETE a=@5", "PUT a=3@6"})
	if fmt.Sprint(got) != want {
		t.Fatalf("events %v, want %v", got, want)
	}
}

func TestWatchTxnEventsInOneResponse(t *testing.T) {
	s := openTemp(t)
	ws := s.NewWatchStream()
	defer ws.Close()
	if _, err := ws.Watch(AutoWatchID, []byte("k"), []byte("l"), 0, nil); err != nil {
		t.Fatal(err)
	}
	w := s.Write(0, 0)
	w.Put([]byte("k1"), []byte("v"), 0)
	w.Put([]byte("k2"), []byte("v"), 0)
	w.Put([]byte("k3"), []byte("v"), 0)
	w.End()
	select {
	case r := <-ws.Chan():
		if len(r.Events) != 3 {
			t.Fatalf("first response has %d events, want 3", len(r.Events))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no response")
	}
}

func TestWatchCompacted(t *testing.T) {
	s := openTemp(t)
	for i := 0; i < 5; i++ {
		put(t, s, 0, "k", fmt.Sprint(i))
	}
	done, err := s.Compact(0, 0, 4)
	if err != nil {
		t.Fatal(err)
	}
	<-done
	ws := s.NewWatchStream()
	defer ws.Close()
	if _, err := ws.Watch(AutoWatchID, []byte("k"), nil, 2, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-ws.Chan():
		if r.CompactRevision != 4 {
			t.Fatalf("response %+v, want compact revision 4", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no compaction notice")
	}
}

// TestWatchSlowConsumer writes far more revisions than the stream buffer
// holds while nobody reads; the writes MUST NOT block, and the reader then
// gets every event exactly once, in order.
func TestWatchSlowConsumer(t *testing.T) {
	s := openTemp(t)
	ws := s.NewWatchStream()
	defer ws.Close()
	if _, err := ws.Watch(AutoWatchID, []byte("k"), nil, 0, nil); err != nil {
		t.Fatal(err)
	}
	const n = 3 * watchChanLen
	for i := 0; i < n; i++ {
		put(t, s, 0, "k", fmt.Sprint(i))
	}
	evs := recvEvents(t, ws, n)
	for i, ev := range evs {
		if string(ev.Kv.Value) != fmt.Sprint(i) {
			t.Fatalf("event %d has value %s", i, ev.Kv.Value)
		}
	}
	put(t, s, 0, "k", "last")
	if evs := recvEvents(t, ws, 1); string(evs[0].Kv.Value) != "last" {
		t.Fatalf("live event after catch-up: %s", evs[0].Kv.Value)
	}
}

func TestWatchProgressAndIDs(t *testing.T) {
	s := openTemp(t)
	ws := s.NewWatchStream()
	defer ws.Close()
	if _, err := ws.Watch(7, []byte("k"), nil, 0, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ws.Watch(7, []byte("k"), nil, 0, nil); err != ErrDuplicateWatchID {
		t.Fatalf("duplicate id: %v", err)
	}
	put(t, s, 0, "other", "v")
	if !ws.RequestProgressAll() {
		t.Fatal("progress refused with every watcher synced")
	}
	r := <-ws.Chan()
	if r.WatchID != ProgressAllID || r.Revision != s.Rev() || len(r.Events) != 0 {
		t.Fatalf("progress response %+v, want revision %d", r, s.Rev())
	}
}
