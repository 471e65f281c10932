package main

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/kvtrace/kvtrace/internal/traceview"
)

// listModel is the write list: every client write, filterable by key with /.
// It owns its size, keys and help.
type listModel struct {
	trace     *traceview.Trace
	rows      []int // indexes into trace.Writes that pass the filter
	cursor    int   // index into rows
	top       int   // first visible row
	filter    string
	filtering bool
	width     int
	height    int
	keys      listKeys
}

type listKeys struct {
	Up, Down, PageUp, PageDown, Home, End, Open, Filter, Clear key.Binding
}

func newListKeys() listKeys {
	return listKeys{
		Up:       key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:     key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		PageUp:   key.NewBinding(key.WithKeys("pgup", "b"), key.WithHelp("pgup", "page up")),
		PageDown: key.NewBinding(key.WithKeys("pgdown", "f"), key.WithHelp("pgdn", "page down")),
		Home:     key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("g", "first")),
		End:      key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("G", "last")),
		Open:     key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "open")),
		Filter:   key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter by key")),
		Clear:    key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear filter")),
	}
}

func (k listKeys) ShortHelp() []key.Binding { return []key.Binding{k.Up, k.Down, k.Open, k.Filter} }
func (k listKeys) FullHelp() [][]key.Binding {
	return [][]key.Binding{{k.Up, k.Down, k.PageUp, k.PageDown}, {k.Home, k.End, k.Open, k.Filter, k.Clear}}
}

// openWriteMsg asks the app to open write N in the space-time view.
type openWriteMsg struct{ n int }

func newListModel(t *traceview.Trace) listModel {
	m := listModel{trace: t, keys: newListKeys()}
	m.applyFilter()
	m.cursor = len(m.rows) - 1 // the latest write
	return m
}

func (m *listModel) applyFilter() {
	m.rows = m.rows[:0]
	for i := range m.trace.Writes {
		if m.filter == "" || strings.Contains(m.trace.Writes[i].Key, m.filter) {
			m.rows = append(m.rows, i)
		}
	}
	m.cursor = min(m.cursor, len(m.rows)-1)
	m.cursor = max(m.cursor, 0)
	m.clamp()
}

// bodyHeight is the number of write rows that fit.
func (m listModel) bodyHeight() int { return max(m.height-2, 1) }

func (m *listModel) clamp() {
	h := m.bodyHeight()
	if m.cursor < m.top {
		m.top = m.cursor
	}
	if m.cursor >= m.top+h {
		m.top = m.cursor - h + 1
	}
	m.top = max(0, min(m.top, len(m.rows)-h))
}

func (m listModel) setSize(w, h int) listModel {
	m.width, m.height = w, h
	m.clamp()
	return m
}

// Selected returns the write under the cursor, nil if none.
func (m listModel) Selected() *traceview.Write {
	if m.cursor < 0 || m.cursor >= len(m.rows) {
		return nil
	}
	return &m.trace.Writes[m.rows[m.cursor]]
}

func (m listModel) Update(msg tea.Msg) (listModel, tea.Cmd) {
	km, ok := msg.(tea.KeyMsg)
	if !ok {
		return m, nil
	}
	if m.filtering {
		switch km.Type {
		case tea.KeyEnter:
			m.filtering = false
		case tea.KeyEsc:
			m.filtering, m.filter = false, ""
		case tea.KeyBackspace:
			if r := []rune(m.filter); len(r) > 0 {
				m.filter = string(r[:len(r)-1])
			}
		case tea.KeyRunes, tea.KeySpace:
			m.filter += string(km.Runes)
		}
		m.applyFilter()
		return m, nil
	}
	switch {
	case key.Matches(km, m.keys.Up):
		m.cursor = max(m.cursor-1, 0)
	case key.Matches(km, m.keys.Down):
		m.cursor = min(m.cursor+1, len(m.rows)-1)
	case key.Matches(km, m.keys.PageUp):
		m.cursor = max(m.cursor-m.bodyHeight(), 0)
	case key.Matches(km, m.keys.PageDown):
		m.cursor = min(m.cursor+m.bodyHeight(), len(m.rows)-1)
	case key.Matches(km, m.keys.Home):
		m.cursor = 0
	case key.Matches(km, m.keys.End):
		m.cursor = len(m.rows) - 1
	case key.Matches(km, m.keys.Filter):
		m.filtering = true
	case key.Matches(km, m.keys.Clear):
		m.filter = ""
		m.applyFilter()
	case key.Matches(km, m.keys.Open):
		if w := m.Selected(); w != nil {
			n := w.N
			return m, func() tea.Msg { return openWriteMsg{n} }
		}
	}
	m.clamp()
	return m, nil
}

func (m listModel) View() string {
	var b strings.Builder
	title := fmt.Sprintf("writes %d/%d", len(m.rows), len(m.trace.Writes))
	switch {
	case m.filtering:
		title += "  key filter: " + m.filter + "█"
	case m.filter != "":
		title += "  key filter: " + m.filter
	}
	b.WriteString(titleStyle.Render(cut(title, m.width)) + "\n")
	b.WriteString(dimStyle.Render(cut(fmt.Sprintf("  %5s %-11s %-16s %6s %-6s %9s  %s", "#", "op", "key", "rev", "member", "latency", "trace"), m.width)))
	h := m.bodyHeight()
	for i := m.top; i < m.top+h && i < len(m.rows); i++ {
		w := &m.trace.Writes[m.rows[i]]
		line := fmt.Sprintf("%5d %-11s %-16s %6d %-6s %9s  %s", w.N, w.Op, cut(w.Key, 16), w.Revision, w.Member,
			fmt.Sprintf("%.3fms", float64(w.Latency)/1e6), w.TraceID)
		b.WriteString("\n")
		if i == m.cursor {
			b.WriteString(selectedStyle.Render(cut("▸ "+line, m.width)))
		} else {
			b.WriteString(cut("  "+line, m.width))
		}
	}
	if len(m.rows) == 0 {
		b.WriteString("\n  no write matches")
	}
	return b.String()
}
