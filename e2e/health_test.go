package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/kvtrace/kvtrace/internal/localcluster"
)

const healthTrue = `{"health":"true","reason":""}`

// TestHealthEndpoints checks /health, /livez, /readyz, /version and
// grpc.health.v1 on a healthy 3-member cluster, then stops two members and
// checks what the lone one reports: etcd's "RAFT NO LEADER", true again
// with ?serializable=true, a failing linearizable_read in /readyz, and
// etcd_server_has_leader 0.
func TestHealthEndpoints(t *testing.T) {
	c, metricsURLs := startWithMetricsURLs(t, 3)
	ctx := testCtx(t, 2*time.Minute)

	for i, m := range c.Members {
		for _, base := range []string{m.ClientURL, metricsURLs[i]} {
			if body, code := httpCall(t, http.MethodGet, base+"/health", ""); code != 200 || body != healthTrue {
				t.Errorf("%s /health: %d %q", base, code, body)
			}
			if body, code := httpCall(t, http.MethodGet, base+"/health?serializable=true", ""); code != 200 || body != healthTrue {
				t.Errorf("%s /health?serializable=true: %d %q", base, code, body)
			}
			if body, code := httpCall(t, http.MethodGet, base+"/livez", ""); code != 200 || body != "ok" {
				t.Errorf("%s /livez: %d %q", base, code, body)
			}
			if body, code := httpCall(t, http.MethodGet, base+"/livez?verbose", ""); code != 200 || body != "[+]serializable_read ok\nok" {
				t.Errorf("%s /livez?verbose: %d %q", base, code, body)
			}
			want := "[+]data_corruption ok\n[+]serializable_read ok\n[+]linearizable_read ok\n[+]non_learner ok\nok"
			if body, code := httpCall(t, http.MethodGet, base+"/readyz?verbose", ""); code != 200 || body != want {
				t.Errorf("%s /readyz?verbose: %d %q, want %q", base, code, body, want)
			}
			want = "[+]data_corruption ok\n[+]non_learner ok\nok"
			if body, code := httpCall(t, http.MethodGet, base+"/readyz?verbose&exclude=serializable_read&exclude=linearizable_read&exclude=no_such_check", ""); code != 200 || body != want {
				t.Errorf("%s /readyz?exclude=...: %d %q, want %q", base, code, body, want)
			}
			if body, code := httpCall(t, http.MethodGet, base+"/readyz/linearizable_read?verbose", ""); code != 200 || body != "[+]linearizable_read ok\nok" {
				t.Errorf("%s /readyz/linearizable_read?verbose: %d %q", base, code, body)
			}
			if _, code := httpCall(t, http.MethodPost, base+"/health", ""); code != http.StatusMethodNotAllowed {
				t.Errorf("%s POST /health: %d, want 405", base, code)
			}
		}
		body, code := httpCall(t, http.MethodGet, m.ClientURL+"/version", "")
		var v map[string]string
		if err := json.Unmarshal([]byte(body), &v); code != 200 || err != nil ||
			v["etcdserver"] != "3.7.3" || v["etcdcluster"] != "3.7.0" {
			t.Errorf("%s /version: %d %q (%v)", m.Name, code, body, err)
		}

		cc, err := grpc.NewClient(strings.TrimPrefix(m.ClientURL, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
		cc.Close()
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("%s grpc.health.v1 Check: %v %v, want SERVING", m.Name, resp.GetStatus(), err)
		}
	}

	// Quorum lost: the lone member (the leader steps down under
	// CheckQuorum; a follower stops knowing one when it campaigns).
	lone := c.Members[0]
	for _, m := range c.Members[1:] {
		if err := m.Stop(); err != nil {
			t.Fatal(err)
		}
	}
	want := `{"health":"false","reason":"RAFT NO LEADER"}`
	poll(t, 30*time.Second, func() string {
		if body, code := httpCall(t, http.MethodGet, lone.ClientURL+"/health", ""); code != 503 || body != want {
			return fmt.Sprintf("/health with quorum lost: %d %q, want 503 %q", code, body, want)
		}
		return ""
	})
	if body, code := httpCall(t, http.MethodGet, metricsURLs[0]+"/health", ""); code != 503 || body != want {
		t.Errorf("/health on --listen-metrics-urls with quorum lost: %d %q", code, body)
	}
	if body, code := httpCall(t, http.MethodGet, lone.ClientURL+"/health?serializable=true", ""); code != 200 || body != healthTrue {
		t.Errorf("/health?serializable=true on the lone member: %d %q", code, body)
	}
	if body, code := httpCall(t, http.MethodGet, lone.ClientURL+"/livez", ""); code != 200 || body != "ok" {
		t.Errorf("/livez on the lone member: %d %q", code, body)
	}
	// A failure always lists every check, verbose or not.
	body, code := httpCall(t, http.MethodGet, lone.ClientURL+"/readyz", "")
	if code != 503 || !strings.HasPrefix(body, "[+]data_corruption ok\n[+]serializable_read ok\n[-]linearizable_read failed: ") ||
		!strings.HasSuffix(body, "[+]non_learner ok\n") { // http.Error adds a newline, in etcd too
		t.Errorf("/readyz on the lone member: %d %q", code, body)
	}
	f := scrape(t, metricsURLs[0]+"/metrics")
	if v := f.must(t, "etcd_server_has_leader"); v != 0 {
		t.Errorf("etcd_server_has_leader %v on the lone member, want 0", v)
	}
	for _, m := range f["etcd_network_active_peers"].GetMetric() {
		if v := m.GetGauge().GetValue(); v != 0 {
			t.Errorf("etcd_network_active_peers%v %v with both peers stopped, want 0", m.GetLabel(), v)
		}
	}
	for _, m := range f["etcd_network_disconnected_peers_total"].GetMetric() {
		if v := m.GetCounter().GetValue(); v < 1 {
			t.Errorf("etcd_network_disconnected_peers_total%v %v with both peers stopped, want >= 1", m.GetLabel(), v)
		}
	}
	if n := len(f["etcd_network_disconnected_peers_total"].GetMetric()); n != 2 {
		t.Errorf("etcd_network_disconnected_peers_total has %d series, want one per stopped peer", n)
	}

	// A write without quorum fails: etcd_server_proposals_failed_total
	// counts it and nothing stays pending.
	failedBefore := f.must(t, "etcd_server_proposals_failed_total")
	cli, err := c.Client(lone.ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	_, err = cli.Put(pctx, "no-quorum", "v")
	cancel()
	if err == nil {
		t.Fatal("a put without quorum succeeded")
	}
	poll(t, 30*time.Second, func() string {
		f := scrape(t, metricsURLs[0]+"/metrics")
		if v := f.must(t, "etcd_server_proposals_failed_total"); v < failedBefore+1 {
			return fmt.Sprintf("etcd_server_proposals_failed_total %v after a failed put, want >= %v", v, failedBefore+1)
		}
		if v := f.must(t, "etcd_server_proposals_pending"); v != 0 {
			return fmt.Sprintf("etcd_server_proposals_pending %v after the failed put returned", v)
		}
		return ""
	})
}

// TestHealthNoSpaceAlarm fills a tiny --quota-backend-bytes: with NOSPACE
// raised /health says "ALARM NOSPACE" unless ?exclude=NOSPACE, and /readyz
// (which only looks for CORRUPT) stays ok.
func TestHealthNoSpaceAlarm(t *testing.T) {
	c := startCluster(t, 1, "--quota-backend-bytes", fmt.Sprint(1<<20))
	ctx := testCtx(t, time.Minute)
	url := c.Members[0].ClientURL
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	val := strings.Repeat("x", 32<<10)
	var perr error
	for i := 0; i < 200 && perr == nil; i++ {
		_, perr = cli.Put(ctx, fmt.Sprintf("big/%03d", i), val)
	}
	if perr == nil || perr.Error() != rpctypes.ErrNoSpace.Error() {
		t.Fatalf("filling the quota ended with %v, want %v", perr, rpctypes.ErrNoSpace)
	}
	want := `{"health":"false","reason":"ALARM NOSPACE"}`
	if body, code := httpCall(t, http.MethodGet, url+"/health", ""); code != 503 || body != want {
		t.Errorf("/health under NOSPACE: %d %q, want 503 %q", code, body, want)
	}
	if body, code := httpCall(t, http.MethodGet, url+"/health?exclude=NOSPACE", ""); code != 200 || body != healthTrue {
		t.Errorf("/health?exclude=NOSPACE: %d %q", code, body)
	}
	if body, code := httpCall(t, http.MethodGet, url+"/readyz", ""); code != 200 || body != "ok" {
		t.Errorf("/readyz under NOSPACE: %d %q", code, body)
	}
	// The counters of /health's outcomes.
	f := scrape(t, url+"/metrics")
	if v := f.must(t, "etcd_server_health_failures"); v < 1 {
		t.Errorf("etcd_server_health_failures %v", v)
	}
	if v := f.must(t, "etcd_server_health_success"); v < 1 {
		t.Errorf("etcd_server_health_success %v", v)
	}
	// Without --enable-pprof there is no profiler on the client port.
	if _, code := httpCall(t, http.MethodGet, url+"/debug/pprof/", ""); code == 200 {
		t.Errorf("/debug/pprof/ answered 200 without --enable-pprof")
	}
}

// TestHealthSlowApply: with applies stalled (failpoint beforeApply sleeping
// longer than the member's request timeout) a linearizable /health times
// out with etcd's "RANGE ERROR:etcdserver: request timed out", while
// ?serializable=true, answered from the local store, stays true (etcd's
// TestHTTPHealthHandler "overloaded server slow apply").
func TestHealthSlowApply(t *testing.T) {
	ports, err := localcluster.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	fp := fmt.Sprintf("127.0.0.1:%d", ports[0])
	c := startCluster(t, 1, "--failpoint-addr", fp)
	ctx := testCtx(t, time.Minute)
	url := c.Members[0].ClientURL
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	// The member's request timeout is 5s + 2 x election timeout (500ms).
	httpDo(t, http.MethodPut, "http://"+fp+"/beforeApply", "sleep(9000)")
	defer httpDo(t, http.MethodPut, "http://"+fp+"/beforeApply", "off")
	putDone := make(chan error, 1)
	go func() {
		_, err := cli.Put(ctx, "slow", "v")
		putDone <- err
	}()
	// The put is committed (and its apply asleep) once the commit index
	// passes the applied one.
	poll(t, 10*time.Second, func() string {
		f := scrape(t, url+"/metrics")
		if c, a := f.must(t, "etcd_server_proposals_committed_total"), f.must(t, "etcd_server_proposals_applied_total"); c <= a {
			return fmt.Sprintf("committed %v, applied %v: the put's apply has not stalled yet", c, a)
		}
		return ""
	})
	if body, code := httpCall(t, http.MethodGet, url+"/health?serializable=true", ""); code != 200 || body != healthTrue {
		t.Errorf("/health?serializable=true with applies stalled: %d %q", code, body)
	}
	want := `{"health":"false","reason":"RANGE ERROR:etcdserver: request timed out"}`
	if body, code := httpCall(t, http.MethodGet, url+"/health", ""); code != 503 || body != want {
		t.Errorf("/health with applies stalled: %d %q, want 503 %q", code, body, want)
	}
	// The put waits as long as /health did: it times out the same way.
	if err := <-putDone; err != nil && err.Error() != rpctypes.ErrTimeout.Error() {
		t.Errorf("the stalled put: %v, want success or %v", err, rpctypes.ErrTimeout)
	}
}
