package main

import (
	"os"
	"testing"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

// TestMain pins the colour profile so TUI goldens carry no escape codes and do
// not depend on the terminal running the tests. Goldens (testdata/*.golden)
// are rewritten with: go test ./cmd/tracer -update
func TestMain(m *testing.M) {
	lipgloss.SetColorProfile(termenv.Ascii)
	code := m.Run()
	if tempBenchDir != "" { // bench_test.go's generated spans
		os.RemoveAll(tempBenchDir)
	}
	os.Exit(code)
}
