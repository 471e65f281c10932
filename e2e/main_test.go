package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
	dir, err := os.MkdirTemp("", "kvtrace-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		kvdBin = filepath.Join(dir, "kvd")
		args := []string{"build", "-o", kvdBin}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "github.com/kvtrace/kvtrace/cmd/kvd")
		if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: building kvd failed: %v\n%s", err, out)
			return 1
		}
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

// startCluster starts a cluster of real kvd processes and waits for a leader.
// Member logs are printed if the test fails.
func startCluster(t *testing.T, size int, extra ...string) *localcluster.Cluster {
	t.Helper()
	dir := keptDir(t)
	args := append([]string{"--heartbeat-interval", "50", "--election-timeout", "500", "--log-level", "info"}, extra...)
	c, err := localcluster.Start(localcluster.Config{Binary: kvdBin, Dir: dir, Size: size, ExtraArgs: args})
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
