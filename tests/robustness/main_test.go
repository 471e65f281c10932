package robustness

import (
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/kvtrace/kvtrace/internal/localcluster"
)

var (
	// rounds is the number of fault rounds per cluster size. The default is
	// the short run `go test ./...` and CI do; `make test-robustness` asks
	// for a long one.
	rounds    = flag.Int("robustness.rounds", 0, "fault rounds per cluster (0: the short run, 6 on 3 members and 3 on 1)")
	seed      = flag.Int64("robustness.seed", 0, "seed of the fault schedule and the request mix (0: from the clock; printed)")
	clients   = flag.Int("robustness.clients", 4, "concurrent clients")
	keepAll   = flag.Bool("robustness.keep", false, "keep the run directory (data dirs, logs, history, visualization) even when it passes")
	checkTime = flag.Duration("robustness.check-timeout", 3*time.Minute, "porcupine's time limit; past it the result is Unknown (reported, not a failure)")
)

var kvdBin string // built once per test run

func TestMain(m *testing.M) {
	flag.Parse()
	code := func() int {
		bin, cleanup, err := localcluster.BuildKVDForTests(raceEnabled)
		if err != nil {
			fmt.Fprintf(os.Stderr, "robustness: %v\n", err)
			return 1
		}
		defer cleanup()
		kvdBin = bin
		return m.Run()
	}()
	os.Exit(code)
}
