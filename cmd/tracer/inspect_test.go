package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kvtrace/kvtrace/internal/inspect"
	"github.com/kvtrace/kvtrace/internal/localcluster"
)

// The inspect fixture is a real member's files: TestInspectLive starts a
// 1-member cluster, makes writeSequence's writes, stops it cleanly and (with
// -update) copies m1.kvd's wal and db here, the WAL segment cut at the end
// of its last record. The golden tests below read it, so they are exact and
// fast; TestInspectLive checks on every run that today's kvd still writes
// what the fixture holds.
var inspectFixture = filepath.Join("testdata", "inspect", "m1-data") // not *.kvd: .gitignore

func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// writeSequence is the fixed workload behind the fixture.
func writeSequence(ctx context.Context, t *testing.T, cli *clientv3.Client) {
	t.Helper()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(cli.Put(ctx, "a", "1")) // rev 2
	must(cli.Put(ctx, "b", "2")) // rev 3
	must(cli.Put(ctx, "a", "3")) // rev 4: a version 2
	must(cli.Delete(ctx, "b"))   // rev 5: tombstone
	must(cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision("a"), ">", 0)).
		Then(clientv3.OpPut("c", "4"), clientv3.OpPut("d", "5")).
		Else(clientv3.OpPut("c", "x")).Commit()) // rev 6: two subs
	must(cli.Compact(ctx, 3, clientv3.WithCompactPhysical()))
	must(cli.Put(ctx, "b", "7")) // rev 7: a new generation of b
}

func buildKVD(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "kvd")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/kvtrace/kvtrace/cmd/kvd").CombinedOutput()
	if err != nil {
		t.Fatalf("building kvd: %v\n%s", err, out)
	}
	return bin
}

func TestInspectLive(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real kvd")
	}
	bin := buildKVD(t)
	dir := t.TempDir()
	c, err := localcluster.Start(localcluster.Config{Binary: bin, Dir: dir, Size: 1,
		ExtraArgs: []string{"--heartbeat-interval", "50", "--election-timeout", "500", "--log-level", "warn", "--trace"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := c.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	writeSequence(ctx, t, cli)
	cli.Close()
	m := c.Members[0]
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	if updating() {
		copyFixture(t, m.DataDir, inspectFixture)
	}
	// The decoded requests, without the run's ids, must be the fixture's.
	live, fix := normalOps(t, m.DataDir), normalOps(t, inspectFixture)
	if live != fix {
		t.Fatalf("today's kvd writes different entries than the fixture (regenerate with -update):\nlive:\n%s\nfixture:\n%s", live, fix)
	}
	// The db of the live run decodes to the same keys as the fixture's.
	if a, b := mustRun(t, "db", "--rev", "7", m.DataDir), mustRun(t, "db", "--rev", "7", inspectFixture); keysOnly(a) != keysOnly(b) {
		t.Fatalf("live db differs from the fixture:\n%s\nfixture:\n%s", a, b)
	}
}

// runIDs are what differs between two runs of the same writes: request,
// trace, lease and member ids, and ports.
var runIDs = regexp.MustCompile(`(id=|trace=|lease=|member_ID:|127\.0\.0\.1:)[0-9a-f]+`)

func normalOps(t *testing.T, dataDir string) string {
	out := mustRun(t, "wal", "--entry-type", "normal", dataDir)
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if _, rest, ok := strings.Cut(l, " normal "); ok {
			lines = append(lines, runIDs.ReplaceAllString(rest, "$1=X"))
		}
	}
	return strings.Join(lines, "\n")
}

func keysOnly(dbOut string) string {
	_, keys, _ := strings.Cut(dbOut, "keys live at")
	keys, _, _ = strings.Cut(keys, "\n\n")
	return keys
}

// copyFixture copies the member's db and WAL; the preallocated segment is cut
// after its last record (an exact end of file at a frame boundary ends a
// segment, internal/wal doc.go).
func copyFixture(t *testing.T, dataDir, dst string) {
	t.Helper()
	if err := os.RemoveAll(dst); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dst, "wal"), 0o755); err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(filepath.Join(dataDir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, "db"), db, 0o644); err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(dataDir, "wal", "*.wal"))
	for _, s := range segs {
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		end := len(bytes.TrimRight(b, "\x00"))
		end = (end + 7) &^ 7
		if err := os.WriteFile(filepath.Join(dst, "wal", filepath.Base(s)), b[:end], 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWALGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"all", nil},
		{"range", []string{"--start-index", "4", "--end-index", "6"}},
		{"confchange", []string{"--entry-type", "conf-change"}},
		{"json", []string{"--json", "--start-index", "3", "--end-index", "3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{"wal"}, tc.args...), inspectFixture)
			golden.RequireEqual(t, []byte(mustRun(t, args...)))
		})
	}
}

func TestDBGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"all", nil},
		{"rev4", []string{"--rev", "4"}},
		{"rev7", []string{"--rev", "7"}},
		{"json", []string{"--json", "--rev", "6"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{"db"}, tc.args...), filepath.Join(inspectFixture, "db"))
			golden.RequireEqual(t, []byte(mustRun(t, args...)))
		})
	}
}

func TestInspectErrors(t *testing.T) {
	if _, errOut, code := tracer(t, "db", "--rev", "2", inspectFixture); code != 1 || !strings.Contains(errOut, "compacted") {
		t.Errorf("db --rev below the compaction: exit %d, %q", code, errOut)
	}
	if _, errOut, code := tracer(t, "wal", "--entry-type", "bogus", inspectFixture); code != 1 || !strings.Contains(errOut, "normal") {
		t.Errorf("bad --entry-type: exit %d, %q", code, errOut)
	}
	if _, errOut, code := tracer(t, "wal", t.TempDir()); code != 1 || errOut == "" {
		t.Errorf("empty dir: exit %d, %q", code, errOut)
	}
}

// TestDBLocked holds the db the way a running kvd does (bbolt's exclusive
// flock) and expects a clear error after the timeout instead of a hang.
func TestDBLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	src, err := os.Open(filepath.Join(inspectFixture, "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	dst.Close()
	holder, err := lockExclusive(path)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	_, err = inspect.OpenDB(path, 200*time.Millisecond)
	if !errors.Is(err, inspect.ErrDBLocked) {
		t.Fatalf("OpenDB on a locked file: %v, want ErrDBLocked", err)
	}
	if _, errOut, code := tracer(t, "db", "--timeout", "200ms", path); code != 1 || !strings.Contains(errOut, "locked") {
		t.Errorf("tracer db on a locked file: exit %d, %q", code, errOut)
	}
}
