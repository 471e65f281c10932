package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"

	"google.golang.org/grpc"

	"github.com/kvtrace/kvtrace/internal/tlsutil"
)

// addTLSFlags registers etcd's TLS flags (server/embed/config.go,
// Config.AddFlags: ClientTLSInfo and PeerTLSInfo) on fs. --auto-tls and
// --peer-auto-tls, the CRL, cipher-suite and allowed-CN/hostname flags are
// not implemented.
func addTLSFlags(fs *flag.FlagSet) (client, peer *tlsutil.Info) {
	client, peer = &tlsutil.Info{}, &tlsutil.Info{Prefix: "peer-"}
	fs.StringVar(&client.CertFile, "cert-file", "", "path to the client server TLS cert file (needed for https:// client URLs)")
	fs.StringVar(&client.KeyFile, "key-file", "", "path to the client server TLS key file")
	fs.StringVar(&client.TrustedCAFile, "trusted-ca-file", "", "path to the client server TLS trusted CA cert file")
	fs.BoolVar(&client.ClientCertAuth, "client-cert-auth", false, "require and verify client certificates (against --trusted-ca-file)")
	fs.StringVar(&peer.CertFile, "peer-cert-file", "", "path to the peer server TLS cert file, also presented when dialing peers (needed for https:// peer URLs)")
	fs.StringVar(&peer.KeyFile, "peer-key-file", "", "path to the peer server TLS key file")
	fs.StringVar(&peer.TrustedCAFile, "peer-trusted-ca-file", "", "path to the peer server TLS trusted CA file; the other members are verified against it")
	fs.BoolVar(&peer.ClientCertAuth, "peer-client-cert-auth", false, "require and verify peer certificates (against --peer-trusted-ca-file)")
	return client, peer
}

// checkTLS runs in parseFlags once the URLs are parsed: an https:// URL
// needs the matching certificate flags, and the flags must belong together.
func (c *config) checkTLS() error {
	if err := c.clientTLS.Validate(); err != nil {
		return err
	}
	if err := c.peerTLS.Validate(); err != nil {
		return err
	}
	need := func(flagName, raw string, info tlsutil.Info) error {
		if !strings.HasPrefix(raw, "https://") || info.HasCert() {
			return nil
		}
		return fmt.Errorf("--%s: %q is https:// but --%scert-file and --%skey-file are not set", flagName, raw, info.Prefix, info.Prefix)
	}
	for _, u := range c.listenClientURLs {
		if err := need("listen-client-urls", u.String(), c.clientTLS); err != nil {
			return err
		}
	}
	for _, u := range c.advertiseClientURLs {
		if err := need("advertise-client-urls", u, c.clientTLS); err != nil {
			return err
		}
	}
	for _, u := range c.listenPeerURLs {
		if err := need("listen-peer-urls", u.String(), c.peerTLS); err != nil {
			return err
		}
	}
	for _, u := range c.initialAdvertisePeerURLs {
		if err := need("initial-advertise-peer-urls", u, c.peerTLS); err != nil {
			return err
		}
	}
	for _, nu := range splitList(c.initialCluster) {
		_, u, _ := strings.Cut(nu, "=")
		if err := need("initial-cluster", u, c.peerTLS); err != nil {
			return err
		}
	}
	return nil
}

// tlsConfigs are the member's loaded TLS configurations; nil where unused.
type tlsConfigs struct {
	client   *tls.Config // the client port (https:// --listen-client-urls)
	peer     *tls.Config // the peer port (https:// --listen-peer-urls)
	peerDial *tls.Config // dialing other members' https:// peer URLs
}

// loadTLS reads the certificate files, BEFORE anything listens.
func (c *config) loadTLS() (*tlsConfigs, error) {
	var (
		t   tlsConfigs
		err error
	)
	if anyHTTPS(c.listenClientURLs) {
		if t.client, err = c.clientTLS.ServerConfig(); err != nil {
			return nil, err
		}
	}
	if anyHTTPS(c.listenPeerURLs) {
		if t.peer, err = c.peerTLS.ServerConfig(); err != nil {
			return nil, err
		}
		t.peer.NextProtos = []string{"h2"} // gRPC only
	}
	if !c.peerTLS.Empty() {
		if t.peerDial, err = c.peerTLS.ClientConfig(); err != nil {
			return nil, err
		}
	}
	return &t, nil
}

func anyHTTPS(us []*url.URL) bool {
	for _, u := range us {
		if u.Scheme == "https" {
			return true
		}
	}
	return false
}

// wrapTLS wraps the listeners of https:// URLs (lns[i] listens on urls[i])
// so every connection completes a TLS handshake within
// tlsutil.HandshakeTimeout before it is served. Refused handshakes (no or
// an untrusted certificate, plain text on a TLS port) are logged.
func wrapTLS(lg *slog.Logger, lns []net.Listener, urls []*url.URL, cfg *tls.Config) []net.Listener {
	for i, u := range urls {
		if u.Scheme != "https" {
			continue
		}
		addr := lns[i].Addr().String()
		lns[i] = tlsutil.NewListener(lns[i], cfg, tlsutil.HandshakeTimeout, func(remote net.Addr, err error) {
			lg.Warn("rejected connection", "address", addr, "remote-addr", remote.String(), "error", err)
		})
	}
	return lns
}

// gatewayDialOptions: on a TLS client port the JSON gateway does not dial
// the port (it would need a client certificate the port accepts) but hands
// the gRPC server one end of an in-memory pipe, past the TLS layer, which
// ends in the same process. nil on a plain-text port.
func gatewayDialOptions(ln net.Listener, grpcLn *chanListener) []grpc.DialOption {
	if !tlsutil.IsTLS(ln) {
		return nil
	}
	return []grpc.DialOption{grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
		client, server := net.Pipe()
		select {
		case grpcLn.conns <- server:
			return client, nil
		case <-grpcLn.done:
			return nil, net.ErrClosed
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})}
}
