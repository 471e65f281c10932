package main

import (
	"fmt"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/kvtrace/kvtrace/internal/traceview"
)

const tuiHelp = `Opens the interactive viewer: the write list (/ filters by key, enter opens),
then the space-time view of the write (←/→ step, n/N next/prev event of the
same kind, space play/pause, +/- speed, s stage breakdown, tab/enter follow a
write batched with this one, esc back). ? shows all keys, q quits.
Needs a terminal; without one use 'tracer show'.`

func runTUI(args []string, e env) error {
	fs := newFlags("tui", "tui [--write N|--key K] PATHS...", tuiHelp, e)
	n := fs.Int("write", 0, "open this write directly")
	key := fs.String("key", "", "open the latest write to this key directly")
	paths, err := parse(fs, args)
	if err != nil {
		return err
	}
	if !e.tty {
		return fmt.Errorf("tui needs a terminal (stdin and stdout); use 'tracer show' for text")
	}
	t, err := load(paths)
	if err != nil {
		return err
	}
	m := newApp(t)
	if *n != 0 || *key != "" {
		w, err := pick(t, *n, "", *key)
		if err != nil {
			return err
		}
		m = m.openWrite(w.N)
	}
	_, err = tea.NewProgram(m, tea.WithAltScreen(), tea.WithInput(e.stdin), tea.WithOutput(e.stdout)).Run()
	return err
}

type screen int

const (
	screenList screen = iota
	screenWrite
)

// app is the root model: it routes messages to the active component and
// draws the help bar. Components own their size, keys and help.
type app struct {
	trace  *traceview.Trace
	screen screen
	list   listModel
	write  writeModel
	help   help.Model
	keys   appKeys
	stats  map[string]traceview.StageStats
	width  int
	height int
}

type appKeys struct{ Quit, Help key.Binding }

// statsMsg carries percentiles computed off the UI goroutine.
type statsMsg map[string]traceview.StageStats

func newApp(t *traceview.Trace) app {
	return app{
		trace: t, list: newListModel(t), help: help.New(),
		keys: appKeys{
			Quit: key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
			Help: key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		},
		width: 80, height: 24,
	}
}

// Init starts the percentile computation; it can take a moment on 100k writes.
func (m app) Init() tea.Cmd {
	t := m.trace
	return func() tea.Msg {
		out := statsMsg{}
		for _, s := range t.Stats() {
			out[s.Name+"/"+s.Member] = s
		}
		return out
	}
}

func (m app) openWrite(n int) app {
	m.write = newWriteModel(m.trace, &m.trace.Writes[n-1])
	m.write.stats = m.stats
	m.screen = screenWrite
	return m.resize()
}

// keyMap is the help of the active component plus the global keys.
type keyMap struct {
	comp help.KeyMap
	app  appKeys
}

func (k keyMap) ShortHelp() []key.Binding { return append(k.comp.ShortHelp(), k.app.Help, k.app.Quit) }
func (k keyMap) FullHelp() [][]key.Binding {
	return append(k.comp.FullHelp(), []key.Binding{k.app.Help, k.app.Quit})
}

func (m app) keyMap() keyMap {
	if m.screen == screenWrite {
		return keyMap{m.write.keys, m.keys}
	}
	return keyMap{m.list.keys, m.keys}
}

func (m app) resize() app {
	m.help.Width = m.width
	hh := lipgloss.Height(m.help.View(m.keyMap()))
	m.list = m.list.setSize(m.width, m.height-hh)
	m.write = m.write.setSize(m.width, m.height-hh)
	return m
}

func (m app) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		return m.resize(), nil
	case statsMsg:
		m.stats = msg
		m.write.stats = msg
		return m, nil
	case openWriteMsg:
		return m.openWrite(msg.n), nil
	case backToListMsg:
		m.screen = screenList
		return m.resize(), nil
	case tea.KeyMsg:
		filtering := m.screen == screenList && m.list.filtering
		switch {
		case msg.Type == tea.KeyCtrlC:
			return m, tea.Quit
		case !filtering && key.Matches(msg, m.keys.Quit):
			return m, tea.Quit
		case !filtering && key.Matches(msg, m.keys.Help):
			m.help.ShowAll = !m.help.ShowAll
			return m.resize(), nil
		}
	}
	var cmd tea.Cmd
	if m.screen == screenWrite {
		m.write, cmd = m.write.Update(msg)
	} else {
		m.list, cmd = m.list.Update(msg)
	}
	return m, cmd
}

func (m app) View() string {
	var body string
	if m.screen == screenWrite {
		body = m.write.View()
	} else {
		body = m.list.View()
	}
	// Fill the body to its height so the help bar stays at the bottom.
	hv := m.help.View(m.keyMap())
	bh := m.height - lipgloss.Height(hv)
	body = lipgloss.NewStyle().Height(bh).MaxHeight(bh).MaxWidth(m.width).Render(body)
	return body + "\n" + hv
}
