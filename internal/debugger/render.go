package debugger

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// WriteStop prints a stop for a person: who stopped where, the interesting
// locals, the stack (like delve's bt) and what the pause does to the cluster.
func WriteStop(w io.Writer, s *Stop) error {
	var b strings.Builder
	what := "stopped at " + s.Boundary
	if s.Halted {
		what = "stopped (step or halt)"
	}
	fmt.Fprintf(&b, "%s %s  (term %d, index %d; goroutine %d, pid %d, role %s)\n", s.Member, what, s.Term, s.Index, s.Goroutine, s.Pid, s.Role)
	fmt.Fprintf(&b, "  at %s %s:%d\n", s.Function, short(s.File), s.Line)
	if len(s.Locals) > 0 {
		b.WriteString("\nlocals:\n")
		for _, v := range s.Locals {
			fmt.Fprintf(&b, "  #%-2d %-40s %s = %s\n", v.Frame, shortFunc(v.Function), v.Name, v.Value)
		}
	}
	b.WriteString("\nstack (bt):\n")
	for i, f := range s.Stack {
		fmt.Fprintf(&b, "  %2d  %s\n      at %s:%d\n", i, f.Function, short(f.File), f.Line)
	}
	b.WriteString("\n" + Explain(s) + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// Explain says what this member's pause does to the cluster.
func Explain(s *Stop) string {
	head := "while " + s.Member + " is stopped, delve holds EVERY thread of it: it sends, acks and ticks nothing."
	switch s.Role {
	case "leader":
		return head + `
` + s.Member + ` is the LEADER: no heartbeats go out. The followers wait one election timeout
(--election-timeout, randomised to 1-2x) and then elect a new leader; ` + s.Member + ` steps down
when it resumes and hears the higher term. Writes stall until then. To look around longer,
start the cluster with the debug profile (tracer debug cluster --profile leader: the other
members get --election-timeout 30000).`
	case "follower":
		return head + `
` + s.Member + ` is a FOLLOWER: the leader still commits with the other members' acks (2 of 3 is
a majority), so clients are not blocked; its messages to ` + s.Member + ` queue or drop and are
resent. Its own election timer does not advance while stopped, so it will not campaign
when it resumes; it catches up from the leader's next MsgApp.`
	}
	return head + "\n(role unknown: no node frame on this goroutine's stack)"
}

func short(file string) string {
	if i := strings.Index(file, "/instrument/"); i >= 0 && strings.Contains(file, "kvtrace") {
		return file[i+1:]
	}
	for _, dir := range []string{"/internal/", "/instrument/", "/cmd/"} {
		if i := strings.LastIndex(file, dir); i >= 0 && !strings.Contains(file[:i], "/pkg/mod/") {
			return file[i+1:]
		}
	}
	if i := strings.Index(file, "/pkg/mod/"); i >= 0 {
		return file[i+len("/pkg/mod/"):]
	}
	if i := strings.Index(file, "/src/"); i >= 0 {
		return filepath.Join("GOROOT", file[i+1:])
	}
	return file
}

func shortFunc(f string) string {
	if i := strings.LastIndex(f, "/"); i >= 0 {
		return f[i+1:]
	}
	return f
}
