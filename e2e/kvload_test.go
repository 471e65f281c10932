package e2e

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestKvloadReport runs cmd/kvload briefly against a real 3-member cluster,
// one workload of each kind, and checks its JSON report.
func TestKvloadReport(t *testing.T) {
	c := startCluster(t, 3)
	bin := filepath.Join(t.TempDir(), "kvload")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/kvtrace/kvtrace/cmd/kvload").CombinedOutput(); err != nil {
		t.Fatalf("building kvload: %v\n%s", err, out)
	}
	eps := strings.Join(c.Endpoints(), ",")
	for _, tc := range []struct {
		name string
		args []string
		ops  int
	}{
		{"put", []string{"--workload", "put", "--concurrency", "8", "--conns", "2", "--total", "200", "--target-leader"}, 200},
		{"get-linearizable", []string{"--workload", "get", "--consistency", "l", "--concurrency", "4", "--conns", "3", "--total", "100", "--key-space", "50"}, 100},
		{"get-serializable", []string{"--workload", "get", "--consistency", "s", "--concurrency", "4", "--conns", "3", "--total", "100", "--key-space", "50"}, 100},
		{"txn", []string{"--workload", "txn", "--concurrency", "4", "--total", "100", "--key-space", "20"}, 100},
		// 50 puts seen by 5 watchers: 250 events.
		{"watch", []string{"--workload", "watch", "--watchers", "5", "--conns", "2", "--concurrency", "2", "--total", "50", "--prefix", "w/"}, 250},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--endpoints", eps, "--json", "--duration", "60s", "--value-size", "64"}, tc.args...)
			out, err := exec.Command(bin, args...).Output()
			if err != nil {
				t.Fatalf("kvload %v: %v\n%s", args, err, out)
			}
			var rep struct {
				Workload   string  `json:"workload"`
				Ops        int     `json:"ops"`
				Errors     int     `json:"errors"`
				Throughput float64 `json:"ops_per_sec"`
				P50        float64 `json:"p50_ms"`
				P99        float64 `json:"p99_ms"`
				P999       float64 `json:"p999_ms"`
				Histogram  []struct {
					Count int `json:"count"`
				} `json:"histogram"`
			}
			if err := json.Unmarshal(out, &rep); err != nil {
				t.Fatalf("report is not JSON: %v\n%s", err, out)
			}
			if rep.Workload != tc.name || rep.Ops != tc.ops || rep.Errors != 0 {
				t.Errorf("workload %q ops %d errors %d, want %q %d 0", rep.Workload, rep.Ops, rep.Errors, tc.name, tc.ops)
			}
			if rep.Throughput <= 0 || rep.P50 <= 0 || rep.P50 > rep.P99 || rep.P99 > rep.P999 {
				t.Errorf("throughput %v p50 %v p99 %v p99.9 %v", rep.Throughput, rep.P50, rep.P99, rep.P999)
			}
			n := 0
			for _, b := range rep.Histogram {
				n += b.Count
			}
			if n != rep.Ops {
				t.Errorf("histogram holds %d ops, report %d", n, rep.Ops)
			}
		})
	}
}
