package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestEtcdctlWatchAndLease drives watch --rev and the lease commands with
// the real etcdctl and compares their output with etcd's formats
// (etcdctl/ctlv3/command/printer_simple.go).
func TestEtcdctlWatchAndLease(t *testing.T) {
	c := startCluster(t, 3)
	eps := c.Endpoints()
	ctx := testCtx(t, time.Minute)

	etcdctl(t, eps, "", "put", "wk", "v1")
	var g getJSON
	if err := json.Unmarshal([]byte(etcdctl(t, eps, "", "get", "wk", "-w", "json")), &g); err != nil {
		t.Fatal(err)
	}
	etcdctl(t, eps, "", "put", "wk", "v2")
	etcdctl(t, eps, "", "del", "wk")

	// watch --rev: history, then a live event; etcdctl runs until killed.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(wctx, etcdctlBin, "--endpoints="+strings.Join(eps, ","), "watch", "wk", fmt.Sprintf("--rev=%d", g.Header.Revision))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); cmd.Wait() }()
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	readLines := func(n int) []string {
		var got []string
		for len(got) < n {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("etcdctl watch ended after %q", got)
				}
				got = append(got, l)
			case <-ctx.Done():
				t.Fatalf("etcdctl watch printed only %q", got)
			}
		}
		return got
	}
	// A DELETE prints the key and an empty value line.
	if got, want := readLines(9), []string{"PUT", "wk", "v1", "PUT", "wk", "v2", "DELETE", "wk", ""}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("watch --rev printed %q, want %q", got, want)
	}
	etcdctl(t, eps, "", "put", "wk", "live")
	if got, want := readLines(3), []string{"PUT", "wk", "live"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("live watch printed %q, want %q", got, want)
	}
	cancel()

	// Lease commands.
	grant := etcdctl(t, eps, "", "lease", "grant", "300")
	m := regexp.MustCompile(`^lease ([0-9a-f]{16}) granted with TTL\(300s\)\n$`).FindStringSubmatch(grant)
	if m == nil {
		t.Fatalf("lease grant printed %q", grant)
	}
	id := m[1]
	etcdctl(t, eps, "", "put", "leased", "v", "--lease="+id)
	if out := etcdctl(t, eps, "", "lease", "keep-alive", "--once", id); out != fmt.Sprintf("lease %s keepalived with TTL(300)\n", id) {
		t.Fatalf("keep-alive --once printed %q", out)
	}
	out2 := etcdctl(t, eps, "", "lease", "timetolive", id, "--keys")
	if !regexp.MustCompile(`^lease ` + id + ` granted with TTL\(300s\), remaining\((29[0-9]|300)s\), attached keys\(\[leased\]\)\n$`).MatchString(out2) {
		t.Fatalf("timetolive --keys printed %q", out2)
	}
	if out := etcdctl(t, eps, "", "lease", "list"); out != fmt.Sprintf("found 1 leases\n%s\n", id) {
		t.Fatalf("lease list printed %q", out)
	}
	if out := etcdctl(t, eps, "", "lease", "revoke", id); out != fmt.Sprintf("lease %s revoked\n", id) {
		t.Fatalf("lease revoke printed %q", out)
	}
	if out := etcdctl(t, eps, "", "get", "leased"); out != "" {
		t.Fatalf("key of the revoked lease: %q", out)
	}
	if out := etcdctl(t, eps, "", "lease", "timetolive", id); out != fmt.Sprintf("lease %s already expired\n", id) {
		t.Fatalf("timetolive of a revoked lease printed %q", out)
	}
}

// TestJSONGateway runs the README's curl line against a member's client
// port (the same port that serves gRPC) and the other gateway endpoints.
func TestJSONGateway(t *testing.T) {
	c := startCluster(t, 3)
	ep := c.Members[0].ClientURL
	ctx := testCtx(t, time.Minute)

	// The exact line from the issue, with the test's port.
	out, err := exec.CommandContext(ctx, "curl", "-sS", "-L", ep+"/v3/kv/put", "-X", "POST", "-d", `{"key": "Zm9v", "value": "YmFy"}`).Output()
	if err != nil {
		t.Fatalf("curl: %v", err)
	}
	// etcd answers {"header":{"cluster_id":"…","member_id":"…","revision":"2","raft_term":"…"}}
	// (protojson, which etcd's gateway also uses, may put a space after a
	// separator at random).
	if !regexp.MustCompile(`^\{"header":\s?\{"cluster_id":\s?"\d+",\s?"member_id":\s?"\d+",\s?"revision":\s?"2",\s?"raft_term":\s?"\d+"\}\}$`).Match(out) {
		t.Fatalf("put answered %s", out)
	}

	post := func(path, body string) map[string]any {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, "POST", ep+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: status %d body %s", path, resp.StatusCode, b)
		}
		return m
	}
	r := post("/v3/kv/range", `{"key": "Zm9v"}`)
	kvs := r["kvs"].([]any)
	if kv := kvs[0].(map[string]any); kv["key"] != "Zm9v" || kv["value"] != "YmFy" || kv["version"] != "1" {
		t.Fatalf("range: %v", r)
	}
	tx := post("/v3/kv/txn", `{"compare":[{"key":"Zm9v","target":"VALUE","result":"EQUAL","value":"YmFy"}],"success":[{"request_put":{"key":"Zm9v","value":"YmF6"}}]}`)
	if tx["succeeded"] != true {
		t.Fatalf("txn: %v", tx)
	}
	lg := post("/v3/lease/grant", `{"TTL": 60}`)
	if lg["TTL"] != "60" || lg["ID"] == nil {
		t.Fatalf("lease grant: %v", lg)
	}
	lid, _ := strconv.ParseInt(lg["ID"].(string), 10, 64)
	ttl := post("/v3/lease/timetolive", fmt.Sprintf(`{"ID": %d}`, lid))
	if ttl["grantedTTL"] != "60" {
		t.Fatalf("timetolive: %v", ttl)
	}

	// /v3/watch streams newline-separated {"result": WatchResponse} objects.
	wreq, _ := http.NewRequestWithContext(ctx, "POST", ep+"/v3/watch", strings.NewReader(`{"create_request": {"key": "Zm9v"}}`))
	wresp, err := http.DefaultClient.Do(wreq)
	if err != nil {
		t.Fatal(err)
	}
	defer wresp.Body.Close()
	dec := json.NewDecoder(wresp.Body)
	var created struct {
		Result struct {
			Created bool `json:"created"`
		} `json:"result"`
	}
	if err := dec.Decode(&created); err != nil || !created.Result.Created {
		t.Fatalf("watch create: %+v %v", created, err)
	}
	post("/v3/kv/deleterange", `{"key": "Zm9v"}`)
	var ev struct {
		Result struct {
			Events []struct {
				Type string `json:"type"`
				Kv   struct {
					Key string `json:"key"`
				} `json:"kv"`
			} `json:"events"`
		} `json:"result"`
	}
	if err := dec.Decode(&ev); err != nil || len(ev.Result.Events) != 1 || ev.Result.Events[0].Type != "DELETE" || ev.Result.Events[0].Kv.Key != "Zm9v" {
		t.Fatalf("watch event: %+v %v", ev, err)
	}
}
