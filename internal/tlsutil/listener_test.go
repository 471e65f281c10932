package tlsutil

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kvtrace/kvtrace/internal/tlsutil/tlstest"
)

// pki is a CA with a server and a client certificate, and a second CA that
// signs nothing the server trusts.
type pki struct {
	ca, otherCA    *tlstest.CA
	server, client tlstest.Pair
	stranger       tlstest.Pair // signed by otherCA
}

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	var p pki
	var err error
	if p.ca, err = tlstest.NewCA(dir, "ca"); err != nil {
		t.Fatal(err)
	}
	if p.otherCA, err = tlstest.NewCA(dir, "other-ca"); err != nil {
		t.Fatal(err)
	}
	if p.server, err = p.ca.Issue("server"); err != nil {
		t.Fatal(err)
	}
	if p.client, err = p.ca.Issue("client"); err != nil {
		t.Fatal(err)
	}
	if p.stranger, err = p.otherCA.Issue("stranger"); err != nil {
		t.Fatal(err)
	}
	return p
}

// echoListener serves an echo of one line per connection until closed.
func echoListener(t *testing.T, cfg *tls.Config, timeout time.Duration) (*Listener, chan error) {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 16)
	ln := NewListener(raw, cfg, timeout, func(_ net.Addr, err error) { errs <- err })
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln, errs
}

func clientCfg(t *testing.T, info Info) *tls.Config {
	t.Helper()
	cfg, err := info.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func roundTrip(addr string, cfg *tls.Config) error {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	// With TLS 1.3 a refused client certificate is reported on the first
	// read, not by the handshake.
	if _, err := c.Write([]byte("ping")); err != nil {
		return err
	}
	b := make([]byte, 4)
	if _, err := io.ReadFull(c, b); err != nil {
		return err
	}
	if string(b) != "ping" {
		return errors.New("echo differs")
	}
	return nil
}

func TestClientCertAuth(t *testing.T) {
	p := newPKI(t)
	srv, err := Info{CertFile: p.server.CertFile, KeyFile: p.server.KeyFile, TrustedCAFile: p.ca.File, ClientCertAuth: true}.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	ln, errs := echoListener(t, srv, 0)
	addr := ln.Addr().String()

	if err := roundTrip(addr, clientCfg(t, Info{CertFile: p.client.CertFile, KeyFile: p.client.KeyFile, TrustedCAFile: p.ca.File})); err != nil {
		t.Fatalf("client with a certificate from the trusted CA: %v", err)
	}
	for _, tc := range []struct {
		name string
		info Info
	}{
		{"no client certificate", Info{TrustedCAFile: p.ca.File}},
		{"certificate from another CA", Info{CertFile: p.stranger.CertFile, KeyFile: p.stranger.KeyFile, TrustedCAFile: p.ca.File}},
	} {
		if err := roundTrip(addr, clientCfg(t, tc.info)); err == nil {
			t.Errorf("%s: accepted, want refused", tc.name)
		}
		if err := <-errs; !strings.Contains(err.Error(), "certificate") {
			t.Errorf("%s: server-side error %v, want one about the certificate", tc.name, err)
		}
	}
	// The client does not trust the server's CA.
	if err := roundTrip(addr, clientCfg(t, Info{CertFile: p.client.CertFile, KeyFile: p.client.KeyFile, TrustedCAFile: p.otherCA.File})); err == nil {
		t.Error("client trusting another CA: accepted the server, want unknown authority")
	}
}

func TestMinVersionTLS12(t *testing.T) {
	p := newPKI(t)
	srv, err := Info{CertFile: p.server.CertFile, KeyFile: p.server.KeyFile}.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := echoListener(t, srv, 0)
	cfg := clientCfg(t, Info{TrustedCAFile: p.ca.File})
	old := cfg.Clone()
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	if err := roundTrip(ln.Addr().String(), old); err == nil {
		t.Fatal("a TLS 1.1 client was accepted, want a protocol version error")
	}
	v12 := cfg.Clone()
	v12.MaxVersion = tls.VersionTLS12
	if err := roundTrip(ln.Addr().String(), v12); err != nil {
		t.Fatalf("TLS 1.2 client: %v", err)
	}
}

// TestHandshakeTimeout: a client that connects and never starts the
// handshake is disconnected after the timeout, and meanwhile another
// client is served.
func TestHandshakeTimeout(t *testing.T) {
	p := newPKI(t)
	srv, err := Info{CertFile: p.server.CertFile, KeyFile: p.server.KeyFile}.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	const timeout = 300 * time.Millisecond
	ln, errs := echoListener(t, srv, timeout)
	idle, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	start := time.Now()
	if err := roundTrip(ln.Addr().String(), clientCfg(t, Info{TrustedCAFile: p.ca.File})); err != nil {
		t.Fatalf("a client behind an idle one: %v", err)
	}
	idle.SetReadDeadline(time.Now().Add(10 * time.Second))
	var ne net.Error
	if _, err := idle.Read(make([]byte, 1)); err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("idle connection: read %v, want closed by the server", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("idle connection closed after %v, want about %v", d, timeout)
	}
	if err := <-errs; err == nil {
		t.Fatal("no handshake error reported")
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		info Info
		want string
	}{
		{Info{CertFile: "a"}, "--cert-file and --key-file go together"},
		{Info{Prefix: "peer-", CertFile: "a", KeyFile: "b", ClientCertAuth: true}, "--peer-client-cert-auth needs --peer-trusted-ca-file"},
		{Info{TrustedCAFile: "ca", ClientCertAuth: true}, "--client-cert-auth needs --cert-file"},
	} {
		if err := tc.info.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.info, err, tc.want)
		}
	}
	if _, err := (Info{}).ServerConfig(); err == nil || !strings.Contains(err.Error(), "needs --cert-file and --key-file") {
		t.Errorf("ServerConfig without a certificate: %v", err)
	}
}
