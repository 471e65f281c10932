package e2e

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kvtrace/kvtrace/internal/localcluster"
)

// BenchmarkPutTracing measures put throughput on a 3-member cluster of real
// processes with tracing off and on (100% sampled, file exporter), 32
// concurrent clients, 256-byte values, and prints the on/off ratio:
//
//	go test -run '^$' -bench PutTracing -benchtime 5000x ./e2e/
func BenchmarkPutTracing(b *testing.B) {
	perSec := map[string]float64{}
	for _, mode := range []string{"off", "on"} {
		b.Run(mode, func(b *testing.B) {
			args := []string{"--log-level", "warn"}
			if mode == "on" {
				args = append(args, "--trace")
			}
			c, err := localcluster.Start(localcluster.Config{Binary: kvdBin, Dir: b.TempDir(), Size: 3, ExtraArgs: args})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			if _, err := c.WaitLeader(ctx); err != nil {
				b.Fatal(err)
			}
			cli, err := c.Client()
			if err != nil {
				b.Fatal(err)
			}
			defer cli.Close()
			val := string(make([]byte, 256))
			var n atomic.Int64
			b.SetParallelism(16) // 16 x GOMAXPROCS(2) = 32 clients
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					k := fmt.Sprintf("bench/%d", n.Add(1)%10000)
					if _, err := cli.Put(ctx, k, val); err != nil {
						b.Error(err)
						return
					}
				}
			})
			elapsed := time.Since(start)
			perSec[mode] = float64(b.N) / elapsed.Seconds()
			b.ReportMetric(perSec[mode], "puts/s")
		})
	}
	if perSec["off"] > 0 && perSec["on"] > 0 {
		b.Logf("tracing on/off throughput ratio: %.3f (%.0f vs %.0f puts/s)", perSec["on"]/perSec["off"], perSec["on"], perSec["off"])
	}
}
