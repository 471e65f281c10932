package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/kvtrace/kvtrace/internal/localcluster"
)

// families is one parsed scrape of /metrics.
type families map[string]*dto.MetricFamily

// scrape GETs url (a /metrics endpoint) and parses it with the Prometheus
// text parser.
func scrape(t *testing.T, url string) families {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET %s: Content-Type %q, want the Prometheus text format", url, ct)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing %s: %v", url, err)
	}
	return fams
}

// value returns the sample of metric name whose labels include want
// (label, value pairs): a gauge's or counter's value, a histogram's sample
// count. ok is false when there is no such sample.
func (f families) value(name string, want ...string) (v float64, ok bool) {
	fam := f[name]
	if fam == nil {
		return 0, false
	}
next:
	for _, m := range fam.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(want); i += 2 {
			if labels[want[i]] != want[i+1] {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

// must is value, failing the test when the sample is missing.
func (f families) must(t *testing.T, name string, want ...string) float64 {
	t.Helper()
	v, ok := f.value(name, want...)
	if !ok {
		t.Fatalf("no sample %s%v in the scrape", name, want)
	}
	return v
}

// startWithMetricsURLs starts a cluster whose member i also serves
// --listen-metrics-urls at the returned URL.
func startWithMetricsURLs(t *testing.T, size int, extra ...string) (*localcluster.Cluster, []string) {
	t.Helper()
	ports, err := localcluster.FreePorts(size)
	if err != nil {
		t.Fatal(err)
	}
	urls := make([]string, size)
	for i, p := range ports {
		urls[i] = fmt.Sprintf("http://127.0.0.1:%d", p)
	}
	c := startConfigured(t, localcluster.Config{Dir: keptDir(t), Size: size,
		ExtraArgs:  append(append([]string(nil), baseArgs...), extra...),
		MemberArgs: func(i int) []string { return []string{"--listen-metrics-urls", urls[i]} },
	})
	return c, urls
}

// poll calls f until it returns "" (success) or the deadline passes, then
// fails with f's last complaint.
func poll(t *testing.T, d time.Duration, f func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		msg := f()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, msg)
		}
		<-tick.C
	}
}

// TestMetricsEtcdNames scrapes every member of a 3-member cluster after
// some puts, on the client port and on --listen-metrics-urls, and checks
// the metrics etcd's dashboards and alerts read, by etcd's names and
// labels.
func TestMetricsEtcdNames(t *testing.T) {
	c, metricsURLs := startWithMetricsURLs(t, 3)
	ctx := testCtx(t, 2*time.Minute)
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()

	// Member ids as etcd prints them, by client URL.
	ids := map[string]string{}
	for _, m := range c.Members {
		st, err := cli.Status(ctx, m.ClientURL)
		if err != nil {
			t.Fatal(err)
		}
		ids[m.ClientURL] = fmt.Sprintf("%x", st.Header.MemberId)
	}

	before := make([]float64, len(c.Members))
	for i, m := range c.Members {
		before[i] = scrape(t, m.ClientURL+"/metrics").must(t, "etcd_server_proposals_committed_total")
	}
	const puts = 30
	for i := 0; i < puts; i++ {
		if _, err := cli.Put(ctx, fmt.Sprintf("m/%02d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cli.Delete(ctx, "m/00"); err != nil {
		t.Fatal(err)
	}

	var scrapes []families
	poll(t, 30*time.Second, func() string {
		scrapes = scrapes[:0]
		for i, m := range c.Members {
			f := scrape(t, m.ClientURL+"/metrics")
			scrapes = append(scrapes, f)
			if v, _ := f.value("etcd_server_has_leader"); v != 1 {
				return fmt.Sprintf("%s: etcd_server_has_leader %v", m.Name, v)
			}
			if v, _ := f.value("etcd_server_proposals_committed_total"); v < before[i]+puts {
				return fmt.Sprintf("%s: proposals_committed_total %v, want >= %v + %d puts", m.Name, v, before[i], puts)
			}
			if v, _ := f.value("etcd_server_proposals_applied_total"); v < before[i]+puts {
				return fmt.Sprintf("%s: proposals_applied_total %v, want >= %v + %d puts", m.Name, v, before[i], puts)
			}
			// Every member applies every write (keys: puts less the delete).
			if v, _ := f.value("etcd_debugging_mvcc_keys_total"); v != puts-1 {
				return fmt.Sprintf("%s: etcd_debugging_mvcc_keys_total %v, want %d", m.Name, v, puts-1)
			}
			if v, _ := f.value("etcd_disk_backend_commit_duration_seconds"); v == 0 {
				return fmt.Sprintf("%s: no backend commit observed yet", m.Name)
			}
			for _, o := range c.Members {
				if o == m {
					continue
				}
				if v, _ := f.value("etcd_network_peer_round_trip_time_seconds", "To", ids[o.ClientURL]); v == 0 {
					return fmt.Sprintf("%s: no round trip to %s observed yet", m.Name, o.Name)
				}
			}
		}
		return ""
	})

	leaders, handledPuts := 0, 0.0
	var clientBytes [2]float64 // received, sent
	for i, m := range c.Members {
		f := scrapes[i]
		leaders += int(f.must(t, "etcd_server_is_leader"))
		if v := f.must(t, "etcd_disk_wal_fsync_duration_seconds"); v == 0 {
			t.Errorf("%s: etcd_disk_wal_fsync_duration_seconds count is 0", m.Name)
		}
		if v := f.must(t, "etcd_disk_wal_write_duration_seconds"); v == 0 {
			t.Errorf("%s: etcd_disk_wal_write_duration_seconds count is 0", m.Name)
		}
		if v := f.must(t, "etcd_disk_wal_write_bytes_total"); v == 0 {
			t.Errorf("%s: etcd_disk_wal_write_bytes_total is 0", m.Name)
		}
		if v := f.must(t, "etcd_mvcc_db_total_size_in_bytes"); v <= 0 {
			t.Errorf("%s: etcd_mvcc_db_total_size_in_bytes %v", m.Name, v)
		}
		if v := f.must(t, "etcd_mvcc_db_total_size_in_use_in_bytes"); v <= 0 {
			t.Errorf("%s: etcd_mvcc_db_total_size_in_use_in_bytes %v", m.Name, v)
		}
		if v := f.must(t, "etcd_server_id", "server_id", ids[m.ClientURL]); v != 1 {
			t.Errorf("%s: etcd_server_id{server_id=%q} %v", m.Name, ids[m.ClientURL], v)
		}
		if v := f.must(t, "etcd_server_version", "server_version", "3.7.3"); v != 1 {
			t.Errorf("%s: etcd_server_version %v", m.Name, v)
		}
		if v := f.must(t, "etcd_server_proposals_pending"); v != 0 {
			t.Errorf("%s: etcd_server_proposals_pending %v with no write in flight", m.Name, v)
		}
		f.must(t, "etcd_server_proposals_failed_total")
		if v := f.must(t, "etcd_mvcc_put_total"); v < puts {
			t.Errorf("%s: etcd_mvcc_put_total %v, want >= %d", m.Name, v, puts)
		}
		if v := f.must(t, "etcd_mvcc_delete_total"); v < 1 {
			t.Errorf("%s: etcd_mvcc_delete_total %v, want >= 1", m.Name, v)
		}
		f.must(t, "etcd_mvcc_range_total")
		f.must(t, "etcd_mvcc_txn_total")
		if v := f.must(t, "etcd_cluster_version", "cluster_version", "3.7"); v != 1 {
			t.Errorf("%s: etcd_cluster_version %v", m.Name, v)
		}
		if v := f.must(t, "etcd_server_is_learner"); v != 0 {
			t.Errorf("%s: etcd_server_is_learner %v", m.Name, v)
		}
		if v := f.must(t, "etcd_server_quota_backend_bytes"); v != 2<<30 {
			t.Errorf("%s: etcd_server_quota_backend_bytes %v, want the 2 GiB default", m.Name, v)
		}
		if v := f.must(t, "os_fd_used"); v <= 0 || v > f.must(t, "os_fd_limit") {
			t.Errorf("%s: os_fd_used %v of os_fd_limit %v", m.Name, v, f.must(t, "os_fd_limit"))
		}
		for _, o := range c.Members {
			if o == m {
				continue
			}
			for _, name := range []string{"etcd_network_active_peers", "etcd_network_known_peers"} {
				if v := f.must(t, name, "Local", ids[m.ClientURL], "Remote", ids[o.ClientURL]); v != 1 {
					t.Errorf("%s: %s{Remote=%s} %v, want 1", m.Name, name, o.Name, v)
				}
			}
			f.must(t, "etcd_network_peer_sent_failures_total", "To", ids[o.ClientURL])
			f.must(t, "etcd_network_peer_received_failures_total", "From", ids[o.ClientURL])
		}
		if v := f.must(t, "etcd_server_leader_changes_seen_total"); v < 1 {
			t.Errorf("%s: etcd_server_leader_changes_seen_total %v, want >= 1 (the first election)", m.Name, v)
		}
		// Raft traffic flows between the leader and each follower, not
		// between followers.
		for j, o := range c.Members {
			if o == m || (scrapes[i].must(t, "etcd_server_is_leader") == 0 && scrapes[j].must(t, "etcd_server_is_leader") == 0) {
				continue
			}
			if v := f.must(t, "etcd_network_peer_sent_bytes_total", "To", ids[o.ClientURL]); v <= 0 {
				t.Errorf("%s: peer_sent_bytes_total{To=%s} %v", m.Name, o.Name, v)
			}
			if v := f.must(t, "etcd_network_peer_received_bytes_total", "From", ids[o.ClientURL]); v <= 0 {
				t.Errorf("%s: peer_received_bytes_total{From=%s} %v", m.Name, o.Name, v)
			}
		}
		clientBytes[0] += f.must(t, "etcd_network_client_grpc_received_bytes_total")
		clientBytes[1] += f.must(t, "etcd_network_client_grpc_sent_bytes_total")
		handledPuts += f.must(t, "grpc_server_handled_total",
			"grpc_service", "etcdserverpb.KV", "grpc_method", "Put", "grpc_code", "OK", "grpc_type", "unary")
		if _, ok := f.value("grpc_server_started_total", "grpc_method", "Put"); !ok {
			t.Errorf("%s: no grpc_server_started_total for Put", m.Name)
		}
		// --metrics basic (the default) has no handling-time histogram.
		if _, ok := f["grpc_server_handling_seconds"]; ok {
			t.Errorf("%s: grpc_server_handling_seconds exported without --metrics extensive", m.Name)
		}
		// The Go and process collectors.
		f.must(t, "go_goroutines")
		f.must(t, "process_open_fds")
	}
	if leaders != 1 {
		t.Errorf("%d members report etcd_server_is_leader 1, want exactly 1", leaders)
	}
	// Each put request carries its key and value, each reply a header.
	if clientBytes[0] < float64(puts*len("m/00v")) || clientBytes[1] < puts {
		t.Errorf("etcd_network_client_grpc_{received,sent}_bytes_total sum to %v over the members after %d puts", clientBytes, puts)
	}
	if handledPuts < puts {
		t.Errorf("grpc_server_handled_total{grpc_method=Put,grpc_code=OK} sums to %v over the members, want >= %d", handledPuts, puts)
	}

	// --listen-metrics-urls serves the same registry.
	for i, u := range metricsURLs {
		f := scrape(t, u+"/metrics")
		if v := f.must(t, "etcd_server_has_leader"); v != 1 {
			t.Errorf("%s: etcd_server_has_leader %v on %s", c.Members[i].Name, v, u)
		}
		if v := f.must(t, "etcd_server_id", "server_id", ids[c.Members[i].ClientURL]); v != 1 {
			t.Errorf("%s: etcd_server_id on %s: %v", c.Members[i].Name, u, v)
		}
	}
}

// TestClientHTTPSurface runs one member with --metrics extensive,
// --listen-client-http-urls and --enable-pprof: the HTTP-only URL serves
// the gateway, /metrics (with the gRPC handling-time histogram), /health
// and the profiler, while --listen-client-urls serves gRPC only.
func TestClientHTTPSurface(t *testing.T) {
	ports, err := localcluster.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	httpURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	c := startCluster(t, 1, "--metrics", "extensive", "--listen-client-http-urls", httpURL, "--enable-pprof")
	ctx := testCtx(t, time.Minute)
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Put(ctx, "hk", "hv"); err != nil {
		t.Fatal(err)
	}

	f := scrape(t, httpURL+"/metrics")
	if v := f.must(t, "grpc_server_handling_seconds", "grpc_method", "Put"); v < 1 {
		t.Errorf("grpc_server_handling_seconds{grpc_method=Put} count %v, want >= 1", v)
	}
	if body, code := httpCall(t, http.MethodGet, httpURL+"/health", ""); code != 200 || body != `{"health":"true","reason":""}` {
		t.Errorf("/health on the HTTP-only URL: %d %q", code, body)
	}
	// etcd's default --cors "*": every answer allows any origin, and a
	// preflight is answered 200.
	resp, err := http.Get(httpURL + "/version")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("/version: Access-Control-Allow-Origin %q, want *", got)
	}
	if _, code := httpCall(t, http.MethodOptions, httpURL+"/v3/kv/put", ""); code != 200 {
		t.Errorf("OPTIONS /v3/kv/put: %d, want 200", code)
	}
	// /v3beta/ is served as /v3/, as etcd does.
	if body, code := httpCall(t, http.MethodPost, httpURL+"/v3beta/kv/range", `{"key":"aGs="}`); code != 200 || !strings.Contains(body, `"value":"aHY="`) {
		t.Errorf("gateway range at /v3beta/: %d %q", code, body)
	}
	if body, code := httpCall(t, http.MethodPost, httpURL+"/v3/kv/range", `{"key":"aGs="}`); code != 200 || !strings.Contains(body, `"value":"aHY="`) {
		t.Errorf("gateway range on the HTTP-only URL: %d %q", code, body)
	}
	if body, code := httpCall(t, http.MethodGet, httpURL+"/debug/pprof/", ""); code != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("/debug/pprof/ with --enable-pprof: %d %q", code, body)
	}
	// /debug/vars: the expvars as JSON, as etcd serves them.
	body, code := httpCall(t, http.MethodGet, httpURL+"/debug/vars", "")
	var vars map[string]any
	if err := json.Unmarshal([]byte(body), &vars); code != 200 || err != nil || vars["memstats"] == nil {
		t.Errorf("/debug/vars: %d %v %.200q", code, err, body)
	}

	// The gRPC URL no longer answers HTTP/1.
	hc := &http.Client{Timeout: 5 * time.Second}
	if resp, err := hc.Get(c.Members[0].ClientURL + "/health"); err == nil {
		resp.Body.Close()
		t.Errorf("GET /health on the gRPC-only URL answered %s, want the connection closed", resp.Status)
	}
}

// TestMetricsTLS: with TLS client certificates (--cert-file ... and
// --client-cert-auth), an https:// --listen-metrics-urls serves /metrics and
// /health with the client certificate flags, an http:// one beside it in
// plain text, and the TLS client port's HTTP side serves them too (etcd's
// TestV3MetricsSecure and TestV3MetricsInsecure).
func TestMetricsTLS(t *testing.T) {
	dir := keptDir(t)
	p := newTLSPKI(t, dir)
	ports, err := localcluster.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	secure, plain := fmt.Sprintf("https://127.0.0.1:%d", ports[0]), fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	c := startConfigured(t, localcluster.Config{Dir: dir, Size: 1,
		ExtraArgs: append(append([]string(nil), baseArgs...), "--listen-metrics-urls", secure+","+plain),
		TLS: &localcluster.TLS{CertFile: p.member.CertFile, KeyFile: p.member.KeyFile, CAFile: p.ca.File,
			ClientCertAuth: true, ClientCertFile: p.client.CertFile, ClientKeyFile: p.client.KeyFile}})
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: p.caPool, Certificates: p.cert(t, p.client)}}}
	defer hc.CloseIdleConnections()
	get := func(url string) (string, int) {
		t.Helper()
		resp, err := hc.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), resp.StatusCode
	}
	for _, base := range []string{secure, plain, c.Members[0].ClientURL} {
		body, code := get(base + "/metrics")
		if code != 200 || !strings.Contains(body, "\netcd_server_has_leader 1\n") {
			t.Errorf("GET %s/metrics: %d, has_leader line missing", base, code)
		}
		if body, code := get(base + "/health"); code != 200 || body != `{"health":"true","reason":""}` {
			t.Errorf("GET %s/health: %d %q", base, code, body)
		}
	}
	// Without a client certificate the https:// metrics URL refuses the
	// handshake (--client-cert-auth).
	bare := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.caPool}}}
	if resp, err := bare.Get(secure + "/metrics"); err == nil {
		resp.Body.Close()
		t.Errorf("GET %s/metrics without a client certificate answered %s, want a refused handshake", secure, resp.Status)
	}
}

// httpCall sends one request and returns the body, less one trailing
// newline, and the status code.
func httpCall(t *testing.T, method, url, body string) (string, int) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return strings.TrimSuffix(string(b), "\n"), resp.StatusCode
}

// TestLearnerMetrics: a member added with --learner reports
// etcd_server_is_learner 1 and fails /readyz's non_learner check until it is
// promoted; the voters report 0 throughout (etcd's TestV3LearnerMetric*).
func TestLearnerMetrics(t *testing.T) {
	c := startCluster(t, 3)
	eps := c.Endpoints()
	m4, err := c.NewMember("m4", c.Members[0])
	if err != nil {
		t.Fatal(err)
	}
	if out := etcdctl(t, eps, "", "member", "add", "m4", "--learner", "--peer-urls="+m4.PeerURL); !strings.Contains(out, "added as learner") {
		t.Fatalf("member add --learner printed %q", out)
	}
	if err := m4.Start(); err != nil {
		t.Fatal(err)
	}
	poll(t, 30*time.Second, func() string {
		resp, err := http.Get(m4.ClientURL + "/metrics")
		if err != nil {
			return fmt.Sprintf("m4 not serving yet: %v", err)
		}
		resp.Body.Close()
		if v, _ := scrape(t, m4.ClientURL+"/metrics").value("etcd_server_is_learner"); v != 1 {
			return fmt.Sprintf("learner m4: etcd_server_is_learner %v, want 1", v)
		}
		return ""
	})
	for _, m := range c.Members[:3] {
		if v := scrape(t, m.ClientURL+"/metrics").must(t, "etcd_server_is_learner"); v != 0 {
			t.Errorf("voter %s: etcd_server_is_learner %v, want 0", m.Name, v)
		}
	}
	if body, code := httpCall(t, http.MethodGet, m4.ClientURL+"/readyz/non_learner", ""); code != 503 ||
		body != "[-]non_learner failed: not supported for learner\n" {
		t.Errorf("/readyz/non_learner on the learner: %d %q", code, body)
	}

	var id string
	for _, m := range memberList(t, eps).Members {
		if m.Name == "m4" {
			id = fmt.Sprintf("%x", m.ID)
		}
	}
	poll(t, 30*time.Second, func() string {
		out, err := exec.Command(etcdctlBin, "--endpoints="+strings.Join(eps, ","), "member", "promote", id).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "promoted") {
			return fmt.Sprintf("member promote %s: %v %s", id, err, out)
		}
		return ""
	})
	poll(t, 30*time.Second, func() string {
		if v := scrape(t, m4.ClientURL+"/metrics").must(t, "etcd_server_is_learner"); v != 0 {
			return fmt.Sprintf("promoted m4: etcd_server_is_learner %v, want 0", v)
		}
		if body, code := httpCall(t, http.MethodGet, m4.ClientURL+"/readyz/non_learner", ""); code != 200 || body != "ok" {
			return fmt.Sprintf("/readyz/non_learner on promoted m4: %d %q", code, body)
		}
		return ""
	})
}
