package debugger

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/go-delve/delve/service/api"
)

// Stop is where a member stopped and what it was doing.
type Stop struct {
	Member    string  `json:"member"`
	Addr      string  `json:"addr"`
	Pid       int     `json:"pid"`
	Halted    bool    `json:"halted,omitempty"` // stopped by a halt or a step, not at the breakpoint
	Boundary  string  `json:"boundary,omitempty"`
	Term      uint64  `json:"term"`  // Anchor's term argument
	Index     uint64  `json:"index"` // Anchor's index argument (0 where no entry is involved, e.g. wal.fsync)
	Goroutine int64   `json:"goroutine"`
	Function  string  `json:"function"`
	File      string  `json:"file"`
	Line      int     `json:"line"`
	Stack     []Frame `json:"stack"`
	Locals    []Var   `json:"locals"`
	// From the Ready being handled (a readyLoop frame on the stack), if any.
	Entries   []EntryRef `json:"entries,omitempty"`   // rd.Entries: being saved to the WAL
	Committed []EntryRef `json:"committed,omitempty"` // rd.CommittedEntries: to be applied
	Commit    uint64     `json:"commit,omitempty"`    // rd.HardState.Commit
	Role      string     `json:"role"`                // leader, follower or unknown
}

// Frame is one line of the stack.
type Frame struct {
	Function string `json:"function"`
	File     string `json:"file"`
	Line     int    `json:"line"`
}

// Var is one interesting local or argument of a frame.
type Var struct {
	Frame    int    `json:"frame"`
	Function string `json:"function"`
	Name     string `json:"name"`
	Value    string `json:"value"`
}

// EntryRef names a raft entry.
type EntryRef struct {
	Index uint64 `json:"index"`
	Term  uint64 `json:"term"`
}

// HasEntry reports whether the Ready being handled holds entry index.
func (s *Stop) HasEntry(index uint64) bool {
	for _, e := range s.Entries {
		if e.Index == index {
			return true
		}
	}
	return false
}

var loadCfg = api.LoadConfig{FollowPointers: true, MaxVariableRecurse: 1, MaxStringLen: 128, MaxArrayValues: 16, MaxStructFields: -1}

// modulePrefix is stripped from function names for display.
const modulePrefix = "github.com/kvtrace/kvtrace/"

func (s *Session) stopFrom(st *api.DebuggerState) (*Stop, error) {
	th := st.CurrentThread
	if th == nil {
		return nil, fmt.Errorf("debugger: %s stopped with no current thread", s.Member)
	}
	gid := th.GoroutineID
	if st.SelectedGoroutine != nil {
		gid = st.SelectedGoroutine.ID
	}
	stop := &Stop{Member: s.Member, Addr: s.Addr, Pid: s.Pid, Goroutine: gid, File: th.File, Line: th.Line, Role: "unknown"}
	if th.Function != nil {
		stop.Function = strings.TrimPrefix(th.Function.Name(), modulePrefix)
	}
	if th.Breakpoint == nil || th.Breakpoint.ID != s.bpID {
		stop.Halted = true
	}
	frames, err := s.c.Stacktrace(gid, 48, 0, 0, nil)
	if err != nil {
		return nil, fmt.Errorf("debugger: stack of goroutine %d on %s: %w", gid, s.Member, err)
	}
	for _, f := range frames {
		fr := Frame{File: f.File, Line: f.Line}
		if f.Function != nil {
			fr.Function = strings.TrimPrefix(f.Function.Name(), modulePrefix)
		}
		stop.Stack = append(stop.Stack, fr)
	}
	if len(stop.Stack) > 0 && stop.Stack[0].Function == strings.TrimPrefix(AnchorFunc, modulePrefix) {
		s.anchorArgs(stop, gid)
	}
	s.callerLocals(stop, gid)
	return stop, nil
}

func (s *Session) eval(gid int64, frame int, expr string) (string, bool) {
	v, err := s.c.EvalVariable(api.EvalScope{GoroutineID: gid, Frame: frame}, expr, loadCfg)
	if err != nil || v.Unreadable != "" {
		return "", false
	}
	return v.Value, true
}

func (s *Session) evalUint(gid int64, frame int, expr string) (uint64, bool) {
	v, ok := s.eval(gid, frame, expr)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 10, 64)
	return n, err == nil
}

func (s *Session) anchorArgs(stop *Stop, gid int64) {
	args, err := s.c.ListFunctionArgs(api.EvalScope{GoroutineID: gid, Frame: 0}, loadCfg)
	if err != nil {
		return
	}
	for _, a := range args {
		switch a.Name {
		case "name":
			stop.Boundary = a.Value
		case "term":
			stop.Term, _ = strconv.ParseUint(a.Value, 10, 64)
		case "index":
			stop.Index, _ = strconv.ParseUint(a.Value, 10, 64)
		}
		stop.Locals = append(stop.Locals, Var{Frame: 0, Function: stop.Stack[0].Function, Name: a.Name, Value: a.Value})
	}
}

// callerLocals reads what the frames above Anchor know about the write: the
// Ready a readyLoop is handling, the entry applyEntry applies, the role.
func (s *Session) callerLocals(stop *Stop, gid int64) {
	add := func(i int, name, value string) {
		stop.Locals = append(stop.Locals, Var{Frame: i, Function: stop.Stack[i].Function, Name: name, Value: value})
	}
	roleDone := false
	for i, f := range stop.Stack {
		if i == 0 {
			continue
		}
		fn := f.Function
		if !roleDone && strings.Contains(fn, "internal/node.(*Node).") {
			if v, ok := s.evalUint(gid, i, "n.isLeader.v"); ok {
				roleDone = true
				stop.Role = "follower"
				if v == 1 {
					stop.Role = "leader"
				}
				add(i, "n.isLeader", strconv.FormatBool(v == 1))
			}
		}
		switch {
		case strings.HasSuffix(fn, "internal/node.(*Node).readyLoop"):
			stop.Entries = s.entries(gid, i, "rd.Entries")
			stop.Committed = s.entries(gid, i, "rd.CommittedEntries")
			add(i, "rd.Entries", refs(stop.Entries))
			add(i, "rd.CommittedEntries", refs(stop.Committed))
			if c, ok := s.evalUint(gid, i, "*rd.HardState.Commit"); ok {
				stop.Commit = c
				add(i, "rd.HardState.Commit", strconv.FormatUint(c, 10))
			}
			for _, name := range []string{"rd.MustSync", "isLeader", "prevCommit"} {
				if v, ok := s.eval(gid, i, name); ok {
					add(i, name, v)
				}
			}
		case strings.HasSuffix(fn, "internal/node.(*Node).applyEntry"):
			for _, name := range []string{"idx", "term"} {
				if v, ok := s.eval(gid, i, name); ok {
					add(i, name, v)
				}
			}
		}
	}
}

// entries reads up to 16 entries' (index, term) from a []*raftpb.Entry.
func (s *Session) entries(gid int64, frame int, expr string) []EntryRef {
	n, ok := s.evalUint(gid, frame, "len("+expr+")")
	if !ok {
		return nil
	}
	out := []EntryRef{}
	for j := uint64(0); j < n && j < 16; j++ {
		idx, ok1 := s.evalUint(gid, frame, fmt.Sprintf("*%s[%d].Index", expr, j))
		term, ok2 := s.evalUint(gid, frame, fmt.Sprintf("*%s[%d].Term", expr, j))
		if ok1 && ok2 {
			out = append(out, EntryRef{Index: idx, Term: term})
		}
	}
	return out
}

func refs(es []EntryRef) string {
	if len(es) == 0 {
		return "[] (none)"
	}
	var s []string
	for _, e := range es {
		s = append(s, fmt.Sprintf("%d/%d", e.Index, e.Term))
	}
	return fmt.Sprintf("%d entries [%s] (index/term)", len(es), strings.Join(s, " "))
}
