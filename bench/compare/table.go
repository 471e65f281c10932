package main

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// median of the values f picks from each run (0 when there are none).
func median(runs []run, f func(run) float64) float64 {
	if len(runs) == 0 {
		return 0
	}
	xs := make([]float64, len(runs))
	for i, r := range runs {
		xs[i] = f(r)
	}
	slices.Sort(xs)
	if len(xs)%2 == 1 {
		return xs[len(xs)/2]
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
}

func ratio(a, b float64) string {
	if a == 0 || b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

// printTable prints the medians: per scenario throughput and p50/p99 for
// etcd and kvd with kvd/etcd ratios, kvd+trace/kvd throughput; then peak
// RSS and CPU; then the targets of issue 9, each met or missed.
func printTable(w io.Writer, runs map[string][]run, reps int, dur time.Duration) {
	e, k, kt := runs["etcd"], runs["kvd"], runs["kvd+trace"]
	fmt.Fprintf(w, "medians of %d runs, %v per workload, 3 members on loopback, 256 B values\n\n", reps, dur)
	fmt.Fprintf(w, "| workload | etcd ops/s | kvd ops/s | kvd/etcd | etcd p50 ms | kvd p50 ms | kvd/etcd | etcd p99 ms | kvd p99 ms | kvd/etcd | kvd+trace ops/s | trace on/off |\n")
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	cell := func(runs []run, sc string, f func(result) float64) float64 {
		return median(runs, func(r run) float64 { return f(r.Results[sc]) })
	}
	tput := func(x result) float64 { return x.Throughput }
	p50 := func(x result) float64 { return x.P50 }
	p99 := func(x result) float64 { return x.P99 }
	for _, sc := range scenarios {
		et, kt2, tt := cell(e, sc.Name, tput), cell(k, sc.Name, tput), cell(kt, sc.Name, tput)
		e50, k50 := cell(e, sc.Name, p50), cell(k, sc.Name, p50)
		e99, k99 := cell(e, sc.Name, p99), cell(k, sc.Name, p99)
		fmt.Fprintf(w, "| %s | %.0f | %.0f | %s | %.3f | %.3f | %s | %.3f | %.3f | %s | %.0f | %s |\n",
			sc.Name, et, kt2, ratio(kt2, et), e50, k50, ratio(k50, e50), e99, k99, ratio(k99, e99), tt, ratio(tt, kt2))
	}
	hwm := func(r run) float64 { return float64(r.HWMKiB) / 1024 }
	cpu := func(r run) float64 { return r.CPUSec }
	fmt.Fprintf(w, "| peak RSS MiB (largest member, VmHWM) | %.1f | %.1f | %s | | | | | | | %.1f | %s |\n",
		median(e, hwm), median(k, hwm), ratio(median(k, hwm), median(e, hwm)), median(kt, hwm), ratio(median(kt, hwm), median(k, hwm)))
	fmt.Fprintf(w, "| CPU s, all members, whole run | %.1f | %.1f | %s | | | | | | | %.1f | %s |\n",
		median(e, cpu), median(k, cpu), ratio(median(k, cpu), median(e, cpu)), median(kt, cpu), ratio(median(kt, cpu), median(k, cpu)))

	// CPU per operation moves less than throughput when the machine is
	// shared, and says what tracing costs directly.
	cpuOp := func(x result) float64 { return x.CPUPerOp }
	fmt.Fprintf(w, "\n| workload | etcd CPU µs/op | kvd CPU µs/op | kvd/etcd | kvd+trace CPU µs/op | trace on/off |\n|---|---:|---:|---:|---:|---:|\n")
	for _, sc := range scenarios {
		ec, kc, tc := cell(e, sc.Name, cpuOp), cell(k, sc.Name, cpuOp), cell(kt, sc.Name, cpuOp)
		fmt.Fprintf(w, "| %s | %.1f | %.1f | %s | %.1f | %s |\n", sc.Name, ec, kc, ratio(kc, ec), tc, ratio(tc, kc))
	}

	if len(e) == 0 || len(k) == 0 {
		return
	}
	fmt.Fprintf(w, "\ntargets (issue 9):\n")
	target := func(name string, got, want float64, atLeast bool) {
		ok := got >= want
		if !atLeast {
			ok = got <= want
		}
		verdict := "met"
		if !ok {
			verdict = "MISSED"
		}
		op := ">="
		if !atLeast {
			op = "<="
		}
		fmt.Fprintf(w, "  %-52s %6.2fx (want %s %.1fx)  %s\n", name, got, op, want, verdict)
	}
	rt := func(sc string, f func(result) float64, a, b []run) float64 {
		x, y := cell(a, sc, f), cell(b, sc, f)
		if y == 0 {
			return 0
		}
		return x / y
	}
	target("put 64 throughput kvd/etcd", rt("put 64", tput, k, e), 1.2, true)
	target("put 256 throughput kvd/etcd", rt("put 256", tput, k, e), 1.2, true)
	target("sequential put p50 kvd/etcd", rt("put seq (1 client)", p50, k, e), 0.7, false)
	target("sequential put p99 kvd/etcd", rt("put seq (1 client)", p99, k, e), 0.8, false)
	target("linearizable get 64 throughput kvd/etcd", rt("get linearizable 64", tput, k, e), 1.2, true)
	target("serializable get 64 throughput kvd/etcd", rt("get serializable 64", tput, k, e), 1.0, true)
	if len(kt) > 0 {
		for _, sc := range []string{"put 64", "put 256"} {
			target(sc+" throughput tracing on/off", rt(sc, tput, kt, k), 0.9, true)
		}
	}
	target("peak RSS kvd/etcd", median(k, hwm)/median(e, hwm), 1.0, false)
}

// printAB prints this tree's kvd against --baseline (systems kvd vs base,
// kvd+trace vs base+trace): median throughput and p50 per workload, and CPU
// seconds per 1 000 operations over the whole run.
func printAB(w io.Writer, runs map[string][]run) {
	pairs := [][2]string{{"kvd", "base"}, {"kvd+trace", "base+trace"}}
	fmt.Fprintf(w, "| workload | system | base ops/s | this ops/s | this/base | base p50 ms | this p50 ms | this/base |\n")
	fmt.Fprintf(w, "|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, sc := range scenarios {
		for _, p := range pairs {
			a, b := runs[p[0]], runs[p[1]]
			if len(a) == 0 || len(b) == 0 {
				continue
			}
			at := median(a, func(r run) float64 { return r.Results[sc.Name].Throughput })
			bt := median(b, func(r run) float64 { return r.Results[sc.Name].Throughput })
			a50 := median(a, func(r run) float64 { return r.Results[sc.Name].P50 })
			b50 := median(b, func(r run) float64 { return r.Results[sc.Name].P50 })
			fmt.Fprintf(w, "| %s | %s | %.0f | %.0f | %s | %.3f | %.3f | %s |\n", sc.Name, p[0], bt, at, ratio(at, bt), b50, a50, ratio(a50, b50))
		}
	}
	// CPU per operation is steadier than throughput on a shared machine:
	// it does not move when another process takes the CPU away.
	for _, sc := range scenarios {
		for _, p := range pairs {
			a, b := runs[p[0]], runs[p[1]]
			if len(a) == 0 || len(b) == 0 {
				continue
			}
			ac := median(a, func(r run) float64 { return r.Results[sc.Name].CPUPerOp })
			bc := median(b, func(r run) float64 { return r.Results[sc.Name].CPUPerOp })
			fmt.Fprintf(w, "| %s: CPU µs per op, all members | %s | %.1f | %.1f | %s | | | |\n", sc.Name, p[0], bc, ac, ratio(ac, bc))
		}
	}
	perOp := func(r run) float64 {
		ops := 0
		for _, res := range r.Results {
			ops += res.Ops
		}
		if ops == 0 {
			return 0
		}
		return r.CPUSec / float64(ops) * 1e6
	}
	for _, p := range pairs {
		a, b := runs[p[0]], runs[p[1]]
		if len(a) == 0 || len(b) == 0 {
			continue
		}
		fmt.Fprintf(w, "| CPU us per op, all members, all workloads | %s | %.0f | %.0f | %s | | | |\n", p[0], median(b, perOp), median(a, perOp), ratio(median(a, perOp), median(b, perOp)))
	}
}
