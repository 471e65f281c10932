package main

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/kvtrace/kvtrace/internal/traceview"
)

func loadFixture(t testing.TB) *traceview.Trace {
	t.Helper()
	tr, err := traceview.Load(fixture)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func keyMsg(s string) tea.KeyMsg {
	switch s {
	case "enter":
		return tea.KeyMsg{Type: tea.KeyEnter}
	case "right":
		return tea.KeyMsg{Type: tea.KeyRight}
	case "left":
		return tea.KeyMsg{Type: tea.KeyLeft}
	case "esc":
		return tea.KeyMsg{Type: tea.KeyEsc}
	case "tab":
		return tea.KeyMsg{Type: tea.KeyTab}
	case "up":
		return tea.KeyMsg{Type: tea.KeyUp}
	case " ":
		return tea.KeyMsg{Type: tea.KeySpace, Runes: []rune{' '}}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)}
}

func contains(s string) func([]byte) bool {
	return func(b []byte) bool { return bytes.Contains(b, []byte(s)) }
}

// TestTUIGolden drives the real program at two sizes: open a write from the
// list, step forward, toggle the stage breakdown, quit. The final screen is
// the golden.
func TestTUIGolden(t *testing.T) {
	for _, sz := range []struct{ w, h int }{{80, 24}, {120, 40}} {
		t.Run(fmt.Sprintf("%dx%d", sz.w, sz.h), func(t *testing.T) {
			tm := teatest.NewTestModel(t, newApp(loadFixture(t)), teatest.WithInitialTermSize(sz.w, sz.h))
			wait := func(s string) {
				t.Helper()
				teatest.WaitFor(t, tm.Output(), contains(s), teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(5*time.Millisecond))
			}
			wait("writes 7/7")
			tm.Send(keyMsg("up")) // from the latest write (#7) to #6
			tm.Send(keyMsg("up"))
			tm.Send(keyMsg("up"))
			tm.Send(keyMsg("enter")) // write #4: batched with #2 and #3
			wait("event 1/")
			for range 4 {
				tm.Send(keyMsg("right"))
			}
			wait("event 5/")
			tm.Send(keyMsg("s"))
			wait("p50 all")
			tm.Send(keyMsg("q"))
			fm := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(app)
			if fm.screen != screenWrite || fm.write.d.Write.N != 4 || fm.write.cur != 4 || !fm.write.stages {
				t.Fatalf("final state: screen %v write #%d event %d stages %v", fm.screen, fm.write.d.Write.N, fm.write.cur, fm.write.stages)
			}
			golden.RequireEqual(t, []byte(fm.View()))
		})
	}
}

// TestTUIListGolden: the list at 80x24 after filtering by key.
func TestTUIListGolden(t *testing.T) {
	tm := teatest.NewTestModel(t, newApp(loadFixture(t)), teatest.WithInitialTermSize(80, 24))
	teatest.WaitFor(t, tm.Output(), contains("writes 7/7"), teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(5*time.Millisecond))
	tm.Type("/a")
	tm.Send(keyMsg("enter"))
	teatest.WaitFor(t, tm.Output(), contains("writes 2/7"), teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(5*time.Millisecond))
	tm.Send(keyMsg("q"))
	fm := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(app)
	golden.RequireEqual(t, []byte(fm.View()))
}

// The rest drive Update directly: it is pure, so no program is needed.

func update(t *testing.T, m app, keys ...string) app {
	t.Helper()
	for _, k := range keys {
		nm, cmd := m.Update(keyMsg(k))
		m = nm.(app)
		// Follow component requests (openWriteMsg, backToListMsg) as the
		// program would; ticks and quits are left alone.
		if cmd != nil {
			switch msg := cmd().(type) {
			case openWriteMsg, backToListMsg:
				nm, _ = m.Update(msg)
				m = nm.(app)
			}
		}
	}
	return m
}

func TestUpdateNavigation(t *testing.T) {
	m := newApp(loadFixture(t))
	nm, _ := m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	m = nm.(app)
	if w := m.list.Selected(); w == nil || w.N != 7 {
		t.Fatalf("list starts on %v, want the latest write", w)
	}
	m = update(t, m, "g", "enter")
	if m.screen != screenWrite || m.write.d.Write.N != 1 || m.write.cur != 0 {
		t.Fatalf("enter: screen %v write %d", m.screen, m.write.d.Write.N)
	}
	m = update(t, m, "right", "right", "left")
	if m.write.cur != 1 {
		t.Fatalf("→→← gave event %d", m.write.cur)
	}
	// n/N jump between events of the current kind.
	m = update(t, m, "right", "right") // event 3: the first raft.send (MsgApp to m2)
	ev := m.write.d.Events
	if ev[m.write.cur].Name != "raft.send" {
		t.Fatalf("event %d is %s", m.write.cur, ev[m.write.cur].Name)
	}
	start := m.write.cur
	m = update(t, m, "n")
	if m.write.cur <= start || ev[m.write.cur].Name != "raft.send" {
		t.Fatalf("n went to %d (%s)", m.write.cur, ev[m.write.cur].Name)
	}
	m = update(t, m, "N")
	if m.write.cur != start {
		t.Fatalf("N went to %d, want %d", m.write.cur, start)
	}
	m = update(t, m, "G")
	if m.write.cur != len(ev)-1 {
		t.Fatalf("G went to %d", m.write.cur)
	}
	m = update(t, m, "right") // stays at the end
	if m.write.cur != len(ev)-1 {
		t.Fatalf("→ past the end moved to %d", m.write.cur)
	}
	m = update(t, m, "s")
	if !m.write.stages || !strings.Contains(m.View(), "stages of write #1") {
		t.Fatalf("s did not show stages:\n%s", m.View())
	}
	m = update(t, m, "esc")
	if m.screen != screenList {
		t.Fatalf("esc did not go back to the list")
	}
	m = update(t, m, "?")
	if !m.help.ShowAll || !strings.Contains(m.View(), "page up") {
		t.Fatalf("? did not show full help:\n%s", m.View())
	}
}

// TestUpdateLinkedWrites: tab selects a write batched with this one, enter
// opens it on the same span, esc comes back.
func TestUpdateLinkedWrites(t *testing.T) {
	m := newApp(loadFixture(t))
	m = m.openWrite(3)
	// Step to the first event carried for other writes too.
	for m.write.cur < len(m.write.d.Events)-1 && len(m.write.d.Events[m.write.cur].Linked) == 0 {
		m = update(t, m, "right")
	}
	e := m.write.d.Events[m.write.cur]
	if fmt.Sprint(e.Linked) != "[4]" { // the recording batched c (#3) with b (#4)
		t.Fatalf("event %d linked %v", m.write.cur, e.Linked)
	}
	m = update(t, m, "tab", "enter")
	if !slices.Contains(e.Linked, m.write.d.Write.N) || m.write.d.Events[m.write.cur].SpanID != e.SpanID {
		t.Fatalf("opened write #%d at span %s, want one of %v at %s", m.write.d.Write.N, m.write.d.Events[m.write.cur].SpanID, e.Linked, e.SpanID)
	}
	m = update(t, m, "esc")
	if m.screen != screenWrite || m.write.d.Write.N != 3 || m.write.d.Events[m.write.cur].SpanID != e.SpanID {
		t.Fatalf("esc went to write #%d", m.write.d.Write.N)
	}
}

// TestUpdatePlay: space starts playback; ticks advance one event each; a tick
// of an old generation is ignored; pause stops it; +/- change speed.
func TestUpdatePlay(t *testing.T) {
	m := newApp(loadFixture(t)).openWrite(1)
	nm, cmd := m.Update(keyMsg(" "))
	m = nm.(app)
	if !m.write.playing || cmd == nil {
		t.Fatal("space did not start playing")
	}
	gen := m.write.gen
	nm, cmd = m.Update(playTick{gen})
	m = nm.(app)
	if m.write.cur != 1 || cmd == nil {
		t.Fatalf("tick moved to %d", m.write.cur)
	}
	nm, _ = m.Update(playTick{gen - 1})
	if nm.(app).write.cur != 1 {
		t.Fatal("stale tick advanced playback")
	}
	m = update(t, m, "+", "+")
	if m.write.speed != defaultSpeed+2 {
		t.Fatalf("speed %d", m.write.speed)
	}
	m = update(t, m, " ")
	nm, _ = m.Update(playTick{m.write.gen})
	if m = nm.(app); m.write.playing || m.write.cur != 1 {
		t.Fatal("paused playback advanced")
	}
}

// TestResize: every size from tiny to large renders without panicking, and
// the view is never taller than the terminal.
func TestResize(t *testing.T) {
	m := newApp(loadFixture(t)).openWrite(3)
	m = update(t, m, "right", "right")
	for _, sz := range [][2]int{{20, 6}, {80, 24}, {120, 40}, {200, 60}, {40, 10}} {
		nm, _ := m.Update(tea.WindowSizeMsg{Width: sz[0], Height: sz[1]})
		m = nm.(app)
		for _, stages := range []bool{false, true} {
			m.write.stages = stages
			v := m.View()
			if h := strings.Count(v, "\n") + 1; h > sz[1] {
				t.Errorf("%dx%d stages=%v: view is %d lines", sz[0], sz[1], stages, h)
			}
		}
	}
}
