package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kvtrace/kvtrace/internal/localcluster"
)

// TestAdminSurfacesOffByDefault: without --admin-addr and --failpoint-addr
// kvd serves no fault, failpoint or profiler endpoint on its client port.
func TestAdminSurfacesOffByDefault(t *testing.T) {
	c := startCluster(t, 1)
	for _, path := range []string{"/faults", "/debug/pprof/", "/raftBeforeSave", "/"} {
		resp, err := http.Get(c.Members[0].ClientURL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s on the client port: %s %q, want 404", path, resp.Status, b)
		}
	}
}

// TestAdminSurfacesLoopbackOnly: --admin-addr and --failpoint-addr on a
// non-loopback address make kvd refuse to start, saying why.
func TestAdminSurfacesLoopbackOnly(t *testing.T) {
	ports, err := localcluster.FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	for _, flag := range []string{"--admin-addr", "--failpoint-addr"} {
		for _, addr := range []string{"0.0.0.0", "[::]"} {
			dir := t.TempDir()
			cu := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
			pu := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			out, err := exec.CommandContext(ctx, kvdBin, "--name", "m1", "--data-dir", dir+"/m1.kvd",
				"--listen-client-urls", cu, "--advertise-client-urls", cu,
				"--listen-peer-urls", pu, "--initial-advertise-peer-urls", pu,
				flag, fmt.Sprintf("%s:%d", addr, ports[2])).CombinedOutput()
			timedOut := ctx.Err() != nil
			cancel()
			if timedOut || err == nil {
				t.Errorf("kvd %s %s:%d started (want a refusal):\n%s", flag, addr, ports[2], tail(string(out), 5))
				continue
			}
			if !strings.Contains(string(out), "loopback") {
				t.Errorf("kvd %s %s: the error does not say loopback:\n%s", flag, addr, tail(string(out), 5))
			}
		}
	}
}
