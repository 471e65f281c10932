package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/kvtrace/kvtrace/internal/traceview"
	"github.com/kvtrace/kvtrace/internal/traceview/fixturegen"
)

// benchDir holds 100k writes x 3 members, generated once per process.
var benchDir string

func bigTrace(b *testing.B) string {
	b.Helper()
	if benchDir != "" {
		return benchDir
	}
	dir, err := os.MkdirTemp("", "tracer-bench-")
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := fixturegen.WriteDir(dir, fixturegen.Bulk(100_000, 8)); err != nil {
		b.Fatal(err)
	}
	var size int64
	for _, m := range []string{"m1", "m2", "m3"} {
		st, _ := os.Stat(filepath.Join(dir, m+".jsonl"))
		size += st.Size()
	}
	b.Logf("generated 100k writes, %d MiB of OTLP JSON in %v", size>>20, time.Since(start))
	benchDir = dir
	return dir
}

// BenchmarkLoad100k measures traceview.Load of 100k writes on 3 members.
// Run: go test ./cmd/tracer -run '^$' -bench Load100k -benchtime 1x -benchmem
func BenchmarkLoad100k(b *testing.B) {
	dir := bigTrace(b)
	b.ResetTimer()
	for b.Loop() {
		t, err := traceview.Load(dir)
		if err != nil {
			b.Fatal(err)
		}
		if len(t.Writes) != 100_000 {
			b.Fatalf("%d writes", len(t.Writes))
		}
	}
}

// BenchmarkRedraw100k measures one keypress (→ in the space-time view, ↓ in
// the list) plus the View that follows, on the 100k-write trace.
func BenchmarkRedraw100k(b *testing.B) {
	t, err := traceview.Load(bigTrace(b))
	if err != nil {
		b.Fatal(err)
	}
	m := newApp(t)
	nm, _ := m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	m = nm.(app)
	b.Run("list", func(b *testing.B) {
		lm := m
		for b.Loop() {
			nm, _ := lm.Update(tea.KeyMsg{Type: tea.KeyUp})
			lm = nm.(app)
			_ = lm.View()
		}
	})
	b.Run("open", func(b *testing.B) {
		for b.Loop() {
			_ = m.openWrite(50_000).View()
		}
	})
	wm := m.openWrite(50_000)
	b.Run("step", func(b *testing.B) {
		for b.Loop() {
			nm, _ := wm.Update(tea.KeyMsg{Type: tea.KeyRight})
			wm = nm.(app)
			if wm.write.cur == len(wm.write.d.Events)-1 {
				wm.write.cur = 0
			}
			_ = wm.View()
		}
	})
}
