package node

import (
	"testing"

	"github.com/kvtrace/kvtrace/instrument"
)

func TestSplitLinks(t *testing.T) {
	lim := instrument.MaxLinks
	for _, tc := range []struct{ n, head, rest, parts int }{
		{1, 1, 0, 1}, {lim, lim, 0, 1}, {lim + 1, lim, 1, 2}, {2 * lim, lim, lim, 2}, {2*lim + 1, lim, lim + 1, 3},
	} {
		es := make([]tracedEntry, tc.n)
		for i := range es {
			es[i].index = uint64(i + 1)
		}
		head, rest, parts := splitLinks(es)
		if len(head) != tc.head || len(rest) != tc.rest || parts != tc.parts {
			t.Errorf("%d entries: head %d rest %d parts %d, want %d %d %d", tc.n, len(head), len(rest), parts, tc.head, tc.rest, tc.parts)
		}
		if tc.rest > 0 && rest[0].index != head[len(head)-1].index+1 {
			t.Errorf("%d entries: rest starts at %d after head ends at %d", tc.n, rest[0].index, head[len(head)-1].index)
		}
		attrs := instrument.WithPart(nil, 1, parts)
		if (parts > 1) != (len(attrs) == 2) {
			t.Errorf("%d entries, %d parts: part attributes %v", tc.n, parts, attrs)
		}
	}
}
