package debugger

import (
	"fmt"
	"strconv"
	"strings"
)

// AnchorFunc is the function every boundary calls (instrument/anchor.go).
const AnchorFunc = "github.com/kvtrace/kvtrace/instrument.Anchor"

// Condition returns the delve breakpoint condition on Anchor's arguments for
// a boundary name, a member name and optionally a raft term and index (0 =
// any). Empty boundary and member match any. Example:
//
//	name == "wal.fsync" && member == "m2" && index == 42
func Condition(boundary, member string, term, index uint64) string {
	var c []string
	if boundary != "" {
		c = append(c, "name == "+strconv.Quote(boundary))
	}
	if member != "" {
		c = append(c, "member == "+strconv.Quote(member))
	}
	if term != 0 {
		c = append(c, fmt.Sprintf("term == %d", term))
	}
	if index != 0 {
		c = append(c, fmt.Sprintf("index == %d", index))
	}
	return strings.Join(c, " && ")
}
