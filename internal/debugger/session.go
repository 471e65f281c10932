package debugger

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/go-delve/delve/service/api"
	"github.com/go-delve/delve/service/rpc2"
)

// bpName names the one breakpoint a Session owns in the server, so a second
// attach (tracer debug run twice) amends it instead of adding another.
const bpName = "kvtraceAnchor"

// Session is one member's headless delve server.
type Session struct {
	Member string
	Addr   string
	Pid    int // the member's process id, known after the first halt (Break)

	c     *rpc2.RPCClient
	bpID  int
	stops chan Result
}

// Result is what Run delivers: the member's next stop, or why there is none.
type Result struct {
	Session *Session
	Stop    *Stop
	Err     error
}

// Attach connects to the delve server at addr, retrying until ctx ends (the
// server may still be starting).
func Attach(ctx context.Context, member, addr string) (*Session, error) {
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c := rpc2.NewClientFromConn(conn)
			// No call here may need the target: while it runs, delve
			// answers only State(nonblocking), Halt and a few others.
			return &Session{Member: member, Addr: addr, c: c, stops: make(chan Result, 1)}, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("debugger: no delve server for %s at %s: %w", member, addr, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Client is the underlying rpc2 client, for calls this package does not wrap.
func (s *Session) Client() *rpc2.RPCClient { return s.c }

// halt stops the process if it runs. delve serialises commands on the
// target: a breakpoint can only be created while the target is stopped.
func (s *Session) halt() error {
	st, err := s.c.GetStateNonBlocking()
	if err != nil {
		return err
	}
	if st.Running {
		if _, err := s.c.Halt(); err != nil {
			return err
		}
		// Wait until the continue that was running has returned.
		if _, err := s.c.GetState(); err != nil {
			return err
		}
	}
	if s.Pid == 0 {
		s.Pid = s.c.ProcessPid()
	}
	return nil
}

// Break sets (or changes) the session's breakpoint on instrument.Anchor with
// condition cond ("" stops at every boundary). The process is left stopped:
// call Run to let it go.
func (s *Session) Break(cond string) error {
	if err := s.halt(); err != nil {
		return fmt.Errorf("debugger: halting %s: %w", s.Member, err)
	}
	if old, err := s.c.GetBreakpointByName(bpName); err == nil && old.ID != 0 {
		old.Cond = cond
		if err := s.c.AmendBreakpoint(old); err != nil {
			return fmt.Errorf("debugger: amending the breakpoint on %s: %w", s.Member, err)
		}
		s.bpID = old.ID
		return nil
	}
	bp, err := s.c.CreateBreakpoint(&api.Breakpoint{Name: bpName, FunctionName: AnchorFunc, Cond: cond})
	if err != nil {
		return fmt.Errorf("debugger: breakpoint on %s in %s: %w (is this a kvd binary?)", AnchorFunc, s.Member, err)
	}
	s.bpID = bp.ID
	return nil
}

// Run resumes the process. Its next stop (the breakpoint, or a Halt) is
// delivered on Stops. Call Run again only after that delivery.
func (s *Session) Run() {
	go func() {
		var last *api.DebuggerState
		for st := range s.c.Continue() {
			last = st
		}
		r := Result{Session: s}
		switch {
		case last == nil:
			r.Err = errors.New("debugger: continue returned no state")
		case last.Exited:
			r.Err = fmt.Errorf("debugger: %s exited with status %d", s.Member, last.ExitStatus)
		case last.Err != nil:
			r.Err = last.Err
		default:
			r.Stop, r.Err = s.stopFrom(last)
		}
		s.stops <- r
	}()
}

// Stops delivers the results of Run.
func (s *Session) Stops() <-chan Result { return s.stops }

// Wait runs the process and waits for its next stop; when ctx ends first it
// halts the process and returns ctx's error.
func (s *Session) Wait(ctx context.Context) (*Stop, error) {
	s.Run()
	select {
	case r := <-s.stops:
		return r.Stop, r.Err
	case <-ctx.Done():
		s.c.Halt()
		<-s.stops
		return nil, fmt.Errorf("debugger: %s did not reach the breakpoint: %w", s.Member, ctx.Err())
	}
}

// Next, Step and StepOut move the stopped goroutine like delve's next, step
// and stepout, and report where it stopped.
func (s *Session) Next() (*Stop, error)    { return s.move(s.c.Next) }
func (s *Session) Step() (*Stop, error)    { return s.move(s.c.Step) }
func (s *Session) StepOut() (*Stop, error) { return s.move(s.c.StepOut) }

func (s *Session) move(f func() (*api.DebuggerState, error)) (*Stop, error) {
	st, err := f()
	if err != nil {
		return nil, err
	}
	if st.Exited {
		return nil, fmt.Errorf("debugger: %s exited", s.Member)
	}
	return s.stopFrom(st)
}

// Running reports whether the process is running (not stopped by delve).
func (s *Session) Running() (bool, error) {
	st, err := s.c.GetStateNonBlocking()
	if err != nil {
		return false, err
	}
	return st.Running, nil
}

// Close removes the breakpoint and disconnects; with resume the process
// runs on (it is halted first if it runs, so the breakpoint can go).
func (s *Session) Close(resume bool) error {
	if err := s.halt(); err != nil {
		s.c.Disconnect(false)
		return err
	}
	if s.bpID != 0 {
		if _, err := s.c.ClearBreakpoint(s.bpID); err != nil {
			s.c.Disconnect(false)
			return err
		}
	}
	return s.c.Disconnect(resume)
}

// Kill ends the debugged process and the headless server.
func (s *Session) Kill() error { return s.c.Detach(true) }
