package traceview

import (
	"fmt"
	"sort"
	"strings"
)

// confChangeLabel is how a raft.conf_change span reads on a lane:
// "raft.conf_change 12 ConfChangeAddLearnerNode 8e9e05c52164694d".
func confChangeLabel(s *Span) string {
	return strings.TrimSpace(fmt.Sprintf("%s %d %s", NameConfChange, s.Uint("raft.index"), s.Str("raft.conf_change")))
}

// ConfChanges describes every conf change in the trace, one line per raft
// entry in index order, with the members that applied it:
// "raft.conf_change 12 ConfChangeAddLearnerNode 8e9e05c52164694d (applied on m1,m2,m3)".
// A conf change is a root span of its own trace (docs/spans.md), so it is
// never one of a write's events; this is where the tracer shows it.
func (t *Trace) ConfChanges() []string {
	type cc struct {
		label   string
		members []string
	}
	byIndex := map[uint64]*cc{}
	for i := range t.Spans {
		s := &t.Spans[i]
		if s.Name != NameConfChange {
			continue
		}
		ix := s.Uint("raft.index")
		c := byIndex[ix]
		if c == nil {
			c = &cc{label: confChangeLabel(s)}
			byIndex[ix] = c
		}
		c.members = append(c.members, s.Member)
	}
	idx := make([]uint64, 0, len(byIndex))
	for ix := range byIndex {
		idx = append(idx, ix)
	}
	sort.Slice(idx, func(i, j int) bool { return idx[i] < idx[j] })
	out := make([]string, 0, len(idx))
	for _, ix := range idx {
		c := byIndex[ix]
		sort.Strings(c.members)
		out = append(out, fmt.Sprintf("%s (applied on %s)", c.label, strings.Join(c.members, ",")))
	}
	return out
}
