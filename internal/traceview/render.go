package traceview

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// LaneWidth is the width of one lane column in the text diagram.
const LaneWidth = 8

// Glyph is one character of a diagram row and the lane whose colour it takes
// (-1: none).
type Glyph struct {
	R    rune
	Lane int
}

// Glyphs draws the lanes part of event e's row: a vertical rule per lane, a
// mark on the event's lane (● a local boundary, ○ a receive) and, for a send
// or the client's request and reply, an arrow from sender to receiver.
func (d *Detail) Glyphs(e *Event, laneW int) []Glyph {
	n := len(d.Lanes)
	row := make([]Glyph, n*laneW)
	for i := range row {
		row[i] = Glyph{' ', -1}
	}
	for l := 0; l < n; l++ {
		row[l*laneW] = Glyph{'│', l}
	}
	at := d.LaneOf(e.Member)
	if at < 0 {
		return row
	}
	recv := e.Name == NameRecv
	if !recv && e.From != "" && e.To != "" {
		from, to := d.LaneOf(e.From), d.LaneOf(e.To)
		if from >= 0 && to >= 0 && from != to {
			a, b := from*laneW, to*laneW
			if a < b {
				for c := a + 1; c < b-1; c++ {
					row[c] = Glyph{bar(row[c].R), from}
				}
				row[b-1] = Glyph{'▶', from}
			} else {
				for c := b + 2; c < a; c++ {
					row[c] = Glyph{bar(row[c].R), from}
				}
				row[b+1] = Glyph{'◀', from}
			}
			row[a] = Glyph{'●', from}
			return row
		}
	}
	mark := '●'
	if recv {
		mark = '○'
	}
	row[at*laneW] = Glyph{mark, at}
	return row
}

func bar(under rune) rune {
	if under == '│' {
		return '┼'
	}
	return '─'
}

// LaneOf returns the index of lane name, -1 if absent.
func (d *Detail) LaneOf(name string) int { return slices.Index(d.Lanes, name) }

// Text returns the diagram label of event e: arrows for messages
// (m1 ──MsgApp[5..5]──▶ m2), the span name and duration for local boundaries,
// and the other writes a batched span also carried.
func (d *Detail) Text(e *Event) string {
	var s string
	switch {
	case e.Name == NameRecv:
		s = fmt.Sprintf("%s ◀── %s from %s", e.Member, e.Label, e.From)
		if e.Peer >= 0 {
			s += fmt.Sprintf(" (in flight %s)", fmtMS(e.At-d.Events[e.Peer].At))
		}
	case e.From != "" && e.To != "":
		s = fmt.Sprintf("%s ──%s──▶ %s", e.From, e.Label, e.To)
	default:
		s = fmt.Sprintf("%s %s", e.Member, e.Label)
		if e.Duration > 0 {
			s += "  " + fmtMS(e.Duration)
		}
	}
	if len(e.Linked) > 0 {
		ns := make([]string, len(e.Linked))
		for i, n := range e.Linked {
			ns[i] = fmt.Sprintf("#%d", n)
		}
		s += "  [also " + strings.Join(ns, ",") + "]"
	}
	return s
}

// Offset formats an event offset the way the diagram prints it: +12.345ms.
func Offset(d time.Duration) string {
	sign := "+"
	if d < 0 {
		sign, d = "-", -d
	}
	return sign + fmtMS(d)
}

// Header is the one-line summary of a write.
func (w *Write) Header() string {
	return fmt.Sprintf("write #%d  %s %s  rev=%d  index=%d  served by %s  latency %s  trace %s",
		w.N, w.Op, w.Key, w.Revision, w.Index, w.Member, fmtMS(w.Latency), w.TraceID)
}

// WriteShow prints the text space-time diagram and stage table of d.
func WriteShow(out io.Writer, d *Detail) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", d.Write.Header())
	fmt.Fprintf(&b, "leader %s, %d events; offsets from the client request\n\n", orDash(d.Leader), len(d.Events))
	fmt.Fprintf(&b, "%11s  ", "offset")
	for _, l := range d.Lanes {
		fmt.Fprintf(&b, "%-*s", LaneWidth, l)
	}
	b.WriteString("\n")
	for i := range d.Events {
		e := &d.Events[i]
		fmt.Fprintf(&b, "%11s  ", Offset(e.At))
		for _, g := range d.Glyphs(e, LaneWidth) {
			b.WriteRune(g.R)
		}
		b.WriteString(d.Text(e))
		b.WriteString("\n")
	}
	b.WriteString("\nstages\n")
	if err := WriteStages(&b, d.Stages); err != nil {
		return err
	}
	return writeTrimmed(out, b.String())
}

// writeTrimmed writes s without trailing blanks on its lines, so the output
// diffs cleanly and golden files carry no invisible whitespace.
func writeTrimmed(out io.Writer, s string) error {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	_, err := io.WriteString(out, strings.Join(lines, "\n"))
	return err
}

// WriteStages prints a stage table.
func WriteStages(out io.Writer, st []Stage) error {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "stage\tmember\tfrom\tto\tduration\tnote")
	for _, s := range st {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, orDash(s.Member), Offset(s.From), Offset(s.To), fmtMS(s.Duration), s.Note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return writeTrimmed(out, b.String())
}

// WriteStats prints per-stage percentiles.
func WriteStats(out io.Writer, t *Trace, st []StageStats) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d writes, %d spans from %d members", len(t.Writes), len(t.Spans), len(t.Members))
	if n := t.UnknownCount(); n > 0 {
		fmt.Fprintf(&b, " (%d span(s) of unknown names skipped)", n)
	}
	fmt.Fprintln(&b)
	for _, c := range t.ConfChanges() {
		fmt.Fprintln(&b, c)
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "stage\tmember\tn\tp50\tp90\tp99\tmax\t")
	for _, s := range st {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t\n", s.Name, orDash(s.Member), s.Count, fmtMS(s.P50), fmtMS(s.P90), fmtMS(s.P99), fmtMS(s.Max))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return writeTrimmed(out, b.String())
}

// WriteList prints one line per write.
func WriteList(out io.Writer, ws []*Write) error {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\top\tkey\trev\tindex\tmember\tlatency\ttrace")
	for _, w := range ws {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", w.N, w.Op, w.Key, w.Revision, w.Index, w.Member, fmtMS(w.Latency), w.TraceID)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return writeTrimmed(out, b.String())
}

// UnknownCount is the number of spans skipped for unknown names.
func (t *Trace) UnknownCount() int {
	n := 0
	for _, c := range t.Unknown {
		n += c
	}
	return n
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ShowJSON is the document `tracer show --json` prints. Field names are
// stable; durations and offsets are integer nanoseconds (suffix _ns).
type ShowJSON struct {
	Write  *Write   `json:"write"`
	Leader string   `json:"leader"`
	Lanes  []string `json:"lanes"`
	Events []Event  `json:"events"`
	Stages []Stage  `json:"stages"`
}

// StatsJSON is the document `tracer stats --json` prints.
type StatsJSON struct {
	Writes  int            `json:"writes"`
	Spans   int            `json:"spans"`
	Members []string       `json:"members"`
	Unknown map[string]int `json:"unknown_spans"`
	Stages  []StageStats   `json:"stages"`
}

// WriteJSON encodes v indented with a trailing newline.
func WriteJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// JSON returns d as the show document.
func (d *Detail) JSON() ShowJSON {
	return ShowJSON{Write: d.Write, Leader: d.Leader, Lanes: d.Lanes, Events: d.Events, Stages: d.Stages}
}
