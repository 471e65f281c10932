package main

import (
	"github.com/charmbracelet/lipgloss"
)

// laneColors gives each lane one colour: the client grey, then one per member.
var laneColors = []lipgloss.Color{"245", "39", "214", "170", "78", "203", "141", "226"}

func laneStyle(i int) lipgloss.Style {
	if i < 0 {
		return lipgloss.NewStyle()
	}
	return lipgloss.NewStyle().Foreground(laneColors[i%len(laneColors)])
}

var (
	titleStyle    = lipgloss.NewStyle().Bold(true)
	dimStyle      = lipgloss.NewStyle().Foreground(lipgloss.Color("241"))
	selectedStyle = lipgloss.NewStyle().Bold(true).Reverse(true)
	paneRule      = lipgloss.NewStyle().Foreground(lipgloss.Color("238"))
)

// cut shortens s to at most w cells.
func cut(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if lipgloss.Width(s) <= w {
		return s
	}
	r := []rune(s)
	for len(r) > 0 && lipgloss.Width(string(r)) > w-1 {
		r = r[:len(r)-1]
	}
	return string(r) + "…"
}

// pad makes s exactly w cells wide (plain text only).
func pad(s string, w int) string {
	s = cut(s, w)
	for n := lipgloss.Width(s); n < w; n++ {
		s += " "
	}
	return s
}
