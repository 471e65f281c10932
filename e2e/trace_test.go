package e2e

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/kvtrace/kvtrace/instrument"
	"github.com/kvtrace/kvtrace/internal/localcluster"
	"github.com/kvtrace/kvtrace/internal/traceview"
)

// tracedCluster starts 3 members with --trace and their own failpoint and
// admin ports (loopback).
func tracedCluster(t *testing.T, extra ...string) (*localcluster.Cluster, []string, []string) {
	t.Helper()
	ports, err := localcluster.FreePorts(6)
	if err != nil {
		t.Fatal(err)
	}
	fps := make([]string, 3)
	admins := make([]string, 3)
	for i := range 3 {
		fps[i] = fmt.Sprintf("127.0.0.1:%d", ports[2*i])
		admins[i] = fmt.Sprintf("127.0.0.1:%d", ports[2*i+1])
	}
	args := append(append(append([]string(nil), baseArgs...), "--trace"), extra...)
	c := startConfigured(t, localcluster.Config{Dir: keptDir(t), Size: 3, ExtraArgs: args,
		MemberArgs: func(i int) []string {
			return []string{"--failpoint-addr", fps[i], "--admin-addr", admins[i]}
		}})
	return c, fps, admins
}

// spansOf returns the spans that belong to write w: in its trace, or linking
// to it (batched spans).
func spansOf(tr *traceview.Trace, w *traceview.Write) []*traceview.Span {
	var out []*traceview.Span
	tid, _ := traceview.ParseTraceID(w.TraceID)
	for i := range tr.Spans {
		s := &tr.Spans[i]
		if s.TraceID == tid {
			out = append(out, s)
			continue
		}
		for _, l := range s.Links {
			if l.TraceID == tid {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

// complete reports whether every member recorded apply and bbolt.commit for w.
func complete(tr *traceview.Trace, w *traceview.Write) bool {
	seen := map[string]bool{}
	for _, s := range spansOf(tr, w) {
		seen[s.Member+"/"+s.Name] = true
	}
	for _, m := range tr.Members {
		if !seen[m+"/apply"] || !seen[m+"/bbolt.commit"] {
			return false
		}
	}
	return len(tr.Members) == 3
}

// waitWrites polls the span files until every write with a key in keys is
// complete on all members, and returns the loaded trace.
func waitWrites(t *testing.T, ctx context.Context, dir string, keys []string) (*traceview.Trace, map[string]*traceview.Write) {
	t.Helper()
	var last string
	for {
		tr, err := traceview.Load(dir)
		if err == nil {
			found := map[string]*traceview.Write{}
			for i := range tr.Writes {
				found[tr.Writes[i].Key] = &tr.Writes[i]
			}
			missing := 0
			for _, k := range keys {
				if w, ok := found[k]; !ok || !complete(tr, w) {
					missing++
				}
			}
			if missing == 0 {
				return tr, found
			}
			last = fmt.Sprintf("%d of %d writes incomplete", missing, len(keys))
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			t.Fatalf("spans never completed: %s", last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func attrInt(t *testing.T, s *traceview.Span, key string) int64 {
	t.Helper()
	v, ok := s.Attr(key)
	if !ok {
		t.Fatalf("%s on %s has no %s: %v", s.Name, s.Member, key, s.Attrs)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("%s on %s: %s=%q is not a number", s.Name, s.Member, key, v)
	}
	return n
}

// TestTraceOnePut makes one put through a follower and checks, from the
// span files alone, that every boundary of docs/spans.md appears on every
// member, in the client's trace, in causal order, with its attributes.
func TestTraceOnePut(t *testing.T) {
	c, _, _ := tracedCluster(t)
	ctx := testCtx(t, 90*time.Second)
	li, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leader := c.Members[li].Name
	follower := c.Members[(li+1)%3]
	cli, err := c.Client(follower.ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	resp, err := cli.Put(ctx, "traced", "value")
	if err != nil {
		t.Fatal(err)
	}
	tr, ws := waitWrites(t, ctx, c.Members[0].DataDir+"/..", []string{"traced"})
	w := ws["traced"]
	if w.Member != follower.Name || w.Revision != resp.Header.Revision || w.Op != "put" {
		t.Fatalf("write = %+v, want put served by %s at revision %d", w, follower.Name, resp.Header.Revision)
	}
	idx := int64(w.Index)
	if idx == 0 {
		t.Fatalf("write has no raft index: %+v", w)
	}
	tid, _ := traceview.ParseTraceID(w.TraceID)

	type key struct{ member, name string }
	first := map[key]*traceview.Span{}
	var sends, recvs []*traceview.Span
	for _, s := range spansOf(tr, w) {
		if s.Name != "bbolt.commit" && s.TraceID != tid {
			t.Fatalf("%s on %s is outside the client's trace", s.Name, s.Member)
		}
		k := key{s.Member, s.Name}
		if first[k] == nil {
			first[k] = s
		}
		switch s.Name {
		case "raft.send":
			sends = append(sends, s)
		case "raft.recv":
			recvs = append(recvs, s)
		}
	}
	for _, m := range tr.Members {
		for _, name := range []string{"wal.save", "wal.fsync", "raft.commit", "apply", "bbolt.commit"} {
			s := first[key{m, name}]
			if s == nil {
				t.Fatalf("%s has no %s span for the write", m, name)
			}
			// The member is named once, by the file's resource.
			if v, ok := s.Attr("kv.member"); ok {
				t.Fatalf("%s on %s repeats the resource's member as kv.member=%q", name, m, v)
			}
		}
		if s := first[key{m, "mvcc.write"}]; s != nil {
			t.Fatalf("%s recorded mvcc.write: its attributes belong to apply (docs/spans.md)", m)
		}
		ap := first[key{m, "apply"}]
		if got := attrInt(t, ap, "raft.index"); got != idx {
			t.Fatalf("apply on %s at index %d, want %d", m, got, idx)
		}
		if attrInt(t, ap, "raft.term") == 0 {
			t.Fatalf("apply on %s has no term", m)
		}
		if got := attrInt(t, ap, "kv.revision"); got != resp.Header.Revision {
			t.Fatalf("apply on %s at revision %d, want %d", m, got, resp.Header.Revision)
		}
		if k, _ := ap.Attr("kv.key"); k != "traced" {
			t.Fatalf("apply on %s has kv.key=%q", m, k)
		}
		// raft.commit is one span per commit advance: its range holds the
		// entry and it links to the write.
		if cm := first[key{m, "raft.commit"}]; attrInt(t, cm, "raft.first_index") > idx || attrInt(t, cm, "raft.last_index") < idx || !cm.LinksTo(tid) {
			t.Fatalf("raft.commit on %s does not cover index %d of the write: %v links %v", m, idx, cm.Attrs, cm.Links)
		}
		// Apply only after this member learned the commit.
		if first[key{m, "apply"}].Start < first[key{m, "raft.commit"}].Start {
			t.Fatalf("%s applied before it learned the commit", m)
		}
	}
	// The serving follower forwarded the proposal to the leader.
	if first[key{follower.Name, "raft.propose"}] == nil {
		t.Fatalf("no raft.propose on the serving member %s", follower.Name)
	}
	forwarded := false
	for _, s := range sends {
		if typ, _ := s.Attr("raft.msg_type"); typ == "MsgProp" && s.Member == follower.Name {
			forwarded = true
		}
	}
	if !forwarded {
		t.Fatalf("%s did not record forwarding MsgProp to the leader", follower.Name)
	}

	// Each follower persisted BEFORE it acknowledged: its wal.fsync ends
	// before the MsgAppResp that covers the index is sent.
	ackAt := map[string]int64{} // follower -> when the leader received its ack
	for _, m := range tr.Members {
		if m == leader {
			continue
		}
		fsync := first[key{m, "wal.fsync"}]
		var ack *traceview.Span
		for _, s := range sends {
			typ, _ := s.Attr("raft.msg_type")
			if s.Member == m && typ == "MsgAppResp" && attrInt(t, s, "raft.index") >= idx {
				ack = s
				break
			}
		}
		if ack == nil {
			t.Fatalf("%s sent no MsgAppResp covering index %d", m, idx)
		}
		if fsync.End > ack.Start {
			t.Fatalf("%s acked index %d before its WAL fsync ended (%d > %d)", m, idx, fsync.End, ack.Start)
		}
		for _, r := range recvs {
			typ, _ := r.Attr("raft.msg_type")
			from, _ := r.Attr("raft.from")
			if r.Member == leader && typ == "MsgAppResp" && from == m {
				ackAt[m] = r.Start
				break
			}
		}
	}
	// The leader committed after a quorum: the member that completed it is
	// named, and if it is a follower its ack arrived before the commit.
	commit := first[key{leader, "raft.commit"}]
	last, ok := commit.Attr("raft.quorum_last")
	if !ok {
		t.Fatalf("leader's raft.commit has no raft.quorum_last: %v", commit.Attrs)
	}
	quorum, _ := commit.Attr("raft.quorum")
	if len(strings.Split(quorum, ",")) != 2 {
		t.Fatalf("quorum %q, want 2 of 3 members", quorum)
	}
	if last != leader {
		at, ok := ackAt[last]
		if !ok || at > commit.Start {
			t.Fatalf("commit at %d before the ack of %s (%d, seen %v)", commit.Start, last, at, ok)
		}
	}
	if commit.Start < first[key{leader, "wal.fsync"}].End {
		t.Fatal("leader committed before its own WAL fsync ended")
	}
}

// TestTraceConcurrentPuts: 100 concurrent puts; every write's trace is
// complete on all members, and batched spans link to every write they carried.
func TestTraceConcurrentPuts(t *testing.T) {
	c, _, _ := tracedCluster(t)
	ctx := testCtx(t, 2*time.Minute)
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	var keys []string
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 100 {
		k := fmt.Sprintf("c/%03d", i)
		keys = append(keys, k)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := cli.Put(ctx, k, "v"); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	tr, ws := waitWrites(t, ctx, c.Members[0].DataDir+"/..", keys)
	batched := 0
	for _, k := range keys {
		w := ws[k]
		tid, _ := traceview.ParseTraceID(w.TraceID)
		for _, s := range spansOf(tr, w) {
			if s.Name == "bbolt.commit" || s.Name == "wal.save" || s.Name == "raft.commit" {
				// A batched span links to every write it carried; this
				// write must be among them, or be its parent trace.
				linked := s.TraceID == tid
				for _, l := range s.Links {
					linked = linked || l.TraceID == tid
				}
				if !linked {
					t.Fatalf("%s on %s is attributed to %s but does not link it", s.Name, s.Member, k)
				}
				if len(s.Links) > 1 {
					batched++
				}
			}
		}
	}
	if batched == 0 {
		t.Fatal("100 concurrent puts produced no batched wal.save, raft.commit or bbolt.commit span")
	}
	t.Logf("%d batched span attributions across %d writes", batched, len(keys))
}

// TestTraceBatchBeyondLinkLimit: a bbolt commit (held open for 2s) and
// commit advances that carry more traced entries than one span keeps links
// for (instrument.MaxLinks) are recorded as several spans, so every write
// still finds its raft.commit and bbolt.commit on every member.
func TestTraceBatchBeyondLinkLimit(t *testing.T) {
	c, _, _ := tracedCluster(t, "--backend-batch-interval", "2s", "--backend-batch-limit", "100000")
	ctx := testCtx(t, 2*time.Minute)
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	n := instrument.MaxLinks*2 + 10
	keys := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		keys[i] = fmt.Sprintf("many/%04d", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := cli.Put(ctx, keys[i], "v"); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	tr, ws := waitWrites(t, ctx, c.Members[0].DataDir+"/..", keys) // complete: every write has bbolt.commit on every member
	for _, k := range keys {
		on := map[string]bool{}
		for _, s := range spansOf(tr, ws[k]) {
			if s.Name == "raft.commit" || s.Name == "wal.save" {
				on[s.Member+" "+s.Name] = true
			}
		}
		if len(on) != 6 {
			t.Fatalf("write %s: raft.commit and wal.save found only as %v", k, slices.Sorted(maps.Keys(on)))
		}
	}
	split := false
	for i := range tr.Spans {
		s := &tr.Spans[i]
		if s.Name != "bbolt.commit" && s.Name != "raft.commit" {
			continue
		}
		if len(s.Links) > instrument.MaxLinks {
			t.Fatalf("%s on %s has %d links, more than a span keeps", s.Name, s.Member, len(s.Links))
		}
		if _, ok := s.Attr("parts"); ok && s.Name == "bbolt.commit" {
			split = true
		}
	}
	if !split {
		t.Fatalf("%d writes in one 2s bbolt batch produced no split bbolt.commit", n)
	}
}

// TestTraceContinuesClientTraceparent: a client that sends a W3C
// traceparent gets its own trace continued through every member.
func TestTraceContinuesClientTraceparent(t *testing.T) {
	c, _, _ := tracedCluster(t)
	ctx := testCtx(t, 90*time.Second)
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	const tid = "0af7651916cd43dd8448eb211c80319c"
	mctx := metadata.AppendToOutgoingContext(ctx, "traceparent", "00-"+tid+"-b7ad6b7169203331-01")
	if _, err := cli.Put(mctx, "client-traced", "v"); err != nil {
		t.Fatal(err)
	}
	_, ws := waitWrites(t, ctx, c.Members[0].DataDir+"/..", []string{"client-traced"})
	if got := ws["client-traced"].TraceID; got != tid {
		t.Fatalf("write recorded in trace %s, want the client's %s", got, tid)
	}
}
