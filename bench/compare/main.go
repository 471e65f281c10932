// Command compare is `make bench-compare`: it builds real etcd (from the
// separate module in bench/etcd), kvd and kvload, starts a 3-member etcd and
// then a 3-member kvd on loopback in turn with the same flags and the data on
// the same disk, runs the same kvload workloads against each, and prints one
// table with kvd/etcd ratios, plus kvd with tracing on (100% sampled, file
// exporter) against kvd with tracing off.
//
//	go run ./bench/compare --reps 3 --duration 10s
//
// Every system runs once per repetition, in turn (etcd, kvd, kvd+trace, then
// again), so a change of load on the machine hits all of them; each cell of
// the table is the median over the repetitions.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kvtrace/kvtrace/internal/localcluster"
)

// scenario is one kvload run.
type scenario struct {
	Name string
	Args []string
}

// The workloads of issue 9, in the order they run on each cluster. Puts go
// to the leader (a follower would forward them: one more hop for both
// systems alike, but more variance); reads are spread over all members.
var scenarios = []scenario{
	{"put seq (1 client)", []string{"--workload", "put", "--concurrency", "1", "--conns", "1", "--target-leader"}},
	{"put 64", []string{"--workload", "put", "--concurrency", "64", "--conns", "8", "--target-leader"}},
	{"put 256", []string{"--workload", "put", "--concurrency", "256", "--conns", "16", "--target-leader"}},
	{"get linearizable 64", []string{"--workload", "get", "--consistency", "l", "--concurrency", "64", "--conns", "6", "--key-space", "1000"}},
	{"get serializable 64", []string{"--workload", "get", "--consistency", "s", "--concurrency", "64", "--conns", "6", "--key-space", "1000"}},
}

// system is one kind of cluster under test.
type system struct {
	Name  string
	bin   func(b *bins) string
	extra []string
}

var systems = []system{
	{"etcd", func(b *bins) string { return b.etcd }, nil},
	{"kvd", func(b *bins) string { return b.kvd }, nil},
	{"kvd+trace", func(b *bins) string { return b.kvd }, []string{"--trace"}},
	// base and base+trace run --baseline, a kvd built elsewhere (e.g. from
	// the commit before a change), for A/B figures of one change.
	{"base", func(b *bins) string { return b.base }, nil},
	{"base+trace", func(b *bins) string { return b.base }, []string{"--trace"}},
}

// commonArgs are given to every member of every system: etcd's defaults
// written out, so both run with the same raft timing and snapshot policy.
var commonArgs = []string{"--log-level", "warn", "--heartbeat-interval", "100", "--election-timeout", "1000", "--snapshot-count", "10000"}

type bins struct{ etcd, kvd, kvload, base string }

// result is one scenario on one system in one repetition (kvload's JSON
// report, the fields the table uses).
type result struct {
	Throughput float64 `json:"ops_per_sec"`
	P50        float64 `json:"p50_ms"`
	P99        float64 `json:"p99_ms"`
	P999       float64 `json:"p999_ms"`
	Ops        int     `json:"ops"`
	Errors     int     `json:"errors"`
	// CPUPerOp is the members' user+system CPU during this workload, in µs
	// per operation (bench/compare's measurement, not kvload's).
	CPUPerOp float64 `json:"cpu_us_per_op"`
}

// run is everything measured on one system in one repetition.
type run struct {
	Results map[string]result
	HWMKiB  int64   // largest VmHWM among the members
	CPUSec  float64 // user+system CPU of all members over the whole run
}

func main() {
	reps := flag.Int("reps", 3, "repetitions; each cell is the median")
	dur := flag.Duration("duration", 10*time.Second, "duration of each workload")
	dir := flag.String("dir", "", "where the members' data dirs go (default: a new dir under $TMPDIR); same disk for every system")
	only := flag.String("systems", "etcd,kvd,kvd+trace", "systems to run")
	etcdBin := flag.String("etcd", "", "a prebuilt etcd binary (default: build bench/etcd)")
	keep := flag.Bool("keep", false, "keep the data dirs (span files of kvd+trace for `tracer stats`)")
	jsonOut := flag.String("json", "", "also write every measurement to this file")
	baseline := flag.String("baseline", "", "a prebuilt kvd to compare with this tree's: runs as systems base and base+trace (add them to --systems), and an A/B table is printed")
	workloads := flag.String("workloads", "", "comma-separated workload names to run (default: all), e.g. 'put 64,put 256'")
	flag.Parse()

	if *workloads != "" {
		scenarios = pick("--workloads", *workloads, scenarios, func(sc scenario) string { return sc.Name })
	}
	sys := pick("--systems", *only, systems, func(s system) string { return s.Name })
	for _, s := range sys {
		if strings.HasPrefix(s.Name, "base") && *baseline == "" {
			fmt.Fprintln(os.Stderr, "compare: --systems names base, which needs --baseline PATH-TO-KVD")
			os.Exit(2)
		}
	}

	root, err := moduleRoot()
	check(err)
	work := *dir
	if work == "" {
		work, err = os.MkdirTemp("", "kvtrace-bench-")
		check(err)
	}
	check(os.MkdirAll(work, 0o755))
	if !*keep {
		defer os.RemoveAll(work)
	}
	b, err := build(root, filepath.Join(work, "bin"), *etcdBin, strings.Contains(*only, "etcd"))
	check(err)
	b.base = *baseline

	fmt.Printf("machine: %s, %d CPUs; load average at start: %s\n", cpuModel(), nproc(), loadAvg())
	runs := map[string][]run{}
	for rep := 1; rep <= *reps; rep++ {
		for _, s := range sys {
			d := filepath.Join(work, fmt.Sprintf("%s-%d", strings.ReplaceAll(s.Name, "+", "-"), rep))
			fmt.Printf("rep %d/%d: %s in %s\n", rep, *reps, s.Name, d)
			r, err := runSystem(s, b, d, *dur)
			check(err)
			runs[s.Name] = append(runs[s.Name], r)
			if !*keep {
				os.RemoveAll(d)
			}
		}
	}
	fmt.Printf("load average at end: %s\n\n", loadAvg())
	printTable(os.Stdout, runs, *reps, *dur)
	if *baseline != "" {
		fmt.Println()
		printAB(os.Stdout, runs)
	}
	if *jsonOut != "" {
		data, _ := json.MarshalIndent(runs, "", "  ")
		check(os.WriteFile(*jsonOut, data, 0o644))
	}
	if *keep {
		fmt.Printf("\ndata dirs kept in %s\n", work)
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-compare:", err)
		os.Exit(1)
	}
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("go list -m: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// build compiles kvd and kvload from the main module and etcd from
// bench/etcd, its own module (go.etcd.io/etcd/server/v3).
// pick returns the items of all named in the comma-separated list, in the
// list's order; an unknown name stops the program with the known ones.
func pick[T any](flagName, list string, all []T, name func(T) string) []T {
	var known []string
	var picked []T
	for _, it := range all {
		known = append(known, name(it))
	}
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		i := slices.Index(known, n)
		if i < 0 {
			fmt.Fprintf(os.Stderr, "compare: unknown name %q in %s; known: %s\n", n, flagName, strings.Join(known, ", "))
			os.Exit(2)
		}
		picked = append(picked, all[i])
	}
	return picked
}

func build(root, out, etcd string, needEtcd bool) (*bins, error) {
	b := &bins{etcd: etcd, kvd: filepath.Join(out, "kvd"), kvload: filepath.Join(out, "kvload")}
	steps := [][]string{{"go", "build", "-o", out + "/", "./cmd/kvd", "./cmd/kvload"}}
	if etcd == "" && needEtcd {
		b.etcd = filepath.Join(out, "etcd")
		steps = append(steps, []string{"go", "-C", "bench/etcd", "build", "-o", b.etcd, "."})
	}
	for _, s := range steps {
		fmt.Println("+", strings.Join(s, " "))
		cmd := exec.Command(s[0], s[1:]...)
		cmd.Dir = root
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("%s: %w", strings.Join(s, " "), err)
		}
	}
	return b, nil
}

// runSystem starts a fresh 3-member cluster of s, runs every scenario on it
// in order, and records the members' peak RSS and CPU time.
func runSystem(s system, b *bins, dir string, dur time.Duration) (run, error) {
	r := run{Results: map[string]result{}}
	c, err := localcluster.Start(localcluster.Config{
		Binary: s.bin(b), Dir: dir, Size: 3,
		ExtraArgs: append(append([]string(nil), commonArgs...), s.extra...),
	})
	if err != nil {
		return r, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.WaitLeader(ctx); err != nil {
		return r, err
	}
	eps := strings.Join(c.Endpoints(), ",")
	membersCPU := func() (float64, error) {
		sum := 0.0
		for _, m := range c.Members {
			st, err := procStatus(m.Pid())
			if err != nil {
				return 0, fmt.Errorf("%s: %w", m.Name, err)
			}
			sum += st.cpuSec
		}
		return sum, nil
	}
	for _, sc := range scenarios {
		args := append([]string{"--endpoints", eps, "--duration", dur.String(), "--json"}, sc.Args...)
		cpu0, err := membersCPU()
		if err != nil {
			return r, err
		}
		out, err := exec.Command(b.kvload, args...).Output()
		if err != nil {
			return r, fmt.Errorf("%s on %s: kvload %s: %w", sc.Name, s.Name, strings.Join(args, " "), err)
		}
		cpu1, err := membersCPU()
		if err != nil {
			return r, err
		}
		var res result
		if err := json.Unmarshal(out, &res); err != nil {
			return r, fmt.Errorf("%s on %s: kvload output: %w", sc.Name, s.Name, err)
		}
		if res.Ops > 0 {
			res.CPUPerOp = (cpu1 - cpu0) / float64(res.Ops) * 1e6
		}
		fmt.Printf("  %-22s %9.0f ops/s  p50 %7.3f ms  p99 %7.3f ms  errors %d  CPU %6.1f µs/op\n", sc.Name, res.Throughput, res.P50, res.P99, res.Errors, res.CPUPerOp)
		r.Results[sc.Name] = res
	}
	for _, m := range c.Members {
		st, err := procStatus(m.Pid())
		if err != nil {
			return r, fmt.Errorf("%s: %w", m.Name, err)
		}
		r.HWMKiB = max(r.HWMKiB, st.hwmKiB)
		r.CPUSec += st.cpuSec
	}
	return r, nil
}

type memberStat struct {
	hwmKiB int64
	cpuSec float64
}

// procStatus reads VmHWM (peak resident set) from /proc/PID/status and
// utime+stime from /proc/PID/stat.
func procStatus(pid int) (memberStat, error) {
	var st memberStat
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			st.hwmKiB, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return st, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	rest := string(data[strings.LastIndexByte(string(data), ')')+2:])
	fields := strings.Fields(rest)
	if len(fields) > 12 {
		ut, _ := strconv.ParseFloat(fields[11], 64)
		stime, _ := strconv.ParseFloat(fields[12], 64)
		st.cpuSec = (ut + stime) / 100 // USER_HZ is 100 on Linux
	}
	return st, nil
}

func cpuModel() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return "unknown CPU"
}

func nproc() int {
	out, err := exec.Command("nproc").Output()
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return n
}

func loadAvg() string {
	data, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
