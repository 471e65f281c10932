package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPercentileNearestRank(t *testing.T) {
	var xs []time.Duration
	for i := 1; i <= 1000; i++ {
		xs = append(xs, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{
		{50, 500 * time.Millisecond},
		{90, 900 * time.Millisecond},
		{99, 990 * time.Millisecond},
		{99.9, 999 * time.Millisecond},
		{100, 1000 * time.Millisecond},
		{0.01, time.Millisecond},
	} {
		if got := percentile(xs, tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("p50 of nothing = %v", got)
	}
	if got := percentile([]time.Duration{7}, 99.9); got != 7 {
		t.Errorf("p99.9 of one value = %v", got)
	}
}

func TestSummarizeMergesWorkers(t *testing.T) {
	a, b := &recorder{}, &recorder{}
	for i := 0; i < 90; i++ {
		a.ok(time.Millisecond)
	}
	for i := 0; i < 10; i++ {
		b.ok(100 * time.Millisecond)
	}
	b.fail(errors.New("etcdserver: request timed out"))
	rep := &Report{}
	summarize(rep, []*recorder{a, b}, 2*time.Second)
	if rep.Ops != 100 || rep.Errors != 1 {
		t.Fatalf("ops %d errors %d, want 100 and 1", rep.Ops, rep.Errors)
	}
	if rep.ErrorKinds["etcdserver: request timed out"] != 1 || len(rep.ErrorKinds) != 1 {
		t.Fatalf("error kinds %v, want the one timeout", rep.ErrorKinds)
	}
	var out bytes.Buffer
	writeText(&out, rep)
	if !strings.Contains(out.String(), "error x1: etcdserver: request timed out") {
		t.Fatalf("text report does not name the error:\n%s", out.String())
	}
	if rep.Throughput != 50 {
		t.Errorf("throughput %v, want 50", rep.Throughput)
	}
	if rep.P50Ms != 1 || rep.P90Ms != 1 || rep.P99Ms != 100 || rep.MaxMs != 100 || rep.MinMs != 1 {
		t.Errorf("percentiles %+v", rep)
	}
	if want := (90*1 + 10*100) / 100.0; rep.MeanMs != want {
		t.Errorf("mean %v, want %v", rep.MeanMs, want)
	}
	total := 0
	for _, h := range rep.Histogram {
		total += h.Count
	}
	if total != 100 {
		t.Errorf("histogram holds %d values, want 100: %+v", total, rep.Histogram)
	}
	// 1ms falls in (0.5, 1], 100ms in (50, 100]; the empty buckets at the
	// ends are trimmed.
	if first, last := rep.Histogram[0], rep.Histogram[len(rep.Histogram)-1]; first.UpToMs != 1 || first.Count != 90 || last.UpToMs != 100 || last.Count != 10 {
		t.Errorf("histogram ends %+v %+v", first, last)
	}
}

func TestSummarizeEmpty(t *testing.T) {
	rep := &Report{Workload: "put"}
	summarize(rep, []*recorder{{}}, time.Second)
	if rep.Ops != 0 || rep.Throughput != 0 || rep.Histogram != nil {
		t.Errorf("empty run: %+v", rep)
	}
	var buf bytes.Buffer
	writeText(&buf, rep)
	if !strings.Contains(buf.String(), "0 ops") {
		t.Errorf("text report: %q", buf.String())
	}
}

func TestWriteText(t *testing.T) {
	r := &recorder{}
	for i := 1; i <= 100; i++ {
		r.ok(time.Duration(i) * 100 * time.Microsecond)
	}
	rep := &Report{Workload: "get", Concurrency: 4, Conns: 1}
	summarize(rep, []*recorder{r}, time.Second)
	var buf bytes.Buffer
	writeText(&buf, rep)
	out := buf.String()
	for _, want := range []string{"workload get: 100 ops", "p50 5.000", "p99 9.900", "p99.9 10.000", "#"} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
}
