package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/kvtrace/kvtrace/internal/traceview"
)

// writeModel is the space-time view of one write: lanes across, time down,
// one row per boundary, the current event highlighted and detailed below.
// It owns its size, keys and help; Update is pure (time only enters through
// playTick messages, which tests send themselves).
type writeModel struct {
	trace   *traceview.Trace
	d       *traceview.Detail
	cur     int // current event
	top     int // first visible diagram row
	link    int // selected entry in the current event's linked writes
	stages  bool
	playing bool
	speed   int // index into speeds
	gen     int // play generation: ticks of an older generation are ignored
	back    []backEntry
	stats   map[string]traceview.StageStats // percentiles over all writes, by name/member; nil until computed
	width   int
	height  int
	keys    writeKeys
}

type backEntry struct{ n, cur int }

// speeds are trace milliseconds replayed per wall second.
var speeds = []float64{0.25, 0.5, 1, 2, 4, 8, 16}

const defaultSpeed = 2

type writeKeys struct {
	Prev, Next, NextKind, PrevKind, Play, Faster, Slower, Stages, Link, OpenLink, Back, First, Last key.Binding
}

func newWriteKeys() writeKeys {
	return writeKeys{
		Prev:     key.NewBinding(key.WithKeys("left", "h"), key.WithHelp("←", "prev event")),
		Next:     key.NewBinding(key.WithKeys("right", "l"), key.WithHelp("→", "next event")),
		NextKind: key.NewBinding(key.WithKeys("n"), key.WithHelp("n/N", "next/prev of this kind")),
		PrevKind: key.NewBinding(key.WithKeys("N")),
		Play:     key.NewBinding(key.WithKeys(" "), key.WithHelp("space", "play/pause")),
		Faster:   key.NewBinding(key.WithKeys("+", "="), key.WithHelp("+/-", "speed")),
		Slower:   key.NewBinding(key.WithKeys("-")),
		Stages:   key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "stages")),
		Link:     key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "select linked write")),
		OpenLink: key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "open linked write")),
		Back:     key.NewBinding(key.WithKeys("esc", "backspace"), key.WithHelp("esc", "back")),
		First:    key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("g/G", "first/last")),
		Last:     key.NewBinding(key.WithKeys("end", "G")),
	}
}

func (k writeKeys) ShortHelp() []key.Binding {
	return []key.Binding{k.Prev, k.Next, k.NextKind, k.Play, k.Stages, k.Back}
}
func (k writeKeys) FullHelp() [][]key.Binding {
	return [][]key.Binding{{k.Prev, k.Next, k.NextKind, k.First}, {k.Play, k.Faster, k.Stages}, {k.Link, k.OpenLink, k.Back}}
}

// backToListMsg asks the app to show the write list again.
type backToListMsg struct{}

// playTick advances playback by one event.
type playTick struct{ gen int }

func newWriteModel(t *traceview.Trace, w *traceview.Write) writeModel {
	return writeModel{trace: t, d: t.Detail(w), speed: defaultSpeed, keys: newWriteKeys()}
}

func (m writeModel) setSize(w, h int) writeModel {
	m.width, m.height = w, h
	if m.d != nil {
		m.follow()
	}
	return m
}

// Layout: header (1) + lane header (1) + diagram + pane. The pane is the
// event detail, or the stage table when stages are on.
func (m writeModel) paneHeight() int {
	if m.stages { // as many rows as the stages need; the diagram keeps at least 4
		return max(min(len(m.d.Stages)+2, m.height-2-4), 3)
	}
	return min(max(m.height/3, 6), 12)
}

func (m writeModel) diagramHeight() int { return max(m.height-2-m.paneHeight(), 1) }

// follow scrolls so the current event is visible, with one row of context.
func (m *writeModel) follow() {
	h := m.diagramHeight()
	if m.cur-1 < m.top {
		m.top = max(m.cur-1, 0)
	}
	if m.cur+1 >= m.top+h {
		m.top = m.cur + 2 - h
	}
	m.top = max(0, min(m.top, len(m.d.Events)-h))
}

func (m *writeModel) moveTo(i int) {
	if i < 0 || i >= len(m.d.Events) {
		return
	}
	m.cur, m.link = i, 0
	m.follow()
}

func (m writeModel) tick() tea.Cmd {
	if m.cur+1 >= len(m.d.Events) {
		return nil
	}
	gap := m.d.Events[m.cur+1].At - m.d.Events[m.cur].At
	// speeds[i] trace-ms per second: wall = gap * 1000 / speed.
	wall := time.Duration(float64(gap) * 1000 / speeds[m.speed])
	wall = min(max(wall, 60*time.Millisecond), 1500*time.Millisecond)
	gen := m.gen
	return tea.Tick(wall, func(time.Time) tea.Msg { return playTick{gen} })
}

func (m writeModel) Update(msg tea.Msg) (writeModel, tea.Cmd) {
	switch msg := msg.(type) {
	case playTick:
		if !m.playing || msg.gen != m.gen {
			return m, nil
		}
		m.moveTo(m.cur + 1)
		if m.cur+1 >= len(m.d.Events) {
			m.playing = false
			return m, nil
		}
		return m, m.tick()
	case tea.KeyMsg:
		k := m.keys
		switch {
		case key.Matches(msg, k.Prev):
			m.moveTo(m.cur - 1)
		case key.Matches(msg, k.Next):
			m.moveTo(m.cur + 1)
		case key.Matches(msg, k.NextKind), key.Matches(msg, k.PrevKind):
			step := 1
			if key.Matches(msg, k.PrevKind) {
				step = -1
			}
			name := m.d.Events[m.cur].Name
			for i := m.cur + step; i >= 0 && i < len(m.d.Events); i += step {
				if m.d.Events[i].Name == name {
					m.moveTo(i)
					break
				}
			}
		case key.Matches(msg, k.First):
			m.moveTo(0)
		case key.Matches(msg, k.Last):
			m.moveTo(len(m.d.Events) - 1)
		case key.Matches(msg, k.Play):
			m.playing = !m.playing
			m.gen++
			if m.playing {
				if m.cur+1 >= len(m.d.Events) {
					m.moveTo(0)
				}
				return m, m.tick()
			}
		case key.Matches(msg, k.Faster):
			m.speed = min(m.speed+1, len(speeds)-1)
		case key.Matches(msg, k.Slower):
			m.speed = max(m.speed-1, 0)
		case key.Matches(msg, k.Stages):
			m.stages = !m.stages
			m.follow()
		case key.Matches(msg, k.Link):
			if n := len(m.d.Events[m.cur].Linked); n > 0 {
				m.link = (m.link + 1) % n
			}
		case key.Matches(msg, k.OpenLink):
			linked := m.d.Events[m.cur].Linked
			if len(linked) == 0 {
				break
			}
			m.back = append(m.back, backEntry{m.d.Write.N, m.cur})
			m.open(linked[m.link], -1)
		case key.Matches(msg, k.Back):
			if len(m.back) == 0 {
				m.playing = false
				return m, func() tea.Msg { return backToListMsg{} }
			}
			b := m.back[len(m.back)-1]
			m.back = m.back[:len(m.back)-1]
			m.open(b.n, b.cur)
		}
	}
	return m, nil
}

// open replaces the shown write with write n, at event cur (-1: the event
// carrying the same span as the current one, else the first).
func (m *writeModel) open(n, cur int) {
	prevSpan := m.d.Events[m.cur].SpanID
	m.d = m.trace.Detail(&m.trace.Writes[n-1])
	m.playing, m.gen, m.top, m.link = false, m.gen+1, 0, 0
	if cur < 0 {
		cur = 0
		for i := range m.d.Events {
			if m.d.Events[i].SpanID == prevSpan {
				cur = i
				break
			}
		}
	}
	m.moveTo(cur)
}

func (m writeModel) View() string {
	d := m.d
	var b strings.Builder
	state := fmt.Sprintf("  │ event %d/%d", m.cur+1, len(d.Events))
	if m.playing {
		state += fmt.Sprintf("  ▶ %gx", speeds[m.speed])
	} else if m.speed != defaultSpeed {
		state += fmt.Sprintf("  speed %gx", speeds[m.speed])
	}
	w := d.Write
	title := fmt.Sprintf("#%d %s %s rev=%d index=%d via %s %s%s", w.N, w.Op, w.Key, w.Revision, w.Index, w.Member,
		traceview.Offset(w.Latency)[1:], state)
	b.WriteString(titleStyle.Render(cut(title, m.width)))
	b.WriteString("\n")
	// Lane header, each name in its lane's colour.
	head := "  " + pad("     offset", 12)
	b.WriteString(dimStyle.Render(head))
	for i, l := range d.Lanes {
		b.WriteString(laneStyle(i).Render(pad(l, traceview.LaneWidth)))
	}
	used := len(head) + len(d.Lanes)*traceview.LaneWidth
	if used < m.width {
		b.WriteString(dimStyle.Render(cut("leader "+d.Leader, m.width-used)))
	}
	h := m.diagramHeight()
	for i := m.top; i < m.top+h; i++ {
		b.WriteString("\n")
		if i >= len(d.Events) {
			continue
		}
		b.WriteString(m.row(i))
	}
	b.WriteString("\n")
	if m.stages {
		b.WriteString(m.stagePane())
	} else {
		b.WriteString(m.detailPane())
	}
	return b.String()
}

func (m writeModel) row(i int) string {
	d := m.d
	e := &d.Events[i]
	marker := "  "
	if i == m.cur {
		marker = "▸ "
	}
	off := fmt.Sprintf("%11s ", traceview.Offset(e.At))
	var b strings.Builder
	if i == m.cur {
		b.WriteString(selectedStyle.Render(marker + off))
	} else {
		b.WriteString(marker + dimStyle.Render(off))
	}
	// Lanes: runs of glyphs that share a colour are styled together.
	gl := d.Glyphs(e, traceview.LaneWidth)
	for j := 0; j < len(gl); {
		k := j
		var run strings.Builder
		for k < len(gl) && gl[k].Lane == gl[j].Lane {
			run.WriteRune(gl[k].R)
			k++
		}
		b.WriteString(laneStyle(gl[j].Lane).Render(run.String()))
		j = k
	}
	rest := m.width - 14 - len(gl)
	text := cut(d.Text(e), rest)
	st := laneStyle(d.LaneOf(e.Member))
	if i == m.cur {
		st = st.Bold(true).Reverse(true)
	}
	b.WriteString(st.Render(text))
	return b.String()
}

// ms prints a duration in milliseconds, negative ones with a minus sign.
func ms(d time.Duration) string { return fmt.Sprintf("%.3fms", float64(d)/float64(time.Millisecond)) }

func (m writeModel) rule(title string) string {
	t := "── " + title + " "
	return paneRule.Render(t + strings.Repeat("─", max(m.width-lipgloss.Width(t), 0)))
}

func (m writeModel) detailPane() string {
	e := &m.d.Events[m.cur]
	h := m.paneHeight()
	lines := []string{m.rule(fmt.Sprintf("%s on %s", e.Name, e.Member))}
	info := fmt.Sprintf("at %s  duration %s  span %s  %s", traceview.Offset(e.At), traceview.Offset(e.Duration)[1:], e.SpanID, e.Source)
	if e.Name == traceview.EventRequest || e.Name == traceview.EventReply {
		info = fmt.Sprintf("at %s  trace %s  %s", traceview.Offset(e.At), m.d.Write.TraceID, e.Source)
	}
	if e.Peer >= 0 {
		p := &m.d.Events[e.Peer]
		info = fmt.Sprintf("at %s  %s  peer event %d at %s  span %s", traceview.Offset(e.At), e.MsgType, e.Peer+1, traceview.Offset(p.At), e.SpanID)
	}
	lines = append(lines, cut(info, m.width))
	// Linked writes, the selected one marked.
	if len(e.Linked) > 0 {
		var parts []string
		for i, n := range e.Linked {
			w := &m.trace.Writes[n-1]
			s := fmt.Sprintf("#%d %s", n, w.Key)
			if i == m.link {
				s = selectedStyle.Render("[" + s + "]")
			}
			parts = append(parts, s)
		}
		lines = append(lines, "also carried: "+strings.Join(parts, "  ")+dimStyle.Render("  (tab select, enter open)"))
	}
	// Attributes packed into as few lines as the width allows.
	var line string
	for _, a := range e.Attrs {
		item := a.Key + "=" + a.Value
		if line != "" && lipgloss.Width(line)+2+lipgloss.Width(item) > m.width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += "  "
		}
		line += cut(item, m.width)
	}
	if line != "" {
		lines = append(lines, line)
	}
	if len(lines) > h {
		lines = append(lines[:h-1], dimStyle.Render(fmt.Sprintf("… %d more lines (widen the terminal)", len(lines)-h+1)))
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}

func (m writeModel) stagePane() string {
	h := m.paneHeight()
	lines := []string{m.rule("stages of write #" + fmt.Sprint(m.d.Write.N))}
	head := fmt.Sprintf("%-18s %-6s %10s %10s", "stage", "member", "at", "duration")
	if m.stats != nil {
		head += fmt.Sprintf(" %10s %10s", "p50 all", "p99 all")
	}
	lines = append(lines, dimStyle.Render(cut(head+"  note", m.width)))
	for _, s := range m.d.Stages {
		l := fmt.Sprintf("%-18s %-6s %10s %10s", s.Name, s.Member, traceview.Offset(s.To), ms(s.Duration))
		if m.stats != nil {
			st := m.stats[s.Name+"/"+s.Member]
			l += fmt.Sprintf(" %10s %10s", ms(st.P50), ms(st.P99))
		}
		if s.Note != "" {
			l += "  " + s.Note
		}
		lines = append(lines, laneStyle(m.d.LaneOf(s.Member)).Render(cut(l, m.width)))
	}
	if len(lines) > h {
		lines = append(lines[:h-1], dimStyle.Render(fmt.Sprintf("… %d more stages (taller terminal, or tracer show)", len(lines)-h+1)))
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}
