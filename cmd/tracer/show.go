package main

import (
	"github.com/kvtrace/kvtrace/internal/traceview"
)

const showHelp = `Prints one write as a space-time diagram: a column per lane (the client, then
each member), a row per boundary in time order with its offset from the
client's request, arrows for messages (m1 ──MsgApp[5..5]──▶ m2, ○ marks the
receive), then the stage table. Without a selector it shows the latest write;
--key picks the latest write to that key.

--json prints one object (field names are stable; *_ns are nanoseconds):
  write   {n, trace_id, op, key, revision, member, start_unix_nano, latency_ns,
           request_id, raft_index, raft_term}
  leader  member that committed the entry
  lanes   ["client", members...]
  events  [{seq, offset_ns, member, name, duration_ns, from, to, msg_type,
            label, peer_seq (matching send/recv seq, -1), linked_writes [n...],
            attrs [{key, value}], span_id, source (file:line)}]
  stages  [{name, member, from_ns, to_ns, duration_ns, note}]
Stage names: propose.wait, leader.wal.fsync, replicate (per follower),
commit (note: quorum and the member that completed it), apply.wait, apply,
bbolt.commit (per member), follower.wal.fsync and follower.apply (per
follower, measured FROM the moment it learned the commit: negative means it
happened before), latency.`

func runShow(args []string, e env) error {
	fs := newFlags("show", "show [--write N|--trace ID|--key K] [--json] PATHS...", showHelp, e)
	n := fs.Int("write", 0, "write number as listed by 'tracer list'")
	tid := fs.String("trace", "", "trace id (hex, or a unique prefix of 6+ characters)")
	key := fs.String("key", "", "the latest write to this key")
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	paths, err := parse(fs, args)
	if err != nil {
		return err
	}
	t, err := load(paths)
	if err != nil {
		return err
	}
	w, err := pick(t, *n, *tid, *key)
	if err != nil {
		return err
	}
	d := t.Detail(w)
	if *asJSON {
		return traceview.WriteJSON(e.stdout, d.JSON())
	}
	return traceview.WriteShow(e.stdout, d)
}
