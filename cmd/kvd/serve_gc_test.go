package main

import "testing"

// TestTracingGCPercent: tracing raises the GC target unless the user set
// GOGC, whatever they set it to (including "off").
func TestTracingGCPercent(t *testing.T) {
	if pct, raised := tracingGCPercent(""); !raised || pct != tracingGOGC || pct <= 100 {
		t.Fatalf("GOGC unset: got %d, %v; want the tracing target (> 100) applied", pct, raised)
	}
	for _, env := range []string{"100", "50", "off"} {
		if _, raised := tracingGCPercent(env); raised {
			t.Fatalf("GOGC=%s: kvd overrode the user's choice", env)
		}
	}
}
