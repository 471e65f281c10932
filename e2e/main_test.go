package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kvtrace/kvtrace/internal/localcluster"
)

var (
	kvdBin     string // built once per test run
	etcdctlBin string // the binary `go tool etcdctl` runs
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		// A child started by startHelper (concurrency_process_test.go): it
		// runs TestHelperProcess only and needs no kvd or etcdctl build.
		os.Exit(m.Run())
	}
	code := func() int {
		bin, cleanup, err := localcluster.BuildKVDForTests(raceEnabled)
		if err != nil {
			fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
			return 1
		}
		defer cleanup()
		kvdBin = bin
		// `go tool -n etcdctl` builds (or finds) the etcdctl pinned in go.mod
		// and prints its path, so tests run exactly what `go tool etcdctl` runs.
		out, err := exec.Command("go", "tool", "-n", "etcdctl").Output()
		if err != nil {
			fmt.Fprintf(os.Stderr, "e2e: go tool -n etcdctl failed: %v\n", err)
			return 1
		}
		etcdctlBin = strings.TrimSpace(string(out))
		return m.Run()
	}()
	os.Exit(code)
}

// baseArgs are the flags every test cluster gets: fast elections so tests
// are quick, info logs so a failure's log tail says what raft did.
var baseArgs = []string{"--heartbeat-interval", "50", "--election-timeout", "500", "--log-level", "info"}

// startCluster starts a cluster of real kvd processes and waits for a leader.
// Member logs are printed if the test fails.
func startCluster(t *testing.T, size int, extra ...string) *localcluster.Cluster {
	t.Helper()
	return startConfigured(t, localcluster.Config{Dir: keptDir(t), Size: size,
		ExtraArgs: append(append([]string(nil), baseArgs...), extra...)})
}

// startConfigured starts cfg (Binary defaults to the kvd built in TestMain),
// stops it at the end of the test printing each member's log tail if the
// test failed, and waits for a leader.
func startConfigured(t *testing.T, cfg localcluster.Config) *localcluster.Cluster {
	t.Helper()
	if cfg.Binary == "" {
		cfg.Binary = kvdBin
	}
	c, err := localcluster.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		if t.Failed() {
			for _, m := range c.Members {
				b, _ := os.ReadFile(m.LogPath)
				t.Logf("---- log of %s (%s) ----\n%s", m.Name, m.LogPath, tail(string(b), 60))
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

// keptDir returns a directory for a cluster's data dirs and logs that is
// removed when the test passes and KEPT (its path printed) when it fails,
// so a failure can be investigated afterwards.
func keptDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "kvtrace-"+strings.ReplaceAll(t.Name(), "/", "_")+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("data dirs, logs and span files kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	return dir
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
