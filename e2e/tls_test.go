package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/kvtrace/kvtrace/internal/localcluster"
	"github.com/kvtrace/kvtrace/internal/tlsutil/tlstest"
)

// tlsPKI is a CA, the members' certificate (server and client use, 127.0.0.1
// IP SAN), a client certificate, and a CA the cluster does not trust with a
// certificate of its own.
type tlsPKI struct {
	ca, otherCA      *tlstest.CA
	member, client   tlstest.Pair
	strangerOfOther  tlstest.Pair
	caPool, rogueCAs *x509.CertPool
}

func newTLSPKI(t *testing.T, dir string) tlsPKI {
	t.Helper()
	var p tlsPKI
	var err error
	must := func(e error) {
		t.Helper()
		if e != nil {
			t.Fatal(e)
		}
	}
	p.ca, err = tlstest.NewCA(dir, "ca")
	must(err)
	p.otherCA, err = tlstest.NewCA(dir, "other-ca")
	must(err)
	p.member, err = p.ca.Issue("member")
	must(err)
	p.client, err = p.ca.Issue("client")
	must(err)
	p.strangerOfOther, err = p.otherCA.Issue("stranger")
	must(err)
	pool := func(file string) *x509.CertPool {
		b, err := os.ReadFile(file)
		must(err)
		cp := x509.NewCertPool()
		cp.AppendCertsFromPEM(b)
		return cp
	}
	p.caPool, p.rogueCAs = pool(p.ca.File), pool(p.otherCA.File)
	return p
}

func (p tlsPKI) cert(t *testing.T, pair tlstest.Pair) []tls.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(pair.CertFile, pair.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	return []tls.Certificate{c}
}

// startTLSCluster starts 3 members with https:// client and peer URLs,
// --client-cert-auth and --peer-client-cert-auth.
func startTLSCluster(t *testing.T) (*localcluster.Cluster, tlsPKI) {
	t.Helper()
	dir := keptDir(t)
	p := newTLSPKI(t, dir)
	// Over TLS, with the client certificate: WaitLeader uses it too.
	c := startConfigured(t, localcluster.Config{Dir: dir, Size: 3,
		ExtraArgs: []string{"--heartbeat-interval", "50", "--election-timeout", "500"},
		TLS: &localcluster.TLS{CertFile: p.member.CertFile, KeyFile: p.member.KeyFile, CAFile: p.ca.File,
			ClientCertAuth: true, ClientCertFile: p.client.CertFile, ClientKeyFile: p.client.KeyFile}})
	return c, p
}

// TestTLSCluster: a 3-member cluster with TLS on client and peer ports
// serves a client with a certificate from the trusted CA, replicates over
// the TLS peer links, and refuses clients without a valid certificate,
// clients that do not trust the cluster's CA, plain text and TLS 1.1.
func TestTLSCluster(t *testing.T) {
	c, p := startTLSCluster(t)
	ctx := testCtx(t, time.Minute)
	for _, m := range c.Members {
		if !strings.HasPrefix(m.ClientURL, "https://") || !strings.HasPrefix(m.PeerURL, "https://") {
			t.Fatalf("%s: URLs %s %s, want https://", m.Name, m.ClientURL, m.PeerURL)
		}
	}

	// A put on one member is read from each of the others: the entry
	// travelled over the TLS peer streams.
	cli, err := c.Client(c.Members[0].ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Put(ctx, "tls-key", "tls-value"); err != nil {
		t.Fatalf("put with a valid client certificate: %v", err)
	}
	for _, m := range c.Members[1:] {
		mc, err := c.Client(m.ClientURL)
		if err != nil {
			t.Fatal(err)
		}
		// Serializable: answered from the member's own store, no leader.
		g, err := mc.Get(ctx, "tls-key", clientv3.WithSerializable())
		for err == nil && len(g.Kvs) == 0 && ctx.Err() == nil {
			// Not applied there yet: a linearizable read waits until it is.
			if _, err = mc.Get(ctx, "tls-key"); err == nil {
				g, err = mc.Get(ctx, "tls-key", clientv3.WithSerializable())
			}
		}
		mc.Close()
		if err != nil || len(g.Kvs) != 1 || string(g.Kvs[0].Value) != "tls-value" {
			t.Fatalf("get from %s: %v %v", m.Name, g, err)
		}
	}

	// A follower forwards lease keep-alives to the leader's peer port, over
	// TLS with its peer certificate (internal/server leaderLeaseClient).
	li, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fc, err := c.Client(c.Members[(li+1)%3].ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Close()
	lg, err := fc.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	if ka, err := fc.KeepAliveOnce(ctx, lg.ID); err != nil || ka.TTL <= 0 {
		t.Fatalf("keep-alive through a follower: %v %v", ka, err)
	}

	// Refused: each client's first request fails within the deadline.
	refused := func(name string, ep string, tc *tls.Config) {
		t.Helper()
		rc, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 2 * time.Second, TLS: tc, Logger: zap.NewNop()})
		if err != nil {
			return // refused at dial
		}
		defer rc.Close()
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if _, err := rc.Get(rctx, "tls-key"); err == nil {
			t.Errorf("%s: get succeeded, want the connection refused", name)
		}
	}
	ep := c.Members[1].ClientURL
	refused("no client certificate", ep, &tls.Config{RootCAs: p.caPool})
	refused("certificate from an untrusted CA", ep, &tls.Config{RootCAs: p.caPool, Certificates: p.cert(t, p.strangerOfOther)})
	refused("client that does not trust the cluster's CA", ep, &tls.Config{RootCAs: p.rogueCAs, Certificates: p.cert(t, p.client)})
	plain := "http://" + strings.TrimPrefix(ep, "https://")
	refused("plain-text gRPC", plain, nil)
	if resp, err := http.Post(plain+"/v3/kv/range", "application/json", strings.NewReader(`{"key":"Zm9v"}`)); err == nil {
		resp.Body.Close()
		t.Errorf("plain HTTP to the https port: %s, want the connection closed", resp.Status)
	}
	// The refusals are logged by the member.
	b, _ := os.ReadFile(c.Members[1].LogPath)
	if !strings.Contains(string(b), "rejected connection") {
		t.Errorf("%s logged no rejected connection", c.Members[1].Name)
	}

	// TLS 1.1 and older are refused (tlsutil.MinVersion).
	host := strings.TrimPrefix(ep, "https://")
	if conn, err := tls.Dial("tcp", host, &tls.Config{RootCAs: p.caPool, Certificates: p.cert(t, p.client),
		MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}); err == nil {
		conn.Close()
		t.Error("a TLS 1.1 handshake succeeded, want refused")
	}

	// The JSON gateway on the TLS port (HTTP/1.1; it reaches the member's
	// gRPC server in memory, cmd/kvd/tls.go gatewayDialOptions).
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: p.caPool, Certificates: p.cert(t, p.client)}}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Post(ep+"/v3/kv/range", "application/json", strings.NewReader(`{"key":"dGxzLWtleQ=="}`)) // tls-key
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"dGxzLXZhbHVl"`) { // tls-value
		t.Fatalf("gateway range over TLS: %s %s", resp.Status, body)
	}
	// The commands docs/flags.md gives: curl over HTTP/1.1, etcdctl.
	if _, err := exec.LookPath("curl"); err == nil {
		out, err := exec.CommandContext(ctx, "curl", "-sS", "--http1.1", "--cacert", p.ca.File, "--cert", p.client.CertFile,
			"--key", p.client.KeyFile, ep+"/v3/kv/range", "-X", "POST", "-d", `{"key":"dGxzLWtleQ=="}`).CombinedOutput()
		if err != nil || !strings.Contains(string(out), `"dGxzLXZhbHVl"`) {
			t.Errorf("curl --http1.1 over TLS: %v %s", err, out)
		}
	}
	if out := etcdctl(t, []string{ep}, "", "--cacert", p.ca.File, "--cert", p.client.CertFile, "--key", p.client.KeyFile,
		"get", "tls-key", "--print-value-only"); out != "tls-value\n" {
		t.Errorf("etcdctl get over TLS printed %q", out)
	}
}

// TestTLSFlagErrors: https:// URLs without the certificate flags, and
// certificate flags that do not belong together, stop kvd at start with an
// error naming the flags.
func TestTLSFlagErrors(t *testing.T) {
	ports, err := localcluster.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	cu := fmt.Sprintf("https://127.0.0.1:%d", ports[0])
	pu := fmt.Sprintf("https://127.0.0.1:%d", ports[1])
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--listen-client-urls", cu, "--advertise-client-urls", cu},
			`--listen-client-urls: "` + cu + `" is https:// but --cert-file and --key-file are not set`},
		{[]string{"--listen-peer-urls", pu, "--initial-advertise-peer-urls", pu},
			`--listen-peer-urls: "` + pu + `" is https:// but --peer-cert-file and --peer-key-file are not set`},
		{[]string{"--initial-cluster", "m1=" + pu},
			`--initial-cluster: "` + pu + `" is https:// but --peer-cert-file and --peer-key-file are not set`},
		{[]string{"--client-cert-auth", "--cert-file", "c.crt", "--key-file", "c.key"},
			"--client-cert-auth needs --trusted-ca-file"},
		{[]string{"--cert-file", "c.crt", "--listen-client-urls", cu},
			"--cert-file and --key-file go together"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		args := append([]string{"--name", "m1", "--data-dir", t.TempDir()}, tc.args...)
		out, err := exec.CommandContext(ctx, kvdBin, args...).CombinedOutput()
		cancel()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("kvd %v: %v\n%s\nwant an error containing %q", tc.args, err, out, tc.want)
		}
	}
}
