package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// recorder collects one worker's latencies; a worker owns its recorder, so
// recording takes no lock. merge combines them once the run is over.
type recorder struct {
	lat    []time.Duration
	errors int
	kinds  map[string]int // error message -> count, at most maxErrorKinds messages
}

// maxErrorKinds bounds the distinct error messages a report keeps.
const maxErrorKinds = 8

func (r *recorder) ok(d time.Duration) { r.lat = append(r.lat, d) }

// fail counts a failed request and remembers its message.
func (r *recorder) fail(err error) {
	r.errors++
	msg := "unknown error"
	if err != nil {
		msg = err.Error()
	}
	if r.kinds == nil {
		r.kinds = map[string]int{}
	}
	if _, ok := r.kinds[msg]; ok || len(r.kinds) < maxErrorKinds {
		r.kinds[msg]++
	}
}

// Report is what kvload prints (text) or writes as one JSON object (--json).
// Latencies are in milliseconds.
type Report struct {
	Workload    string   `json:"workload"`
	Endpoints   []string `json:"endpoints"`
	Concurrency int      `json:"concurrency"`
	Conns       int      `json:"conns"`
	ValueSize   int      `json:"value_size"`
	KeySpace    int      `json:"key_space"`

	Ops    int `json:"ops"`
	Errors int `json:"errors"`
	// ErrorKinds counts the failed requests by error message (at most
	// maxErrorKinds messages; Errors counts them all). Requests cut short
	// by the end of the run are not errors.
	ErrorKinds map[string]int `json:"error_kinds,omitempty"`
	Seconds    float64        `json:"seconds"`
	Throughput float64        `json:"ops_per_sec"`

	MinMs  float64 `json:"min_ms"`
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p999_ms"`
	MaxMs  float64 `json:"max_ms"`

	Histogram []Bucket `json:"histogram"`
}

// Bucket counts the latencies in (previous bucket's UpToMs, UpToMs].
type Bucket struct {
	UpToMs float64 `json:"le_ms"`
	Count  int     `json:"count"`
}

// summarize fills the latency and throughput fields of rep from the
// recorders of one run that took elapsed.
func summarize(rep *Report, recs []*recorder, elapsed time.Duration) {
	var all []time.Duration
	for _, r := range recs {
		all = append(all, r.lat...)
		rep.Errors += r.errors
		for msg, c := range r.kinds {
			if rep.ErrorKinds == nil {
				rep.ErrorKinds = map[string]int{}
			}
			if _, ok := rep.ErrorKinds[msg]; ok || len(rep.ErrorKinds) < maxErrorKinds {
				rep.ErrorKinds[msg] += c
			}
		}
	}
	rep.Ops = len(all)
	rep.Seconds = elapsed.Seconds()
	if rep.Seconds > 0 {
		rep.Throughput = float64(rep.Ops) / rep.Seconds
	}
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	var sum time.Duration
	for _, d := range all {
		sum += d
	}
	rep.MinMs = ms(all[0])
	rep.MaxMs = ms(all[len(all)-1])
	rep.MeanMs = ms(sum / time.Duration(len(all)))
	rep.P50Ms = ms(percentile(all, 50))
	rep.P90Ms = ms(percentile(all, 90))
	rep.P99Ms = ms(percentile(all, 99))
	rep.P999Ms = ms(percentile(all, 99.9))
	rep.Histogram = histogram(all)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// percentile returns the nearest-rank percentile p (0 < p <= 100) of the
// sorted slice: the smallest value with at least p% of the values at or
// below it.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// The epsilon keeps 99.9/100*1000 (999.0000000000001) at rank 999.
	rank := int(math.Ceil(p*float64(len(sorted))/100 - 1e-9))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// histogram buckets sorted latencies on a 1-2-5 series of upper bounds
// from 10µs up, dropping empty buckets at both ends.
func histogram(sorted []time.Duration) []Bucket {
	var bounds []time.Duration
	for b := 10 * time.Microsecond; ; b *= 10 {
		bounds = append(bounds, b, 2*b, 5*b)
		if 5*b >= sorted[len(sorted)-1] {
			break
		}
	}
	out := make([]Bucket, 0, len(bounds))
	i := 0
	for _, b := range bounds {
		n := 0
		for i < len(sorted) && sorted[i] <= b {
			i++
			n++
		}
		out = append(out, Bucket{UpToMs: ms(b), Count: n})
	}
	lo, hi := 0, len(out)
	for lo < hi && out[lo].Count == 0 {
		lo++
	}
	for hi > lo && out[hi-1].Count == 0 {
		hi--
	}
	return out[lo:hi]
}

// writeText prints rep for a terminal: a summary, the percentiles and the
// histogram with bars scaled to the fullest bucket.
func writeText(w io.Writer, rep *Report) {
	fmt.Fprintf(w, "workload %s: %d ops, %d errors in %.2fs, %.1f ops/s (concurrency %d, conns %d, value %d B, key space %d)\n",
		rep.Workload, rep.Ops, rep.Errors, rep.Seconds, rep.Throughput, rep.Concurrency, rep.Conns, rep.ValueSize, rep.KeySpace)
	kinds := make([]string, 0, len(rep.ErrorKinds))
	for msg := range rep.ErrorKinds {
		kinds = append(kinds, msg)
	}
	slices.Sort(kinds)
	for _, msg := range kinds {
		fmt.Fprintf(w, "  error x%d: %s\n", rep.ErrorKinds[msg], msg)
	}
	if rep.Ops == 0 {
		return
	}
	fmt.Fprintf(w, "latency ms: min %.3f  mean %.3f  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n",
		rep.MinMs, rep.MeanMs, rep.P50Ms, rep.P90Ms, rep.P99Ms, rep.P999Ms, rep.MaxMs)
	peak := 0
	for _, b := range rep.Histogram {
		peak = max(peak, b.Count)
	}
	const width = 40
	for _, b := range rep.Histogram {
		bar := 0
		if peak > 0 {
			bar = (b.Count*width + peak - 1) / peak
		}
		fmt.Fprintf(w, "  <= %9.3f ms %8d %5.1f%% %s\n", b.UpToMs, b.Count,
			100*float64(b.Count)/float64(rep.Ops), strings.Repeat("#", bar))
	}
}
