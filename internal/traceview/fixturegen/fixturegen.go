// Package fixturegen writes synthetic span files that follow docs/spans.md:
// a simulated 3-member cluster (m1 leader) serving a list of writes, each
// member's spans in its own OTLP JSON lines file, exactly as `kvd --trace`
// would write them. The tracer's tests and benchmarks read these files until
// a recording of a real run replaces the checked-in fixture.
//
// The simulation is deterministic: the same Config gives byte-identical
// files. Its timings are made up but keep the orders raft guarantees: the
// leader sends MsgApp BEFORE its own WAL fsync ends, a follower fsyncs BEFORE
// it sends MsgAppResp, the commit follows a quorum of persisted copies, and a
// follower learns the commit from a later MsgApp, after it persisted.
package fixturegen

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// Write is one client write of the simulation.
type Write struct {
	Op  string // Put, DeleteRange or Txn
	Key string
	Via string // the member the client talks to
}

// Config describes a simulated run.
type Config struct {
	Members      []string  // Members[0] is the leader
	Rounds       [][]Write // the writes of a round are proposed together and share one MsgApp, wal.save, ...
	BoltEvery    int       // a bbolt batch commit on every member after this many rounds
	Start        time.Time // wall time of the first span
	Extras       bool      // add spans and attributes outside the vocabulary (readers must skip/keep them)
	SpansPerLine int       // spans per ExportTraceServiceRequest line (an exporter batch); 0 means 16
	// PerEntry writes the span shapes of kvd before the leaner contract:
	// one raft.commit per entry (raft.index), an mvcc.write child under
	// each apply, and kv.member on every span. Readers still accept them.
	PerEntry bool
}

// Fixture is the checked-in fixture: 7 writes in 5 rounds, one served by a
// follower (MsgProp forwarding), one round of 3 writes batched into one
// MsgApp / wal.save, a slow leader fsync that makes the leader complete its
// own quorum, and bbolt commits that each cover two rounds.
func Fixture() Config {
	return Config{
		Members: []string{"m1", "m2", "m3"},
		Rounds: [][]Write{
			{{"Put", "foo", "m1"}},
			{{"Put", "k2", "m2"}},
			{{"Put", "a", "m1"}, {"Put", "b", "m1"}, {"Put", "c", "m3"}},
			{{"DeleteRange", "foo", "m1"}},
			{{"Txn", "k3", "m1"}},
		},
		BoltEvery: 2,
		Start:     time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC),
		Extras:    true,
	}
}

// Bulk is a run of n writes, all served by the leader, batch writes per round.
func Bulk(n, batch int) Config {
	cfg := Config{Members: []string{"m1", "m2", "m3"}, BoltEvery: 20,
		Start: time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC), SpansPerLine: 64}
	for n > 0 {
		k := min(batch, n)
		r := make([]Write, k)
		for i := range r {
			r[i] = Write{"Put", fmt.Sprintf("key-%07d", n-i), "m1"}
		}
		cfg.Rounds = append(cfg.Rounds, r)
		n -= k
	}
	return cfg
}

// MemberID is the hex member id the simulation gives a member name.
func MemberID(name string) string {
	switch name {
	case "m1":
		return "8e9e05c52164694d"
	case "m2":
		return "91bc3c398fb3c146"
	case "m3":
		return "fd422379fda50e48"
	}
	return fmt.Sprintf("%016x", mix(uint64(len(name))*7919+uint64(name[len(name)-1])))
}

// WriteDir writes <dir>/<member>.jsonl for every member.
func WriteDir(dir string, cfg Config) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files := map[string]*os.File{}
	bufs := map[string]*bufio.Writer{}
	for _, m := range cfg.Members {
		f, err := os.Create(filepath.Join(dir, m+".jsonl"))
		if err != nil {
			return err
		}
		files[m] = f
		bufs[m] = bufio.NewWriterSize(f, 1<<20)
	}
	ws := map[string]io.Writer{}
	for m, b := range bufs {
		ws[m] = b
	}
	err := Generate(cfg, ws)
	for _, m := range cfg.Members {
		if e := bufs[m].Flush(); e != nil && err == nil {
			err = e
		}
		if e := files[m].Close(); e != nil && err == nil {
			err = e
		}
	}
	return err
}

// Generate writes every member's spans as OTLP JSON lines to out[member].
func Generate(cfg Config, out map[string]io.Writer) error {
	g := &gen{cfg: cfg, out: out, lines: map[string][]*tracepb.Span{}, idx: 4, rev: 1}
	if g.cfg.SpansPerLine == 0 {
		g.cfg.SpansPerLine = 16
	}
	g.run()
	for _, m := range cfg.Members {
		if err := g.flush(m); err != nil {
			return err
		}
	}
	return g.err
}

type sctx struct {
	tid []byte
	sid []byte
}

type gen struct {
	cfg   Config
	out   map[string]io.Writer
	lines map[string][]*tracepb.Span
	err   error
	ctr   uint64
	idx   uint64 // last raft index used (conf changes and the leader's empty entry take 1..4)
	rev   int64  // last MVCC revision
}

const term = 2

func mix(x uint64) uint64 { // splitmix64: ids that look random but never change
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func (g *gen) id(n int) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		g.ctr++
		binary.BigEndian.PutUint64(b[i:], mix(g.ctr))
	}
	return b
}

// jitter is a deterministic pseudo-random duration in [0, max).
func (g *gen) jitter(max time.Duration, salt ...uint64) int64 {
	h := uint64(0x5eed)
	for _, s := range salt {
		h = mix(h ^ s)
	}
	return int64(h % uint64(max))
}

type kv = *commonpb.KeyValue

func str(k, v string) kv {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}
func num(k string, v int64) kv {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v}}}
}
func flag(k string, v bool) kv {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: v}}}
}

// span records one span on member. parent nil starts a root span in trace
// tid (a fresh trace when tid is nil too). It returns the span's context.
func (g *gen) span(member, name string, kind tracepb.Span_SpanKind, start, end int64, tid []byte, parent *sctx, links []sctx, attrs ...kv) sctx {
	if parent != nil {
		tid = parent.tid
	}
	if tid == nil {
		tid = g.id(16)
	}
	c := sctx{tid: tid, sid: g.id(8)}
	sp := &tracepb.Span{
		TraceId: c.tid, SpanId: c.sid, Name: name, Kind: kind,
		StartTimeUnixNano: uint64(start), EndTimeUnixNano: uint64(end),
		Attributes: attrs,
	}
	if g.cfg.PerEntry {
		sp.Attributes = append([]kv{str("kv.member", member)}, attrs...)
	}
	if parent != nil {
		sp.ParentSpanId = parent.sid
	}
	for _, l := range links {
		sp.Links = append(sp.Links, &tracepb.Span_Link{TraceId: l.tid, SpanId: l.sid})
	}
	g.lines[member] = append(g.lines[member], sp)
	if len(g.lines[member]) >= g.cfg.SpansPerLine {
		if err := g.flush(member); err != nil && g.err == nil {
			g.err = err
		}
	}
	return c
}

func raftAttrs(member string, leader bool, extra ...kv) []kv {
	role := "follower"
	if leader {
		role = "leader"
	}
	return append([]kv{num("raft.term", term), str("raft.role", role)}, extra...)
}

func msgAttrs(typ, from, to string, index, logTerm, commit, first, last uint64, reject bool, bytes int64) []kv {
	entries := int64(0)
	if last >= first && first > 0 {
		entries = int64(last - first + 1)
	}
	return []kv{
		str("raft.msg_type", typ), str("raft.from", from), str("raft.to", to),
		str("raft.from_id", MemberID(from)), str("raft.to_id", MemberID(to)),
		num("raft.index", int64(index)), num("raft.log_term", int64(logTerm)), num("raft.commit", int64(commit)),
		num("raft.entries", entries), num("raft.first_index", int64(first)), num("raft.last_index", int64(last)),
		flag("raft.reject", reject), num("bytes", bytes),
	}
}

const us = int64(time.Microsecond)

// net is the one-way delay between the leader and member m.
func (g *gen) net(m string) int64 {
	for i, x := range g.cfg.Members {
		if x == m {
			return int64(90+i*70) * us
		}
	}
	return 100 * us
}

// fsync is member m's fdatasync time in round r.
func (g *gen) fsync(m string, r int) int64 {
	base := map[string]int64{"m1": 900, "m2": 700, "m3": 1500}[m]
	if base == 0 {
		base = 1000
	}
	d := base*us + g.jitter(300*time.Microsecond, uint64(r), uint64(len(m)), uint64(m[len(m)-1]))
	if r%5 == 2 { // slow disks on the leader and m3: the leader's own persistence completes the quorum
		switch m {
		case g.cfg.Members[0]:
			d += 700 * us
		case "m3":
			d += 1000 * us
		}
	}
	return d
}

type pending struct {
	first, last uint64
	entries     []sctx
	trace       []byte // trace of the first entry
}

func (g *gen) run() {
	ms := g.cfg.Members
	leader := ms[0]
	followers := ms[1:]
	t := g.cfg.Start.UnixNano()
	commit := g.idx
	bolt := map[string]*pending{}
	lastApply := map[string]int64{}
	for r, round := range g.cfg.Rounds {
		type wr struct {
			Write
			grpc, prop sctx
			gStart     int64
			index      uint64
			rev        int64
			reqID      string
		}
		ws := make([]wr, len(round))
		arrive := t
		for j, w := range round {
			g.idx++
			g.rev++
			x := wr{Write: w, index: g.idx, rev: g.rev, gStart: t + int64(j)*15*us, reqID: fmt.Sprintf("%x", 0x1000+uint64(g.idx))}
			// The gRPC span is recorded when it ends; its context is needed now.
			x.grpc = sctx{tid: g.id(16), sid: g.id(8)}
			ws[j] = x
		}
		// Proposals: the entry's context is the raft.propose span.
		propStart := make([]int64, len(ws))
		for j := range ws {
			w := &ws[j]
			propStart[j] = w.gStart + 20*us
			w.prop = sctx{tid: w.grpc.tid, sid: g.id(8)}
			at := propStart[j] + 10*us
			if w.Via != leader {
				sAt := propStart[j] + 15*us
				snd := g.span(w.Via, "raft.send", tracepb.Span_SPAN_KIND_PRODUCER, sAt, sAt+8*us, nil, &w.prop, []sctx{w.prop},
					append(raftAttrs(w.Via, false), msgAttrs("MsgProp", w.Via, leader, 0, 0, commit, 0, 0, false, 96)...)...)
				rAt := sAt + g.net(w.Via)
				g.span(leader, "raft.recv", tracepb.Span_SPAN_KIND_CONSUMER, rAt, rAt+5*us, nil, &snd, []sctx{w.prop},
					append(raftAttrs(leader, true), msgAttrs("MsgProp", w.Via, leader, 0, 0, commit, 0, 0, false, 96)...)...)
				at = rAt + 5*us
			}
			arrive = max(arrive, at)
		}
		first, last := ws[0].index, ws[len(ws)-1].index
		all := make([]sctx, len(ws))
		for j := range ws {
			all[j] = ws[j].prop
		}
		head := &ws[0].prop
		bytesN := int64(64 * len(ws))

		// Leader Ready: send MsgApp BEFORE its own WAL write finishes.
		ready := arrive + 40*us
		ackAt := map[string]int64{}
		saveEnd := map[string]int64{} // when each member's Ready holding the entries was saved
		for fi, f := range followers {
			sAt := ready + int64(fi)*5*us
			snd := g.span(leader, "raft.send", tracepb.Span_SPAN_KIND_PRODUCER, sAt, sAt+8*us, nil, head, all,
				append(raftAttrs(leader, true), msgAttrs("MsgApp", leader, f, first-1, term, commit, first, last, false, bytesN)...)...)
			rAt := sAt + g.net(f)
			g.span(f, "raft.recv", tracepb.Span_SPAN_KIND_CONSUMER, rAt, rAt+6*us, nil, &snd, all,
				append(raftAttrs(f, false), msgAttrs("MsgApp", leader, f, first-1, term, commit, first, last, false, bytesN)...)...)
			// Follower Ready: WAL save + fsync, and only AFTER that the ack.
			svAt := rAt + 21*us
			fs := g.fsync(f, r)
			save := g.span(f, "wal.save", tracepb.Span_SPAN_KIND_INTERNAL, svAt, svAt+fs+30*us, nil, head, all,
				append(raftAttrs(f, false), num("raft.first_index", int64(first)), num("raft.last_index", int64(last)),
					num("raft.entries", int64(len(ws))), flag("wal.must_sync", true), num("raft.hs_commit", int64(commit)),
					num("raft.hs_term", term), num("bytes", bytesN+24))...)
			g.span(f, "wal.fsync", tracepb.Span_SPAN_KIND_INTERNAL, svAt+20*us, svAt+20*us+fs, nil, &save, nil, num("bytes", bytesN+24))
			saveEnd[f] = svAt + fs + 30*us
			aAt := svAt + fs + 40*us
			ack := g.span(f, "raft.send", tracepb.Span_SPAN_KIND_PRODUCER, aAt, aAt+8*us, nil, head, all,
				append(raftAttrs(f, false), msgAttrs("MsgAppResp", f, leader, last, 0, commit, 0, 0, false, 40)...)...)
			arAt := aAt + g.net(f)
			g.span(leader, "raft.recv", tracepb.Span_SPAN_KIND_CONSUMER, arAt, arAt+5*us, nil, &ack, all,
				append(raftAttrs(leader, true), msgAttrs("MsgAppResp", f, leader, last, 0, commit, 0, 0, false, 40)...)...)
			ackAt[f] = arAt + 5*us
		}
		lsAt := ready + 20*us
		lfs := g.fsync(leader, r)
		lsave := g.span(leader, "wal.save", tracepb.Span_SPAN_KIND_INTERNAL, lsAt, lsAt+lfs+30*us, nil, head, all,
			append(raftAttrs(leader, true), num("raft.first_index", int64(first)), num("raft.last_index", int64(last)),
				num("raft.entries", int64(len(ws))), flag("wal.must_sync", true), num("raft.hs_commit", int64(commit)),
				num("raft.hs_term", term), num("bytes", bytesN+24))...)
		g.span(leader, "wal.fsync", tracepb.Span_SPAN_KIND_INTERNAL, lsAt+20*us, lsAt+20*us+lfs, nil, &lsave, nil, num("bytes", bytesN+24))
		ackAt[leader] = lsAt + lfs + 30*us
		saveEnd[leader] = ackAt[leader]

		// Quorum: the second of three persisted copies (leader's own included).
		order := append([]string(nil), ms...)
		sort.SliceStable(order, func(a, b int) bool { return ackAt[order[a]] < ackAt[order[b]] })
		q := len(ms)/2 + 1
		tc := ackAt[order[q-1]] + 10*us
		// docs/spans.md: raft.quorum lists the first majority to hold the
		// entry durably, in the order they did; raft.quorum_last is the last.
		quorum := order[:q]
		commit = last

		applyEnd := map[string]map[int]int64{}
		applyOn := func(m string, learn int64, isLeader bool) {
			applyEnd[m] = map[int]int64{}
			// A member may LEARN the commit while its own fsync is still
			// running (raft steps messages meanwhile), but the committed
			// entries come in the next Ready, only AFTER the previous Ready
			// was saved: apply never starts before the member's own fsync ended.
			next := learn
			if !isLeader {
				next = max(learn, saveEnd[m])
			}
			var quorumAttrs []kv
			if isLeader {
				quorumAttrs = []kv{str("raft.quorum", strings.Join(quorum, ",")), str("raft.quorum_last", order[q-1])}
			}
			if !g.cfg.PerEntry {
				// One span for the commit advance, linking every entry.
				g.span(m, "raft.commit", tracepb.Span_SPAN_KIND_INTERNAL, learn, learn, nil, head, all,
					append(raftAttrs(m, isLeader, num("raft.commit", int64(commit)), num("raft.first_index", int64(first)),
						num("raft.last_index", int64(last))), quorumAttrs...)...)
			}
			for j := range ws {
				w := &ws[j]
				if g.cfg.PerEntry {
					extra := append([]kv{num("raft.index", int64(w.index)), num("raft.commit", int64(commit))}, quorumAttrs...)
					g.span(m, "raft.commit", tracepb.Span_SPAN_KIND_INTERNAL, learn+int64(j)*2*us, learn+int64(j)*2*us+3*us, nil, &w.prop, nil,
						append(raftAttrs(m, isLeader), extra...)...)
				}
				aAt := next + 30*us + int64(j)*90*us
				aDur := int64(80) * us
				if !isLeader {
					aDur = 70 * us
				}
				ap := g.span(m, "apply", tracepb.Span_SPAN_KIND_INTERNAL, aAt, aAt+aDur, nil, &w.prop, nil,
					append(raftAttrs(m, isLeader), num("raft.index", int64(w.index)), str("kv.op", w.Op),
						str("kv.key", w.Key), num("kv.revision", w.rev), str("kv.request_id", w.reqID))...)
				if g.cfg.PerEntry {
					g.span(m, "mvcc.write", tracepb.Span_SPAN_KIND_INTERNAL, aAt+10*us, aAt+10*us+55*us, nil, &ap, nil,
						num("kv.revision", w.rev), num("mvcc.ops", 1))
				}
				applyEnd[m][j] = aAt + aDur
				lastApply[m] = aAt + aDur
			}
			// The commit index goes to the WAL in the next Ready's HardState;
			// a commit-only HardState needs no fsync (raft.MustSync is false).
			g.span(m, "wal.save", tracepb.Span_SPAN_KIND_INTERNAL, next+20*us, next+45*us, nil, head, all,
				append(raftAttrs(m, isLeader), num("raft.entries", 0), flag("wal.must_sync", false),
					num("raft.hs_commit", int64(commit)), num("raft.hs_term", term), num("bytes", 24))...)
			p := bolt[m]
			if p == nil {
				p = &pending{first: first, trace: head.tid}
				bolt[m] = p
			}
			p.last = last
			p.entries = append(p.entries, all...)
		}
		applyOn(leader, tc, true)
		// Followers learn the commit from the next MsgApp (entries empty).
		for fi, f := range followers {
			sAt := tc + 50*us + int64(fi)*5*us
			snd := g.span(leader, "raft.send", tracepb.Span_SPAN_KIND_PRODUCER, sAt, sAt+7*us, nil, head, all,
				append(raftAttrs(leader, true), msgAttrs("MsgApp", leader, f, last, term, commit, 0, 0, false, 32)...)...)
			rAt := sAt + g.net(f)
			g.span(f, "raft.recv", tracepb.Span_SPAN_KIND_CONSUMER, rAt, rAt+6*us, nil, &snd, all,
				append(raftAttrs(f, false), msgAttrs("MsgApp", leader, f, last, term, commit, 0, 0, false, 32)...)...)
			applyOn(f, rAt+16*us, false)
		}
		// Finish the client RPCs: the serving member answers after IT applied.
		for j := range ws {
			w := &ws[j]
			end := applyEnd[w.Via][j] + 5*us
			g.emitRaw(w.Via, &tracepb.Span{TraceId: w.prop.tid, SpanId: w.prop.sid, ParentSpanId: w.grpc.sid, Name: "raft.propose",
				Kind: tracepb.Span_SPAN_KIND_INTERNAL, StartTimeUnixNano: uint64(propStart[j]), EndTimeUnixNano: uint64(end),
				Attributes: append([]kv{str("kv.request_id", w.reqID), num("raft.index", int64(w.index)),
					num("raft.term", term), num("bytes", 64)}, raftAttrs(w.Via, w.Via == leader)[1:]...)})
			attrs := []kv{str("rpc.system", "grpc"), str("rpc.service", "etcdserverpb.KV"),
				str("rpc.method", w.Op), num("rpc.grpc.status_code", 0), str("kv.op", w.Op), str("kv.key", w.Key),
				num("kv.revision", w.rev), str("kv.request_id", w.reqID)}
			if g.cfg.Extras {
				attrs = append(attrs, str("net.peer.name", "127.0.0.1"))
			}
			g.emitRaw(w.Via, &tracepb.Span{TraceId: w.grpc.tid, SpanId: w.grpc.sid, Name: "etcdserverpb.KV/" + w.Op,
				Kind: tracepb.Span_SPAN_KIND_SERVER, StartTimeUnixNano: uint64(w.gStart), EndTimeUnixNano: uint64(end + 20*us),
				Attributes: attrs})
		}
		if g.cfg.Extras && r == 1 {
			// A read and a span outside the vocabulary: readers skip the one
			// they do not know and list no write for the read.
			g.span("m2", "etcdserverpb.KV/Range", tracepb.Span_SPAN_KIND_SERVER, t+3000*us, t+3040*us, nil, nil, nil,
				str("rpc.system", "grpc"), str("kv.op", "Range"), str("kv.key", "foo"))
			g.span("m1", "raft.tick", tracepb.Span_SPAN_KIND_INTERNAL, t+3100*us, t+3101*us, nil, nil, nil)
		}
		if (r+1)%max(g.cfg.BoltEvery, 1) == 0 || r == len(g.cfg.Rounds)-1 {
			for mi, m := range ms {
				p := bolt[m]
				if p == nil {
					continue
				}
				bAt := lastApply[m] + 500*us + int64(mi)*40*us
				dur := 300*us + g.jitter(200*time.Microsecond, uint64(r), uint64(mi))
				g.span(m, "bbolt.commit", tracepb.Span_SPAN_KIND_INTERNAL, bAt, bAt+dur, p.trace, nil, p.entries,
					num("raft.first_index", int64(p.first)), num("raft.last_index", int64(p.last)),
					num("bbolt.ops", int64(len(p.entries))), num("bytes", int64(4096*len(p.entries))))
				delete(bolt, m)
			}
		}
		t += 5 * int64(time.Millisecond)
		if lastApply[ms[len(ms)-1]]+1500*us > t {
			t = lastApply[ms[len(ms)-1]] + 1500*us
		}
	}
}

func (g *gen) emitRaw(member string, sp *tracepb.Span) {
	g.lines[member] = append(g.lines[member], sp)
	if len(g.lines[member]) >= g.cfg.SpansPerLine {
		if err := g.flush(member); err != nil && g.err == nil {
			g.err = err
		}
	}
}

func (g *gen) flush(member string) error {
	spans := g.lines[member]
	if len(spans) == 0 {
		return nil
	}
	g.lines[member] = nil
	// An exporter sends spans as they end.
	sort.SliceStable(spans, func(i, j int) bool { return spans[i].EndTimeUnixNano < spans[j].EndTimeUnixNano })
	req := &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource: &resourcepb.Resource{Attributes: []kv{
			str("service.name", "kvd"), str("service.instance.id", member), str("kv.member_id", MemberID(member)),
		}},
		ScopeSpans: []*tracepb.ScopeSpans{{
			Scope: &commonpb.InstrumentationScope{Name: "github.com/kvtrace/kvtrace/instrument"},
			Spans: spans,
		}},
	}}}
	line, err := MarshalLine(req)
	if err != nil {
		return err
	}
	w := g.out[member]
	if w == nil {
		return fmt.Errorf("fixturegen: no output for member %s", member)
	}
	_, err = w.Write(line)
	return err
}

// MarshalLine encodes req as one line of OTLP JSON: protojson with the ids
// rewritten from base64 (protojson's encoding of bytes) to hex (what the OTLP
// JSON encoding requires), whitespace removed, newline appended.
func MarshalLine(req *coltracepb.ExportTraceServiceRequest) ([]byte, error) {
	raw, err := protojson.Marshal(req)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, err
	}
	out, err := hexIDs(buf.Bytes())
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// hexIDs rewrites the values of "traceId", "spanId" and "parentSpanId" keys
// in compact JSON from base64 to hex.
func hexIDs(in []byte) ([]byte, error) {
	out := make([]byte, 0, len(in)+len(in)/8)
	for {
		i := bytes.Index(in, []byte(`Id":"`))
		if i < 0 {
			return append(out, in...), nil
		}
		keyStart := bytes.LastIndexByte(in[:i], '"')
		key := string(in[keyStart+1 : i+2])
		out = append(out, in[:i+5]...)
		in = in[i+5:]
		end := bytes.IndexByte(in, '"')
		if end < 0 {
			return nil, fmt.Errorf("fixturegen: unterminated id")
		}
		if key == "traceId" || key == "spanId" || key == "parentSpanId" {
			b, err := base64.StdEncoding.DecodeString(string(in[:end]))
			if err != nil {
				return nil, fmt.Errorf("fixturegen: %s: %v", key, err)
			}
			out = hex.AppendEncode(out, b)
		} else {
			out = append(out, in[:end]...)
		}
		in = in[end:]
	}
}
