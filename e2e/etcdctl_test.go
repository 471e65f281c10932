package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// etcdctl runs the pinned etcdctl against the cluster and returns stdout.
func etcdctl(t *testing.T, endpoints []string, stdin string, args ...string) string {
	t.Helper()
	full := append([]string{"--endpoints=" + strings.Join(endpoints, ","), "--command-timeout=20s"}, args...)
	cmd := exec.Command(etcdctlBin, full...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("etcdctl %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// getJSON is the part of `etcdctl get -w json` the test reads.
type getJSON struct {
	Header struct {
		Revision int64 `json:"revision"`
	} `json:"header"`
	Kvs []struct {
		Key         string `json:"key"`
		Value       string `json:"value"`
		ModRevision int64  `json:"mod_revision"`
		Version     int64  `json:"version"`
	} `json:"kvs"`
	Count int64 `json:"count"`
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestEtcdctl drives kvd with the real etcdctl: put, get --prefix/--rev/-w
// json, del, txn from stdin and compaction.
func TestEtcdctl(t *testing.T) {
	c := startCluster(t, 3)
	eps := c.Endpoints()
	_ = testCtx(t, time.Minute)

	if out := etcdctl(t, eps, "", "put", "foo", "bar"); strings.TrimSpace(out) != "OK" {
		t.Fatalf("put printed %q, want OK", out)
	}
	etcdctl(t, eps, "", "put", "foo", "baz")
	for i := 0; i < 3; i++ {
		etcdctl(t, eps, "", "put", fmt.Sprintf("dir/%d", i), fmt.Sprint("v", i))
	}

	out := etcdctl(t, eps, "", "get", "dir/", "--prefix")
	if want := "dir/0\nv0\ndir/1\nv1\ndir/2\nv2\n"; out != want {
		t.Fatalf("get --prefix printed %q, want %q", out, want)
	}

	var g getJSON
	if err := json.Unmarshal([]byte(etcdctl(t, eps, "", "get", "foo", "-w", "json")), &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Kvs) != 1 || g.Kvs[0].Value != b64("baz") || g.Kvs[0].Version != 2 {
		t.Fatalf("get -w json: %+v", g)
	}
	firstRev := g.Kvs[0].ModRevision - 1 // the revision of `put foo bar`
	if out := etcdctl(t, eps, "", "get", "foo", "--rev", fmt.Sprint(firstRev), "--print-value-only"); strings.TrimSpace(out) != "bar" {
		t.Fatalf("get --rev %d printed %q, want bar", firstRev, out)
	}

	// Non-interactive txn: compares, blank line, success ops, blank line,
	// failure ops (etcdctl/ctlv3/command/txn_command.go reads this format).
	txn := "value(\"foo\") = \"baz\"\n\nput foo qux\nget dir/1\n\nput foo failed\n\n"
	out = etcdctl(t, eps, txn, "txn")
	if !strings.HasPrefix(out, "SUCCESS") || !strings.Contains(out, "dir/1\nv1") {
		t.Fatalf("txn printed %q", out)
	}
	if out := etcdctl(t, eps, "", "get", "foo", "--print-value-only"); strings.TrimSpace(out) != "qux" {
		t.Fatalf("after txn foo = %q, want qux", out)
	}

	if out := etcdctl(t, eps, "", "del", "dir/", "--prefix"); strings.TrimSpace(out) != "3" {
		t.Fatalf("del --prefix printed %q, want 3", out)
	}

	if err := json.Unmarshal([]byte(etcdctl(t, eps, "", "get", "foo", "-w", "json")), &g); err != nil {
		t.Fatal(err)
	}
	out = etcdctl(t, eps, "", "compaction", fmt.Sprint(g.Header.Revision))
	if strings.TrimSpace(out) != fmt.Sprintf("compacted revision %d", g.Header.Revision) {
		t.Fatalf("compaction printed %q", out)
	}
	cmd := exec.Command(etcdctlBin, "--endpoints="+strings.Join(eps, ","), "get", "foo", "--rev", fmt.Sprint(firstRev))
	b, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(b), "required revision has been compacted") {
		t.Fatalf("get at compacted revision: err=%v output=%q", err, b)
	}
}
