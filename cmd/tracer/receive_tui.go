package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/kvtrace/kvtrace/internal/traceview"
)

// liveFeed collects what the receiver records into a traceview.Builder and
// tells the TUI that there is something new.
type liveFeed struct {
	out string // the receiver's file: a span's Pos is its line there

	// mu guards b, last and errs. Taken inside the receiver's lock (add runs
	// as its OnBatch); never the other way round.
	mu    sync.Mutex
	b     *traceview.Builder
	last  batch
	errs  int   // requests the model could not take (recorded all the same)
	err   error // the latest of them
	dirty chan struct{}
}

func newLiveFeed(out string) *liveFeed {
	return &liveFeed{out: out, b: traceview.NewBuilder(), dirty: make(chan struct{}, 1)}
}

// add is the receiver's OnBatch. A request that breaks the span contract
// (docs/spans.md) is still in the file; the live view skips it and says so.
func (f *liveFeed) add(b batch) {
	f.mu.Lock()
	if err := f.b.AddRequest(b.Req, traceview.Pos{File: f.out, Line: b.Line}); err != nil {
		f.errs++
		f.err = err
	}
	f.last = b
	f.mu.Unlock()
	select {
	case f.dirty <- struct{}{}:
	default:
	}
}

// liveMsg carries a fresh model of everything received so far.
type liveMsg struct {
	t      *traceview.Trace
	status string
}

// snapshot builds the model now.
func (f *liveFeed) snapshot() liveMsg {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := fmt.Sprintf("live: %d requests, %d spans → %s", f.last.Requests, f.last.TotalSpans, f.out)
	if f.errs > 0 {
		st += fmt.Sprintf("  (%d requests not shown: %v)", f.errs, f.err)
	}
	return liveMsg{t: f.b.Snapshot(), status: st}
}

// liveRefresh bounds how often the model is rebuilt while spans stream in.
const liveRefresh = 300 * time.Millisecond

// wait is the re-armed command: it returns once something new arrived (at
// most one rebuild per liveRefresh) or never, when ctx ends.
func (f *liveFeed) wait(ctx context.Context, after time.Duration) tea.Cmd {
	return func() tea.Msg {
		if after > 0 {
			t := time.NewTimer(after)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
				return nil
			}
		}
		select {
		case <-f.dirty:
			return f.snapshot()
		case <-ctx.Done():
			return nil
		}
	}
}

// liveApp is the viewer over a trace that grows: the write list follows new
// writes; an open write keeps showing the snapshot it was opened in.
type liveApp struct {
	app
	feed   *liveFeed
	ctx    context.Context
	status string
}

func (m liveApp) Init() tea.Cmd {
	return tea.Batch(m.app.Init(), m.feed.wait(m.ctx, 0))
}

func (m liveApp) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if lm, ok := msg.(liveMsg); ok {
		m.app = m.app.withTrace(lm.t)
		m.status = lm.status
		return m, tea.Batch(m.app.Init(), m.feed.wait(m.ctx, liveRefresh))
	}
	if ws, ok := msg.(tea.WindowSizeMsg); ok {
		ws.Height-- // the status line
		msg = ws
	}
	nm, cmd := m.app.Update(msg)
	m.app = nm.(app)
	return m, cmd
}

func (m liveApp) View() string {
	if m.status == "" {
		m.status = "live: waiting for spans on " + m.feed.out
	}
	return dimStyle.Render(cut(m.status, m.app.width)) + "\n" + m.app.View()
}

// withTrace moves the app to a newer model of the same growing trace,
// keeping size, help, key filter and, when the cursor was on the latest
// write, following the latest one.
func (m app) withTrace(t *traceview.Trace) app {
	n := newApp(t)
	n.width, n.height, n.help = m.width, m.height, m.help
	follow := m.list.cursor >= len(m.list.rows)-1
	n.list.filter, n.list.filtering = m.list.filter, m.list.filtering
	n.list.cursor = m.list.cursor
	n.list.applyFilter()
	if follow {
		n.list.cursor = len(n.list.rows) - 1
	}
	n.screen, n.write, n.stats = m.screen, m.write, m.stats
	return n.resize()
}

// runLiveTUI runs the viewer until q, ctx's end (a signal) or a receiver
// failure.
func runLiveTUI(ctx context.Context, f *liveFeed, r *receiver, e env) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m := liveApp{app: newApp(traceview.NewBuilder().Build()), feed: f, ctx: ctx}
	p := tea.NewProgram(m, tea.WithAltScreen(), tea.WithInput(e.stdin), tea.WithOutput(e.stdout))
	recvErr := make(chan error, 1)
	go func() {
		var err error
		select {
		case <-ctx.Done():
		case err = <-r.Err():
		}
		p.Quit()
		recvErr <- err
	}()
	_, err := p.Run()
	cancel()
	if rerr := <-recvErr; err == nil {
		err = rerr
	}
	return err
}
