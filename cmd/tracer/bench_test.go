package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/kvtrace/kvtrace/internal/traceview"
	"github.com/kvtrace/kvtrace/internal/traceview/fixturegen"
)

// benchDir holds 100k writes x 3 members, generated once per process (about
// 25 s and 950 MiB). With TRACER_BENCH_DIR set it is generated there once and
// reused by later runs, which also keeps the generator out of the process
// whose peak RSS BenchmarkLoad100k reports.
var benchDir string

// tempBenchDir is a benchDir made in the temp dir, removed by TestMain.
var tempBenchDir string

func bigTrace(b *testing.B) string {
	b.Helper()
	if benchDir != "" {
		return benchDir
	}
	dir := os.Getenv("TRACER_BENCH_DIR")
	if dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "m3.jsonl")); err == nil {
			benchDir = dir
			return dir
		}
	} else {
		var err error
		if dir, err = os.MkdirTemp("", "tracer-bench-"); err != nil {
			b.Fatal(err)
		}
		// Removed when the process ends (TestMain runs the benchmarks).
		tempBenchDir = dir
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

// BenchmarkLoad100k measures traceview.Load of 100k writes on 3 members
// (1.36M spans). Its peak-RSS-MiB is the process's high-water mark (VmHWM),
// which includes the generator unless TRACER_BENCH_DIR already holds the
// files. Figures: docs/tracer.md, "Performance".
// Run: TRACER_BENCH_DIR=/tmp/tracer-bench go test ./cmd/tracer -run '^$' -bench Load100k -benchtime 1x -benchmem
func BenchmarkLoad100k(b *testing.B) {
	dir := bigTrace(b)
	runtime.GC()
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
	b.StopTimer()
	if kb := peakRSSKiB(); kb > 0 {
		b.ReportMetric(float64(kb)/1024, "peak-RSS-MiB")
	}
}

// peakRSSKiB reads VmHWM from /proc/self/status (0 where there is none).
func peakRSSKiB() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
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
